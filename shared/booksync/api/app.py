"""Routes of the practice API. Handlers here parse and shape; the rules live in booksync."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from booksync import __version__
from booksync.api.problems import from_problem, from_validation, problem_response
from booksync.errors import Problem, Unauthorized
from booksync.models import Record
from booksync.observability import logger
from booksync.records import create_record, get_record, list_records
from booksync.tenants import tenant_for_key

PUBLIC_PATHS = {"/v1/health", "/v1/openapi.json"}


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=255)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ContactOut(BaseModel):
    id: str
    version: int
    name: str
    email: str | None = None
    origin: str
    updated_at: str


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


def _contact(record: Record) -> ContactOut:
    return ContactOut(
        id=record.record_id,
        version=int(record.version),
        name=record.data.get("name", ""),
        email=record.data.get("email"),
        origin=record.origin,
        updated_at=record.updated_at.isoformat(),
    )


def make_app() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(Problem)
    def _problem(exc: Problem) -> Response[str]:
        return from_problem(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        return from_validation(exc)

    @app.not_found
    def _not_found(_exc: Exception) -> Response[str]:
        path = app.current_event.path
        return problem_response(404, "Not found", f"no route {path}", "not-found")

    def tenant() -> str:
        tenant_id: str = app.context["tenant_id"]
        return tenant_id

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/v1/openapi.json")
    def openapi() -> Response[str]:
        return Response(
            status_code=200,
            content_type="application/json",
            body=app.get_openapi_json_schema(title="booksync practice API", version=__version__),
        )

    @app.post("/v1/contacts")
    def create_contact(contact: ContactIn) -> Response[str]:
        record = create_record(tenant(), "contact", contact.model_dump(exclude_none=True))
        logger.info("contact created", extra={"record_id": record.record_id})
        out = _contact(record)
        return Response(
            status_code=201,
            content_type="application/json",
            body=out.model_dump_json(),
            headers={"Location": f"/v1/contacts/{out.id}", "ETag": f'"{out.version}"'},
        )

    @app.get("/v1/contacts/<contact_id>")
    def read_contact(contact_id: str) -> Response[str]:
        out = _contact(get_record(tenant(), "contact", contact_id))
        return Response(
            status_code=200,
            content_type="application/json",
            body=out.model_dump_json(),
            headers={"ETag": f'"{out.version}"'},
        )

    @app.get("/v1/contacts")
    def list_contacts(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> ContactPage:
        records, next_cursor = list_records(tenant(), "contact", limit=limit, cursor=cursor)
        return ContactPage(items=[_contact(r) for r in records], next_cursor=next_cursor)

    return app


def handle(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Authenticate (before validation, so a stranger learns nothing), then route."""
    app.clear_context()  # type: ignore[no-untyped-call]
    path = event.get("rawPath", "")
    if path not in PUBLIC_PATHS:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        try:
            tenant_id = tenant_for_key(headers.get("authorization"))
        except Unauthorized as exc:
            response = from_problem(exc)
            return {
                "statusCode": response.status_code,
                "headers": {
                    "Content-Type": response.headers.get(
                        "Content-Type", "application/problem+json"
                    ),
                    "WWW-Authenticate": 'Bearer realm="booksync"',
                },
                "body": response.body,
            }
        app.append_context(tenant_id=tenant_id)  # type: ignore[no-untyped-call]
        logger.append_keys(tenant_id=tenant_id)
    return app.resolve(event, context)
