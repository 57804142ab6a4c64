"""Routes of the practice API. Handlers here parse and shape; the rules live in booksync."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body

from booksync import __version__
from booksync.api import ratelimit
from booksync.api.audit_routes import make_audit_router
from booksync.api.auth import authenticate_event, check_method, refusal
from booksync.api.billing_routes import make_billing_router
from booksync.api.connection_routes import make_connection_router
from booksync.api.errors_routes import make_errors_router
from booksync.api.keys_routes import make_keys_router
from booksync.api.matching_routes import make_router as make_matching_router
from booksync.api.problems import from_problem, from_validation, problem_response
from booksync.api.resources import make_router
from booksync.api.time_routes import make_time_router
from booksync.connections import manager as connections
from booksync.errors import Conflict, InvalidInput, Problem, SyncFailure, problem_of
from booksync.hub import importing, records
from booksync.observability import logger
from booksync.providers.registry import settings_schema
from booksync.settings import get_settings

PUBLIC_PATHS = {"/v1/health", "/v1/openapi.json"}
# The provider's settings (GET .../settings shows them); validated against the provider's
# own schema, which names an unknown or wrong field. Malformed JSON is a 400 naming "body".
SettingsBody = Annotated[
    dict[str, Any], Body(description="the provider's settings, as GET .../settings shows them")
]


def _boot_once() -> Callable[[], Any]:
    made: list[Any] = []

    def runtime() -> Any:
        if not made:
            from booksync.boot import REQUEST_SECONDS, boot

            made.append(boot(request_seconds=REQUEST_SECONDS))
        return made[0]

    return runtime


def make_app(
    runtime: Callable[[], Any] | None = None,
    sources: Callable[[str, str], list[Any]] | None = None,
) -> APIGatewayHttpResolver:
    """The practice API; `runtime` gives provider sessions to routes that call providers;
    `sources` (tests) replaces where imports read the provider's contacts."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(Problem)
    def _problem(exc: Problem) -> Response[str]:
        return from_problem(exc)

    @app.exception_handler(SyncFailure)
    def _provider(exc: SyncFailure) -> Response[str]:
        return from_problem(problem_of(exc))

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

    app.include_router(make_keys_router())  # /v1/api-keys, admin scope
    app.include_router(make_audit_router())  # /v1/audit, admin scope

    rt = runtime or _boot_once()
    app.include_router(make_router())
    app.include_router(make_errors_router(lambda: rt().enqueuer))
    app.include_router(make_connection_router(rt))
    app.include_router(make_time_router(rt))
    app.include_router(make_billing_router(rt))

    def provider_contacts(tenant_id: str, provider: str) -> list[Any]:
        conn = connections.get_connection(tenant_id, provider)
        if conn.status != "active":
            raise Conflict(
                f"{connections.PROVIDER_NAMES[provider]} is {conn.status}; connect it first"
            )
        return importing.provider_contacts(rt().session(conn))

    app.include_router(
        make_matching_router(sources or provider_contacts, save_record=records.save_record)
    )

    @app.get("/v1/connections")
    def list_connections() -> dict[str, Any]:
        return {"items": connections.describe(tenant())}

    @app.get("/v1/connections/<provider>/settings")
    def read_settings(provider: str) -> dict[str, Any]:
        conn = connections.get_connection(tenant(), provider)
        return connections.validate_settings(
            provider, conn.settings or {}, settings_schema(provider)
        )

    @app.put("/v1/connections/<provider>/settings")
    def write_settings(provider: str, body: SettingsBody) -> dict[str, Any]:
        connections.check_provider(provider)
        settings = connections.validate_settings(provider, body, settings_schema(provider))
        connections.save_settings(tenant(), provider, settings)
        return settings

    return app


# An id in a path is at most this many bytes: hub ids are UUIDs, error and duplicate ids a
# few of them joined, and any key built from one stays far inside DynamoDB's 1 KB sort key.
MAX_PATH_SEGMENT_BYTES = 200


def check_path(raw_path: str) -> None:
    """400 naming the path for an over-long id, before anything reads DynamoDB with it."""
    for segment in raw_path.split("/"):
        if len(unquote(segment).encode("utf-8", "surrogatepass")) > MAX_PATH_SEGMENT_BYTES:
            raise InvalidInput(
                f"an id in the path is at most {MAX_PATH_SEGMENT_BYTES} bytes", field="path"
            )


def handle(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Authenticate, check the key's scope against the method and its rate limit (all
    before validation, so a stranger learns nothing), then route."""
    app.clear_context()  # type: ignore[no-untyped-call]
    if event.get("rawPath", "") not in PUBLIC_PATHS:
        try:
            check_path(str(event.get("rawPath", "")))
            caller = authenticate_event(event)
            method = str((event.get("requestContext") or {}).get("http", {}).get("method", ""))
            check_method(caller, method)
            settings = get_settings()
            ratelimit.take(
                caller.key_id,
                ratelimit.Limits(settings.api_key_rate_per_second, settings.api_key_burst),
            )
        except Problem as exc:
            return refusal(exc)
        app.append_context(tenant_id=caller.tenant_id, caller=caller)  # type: ignore[no-untyped-call]
        logger.append_keys(tenant_id=caller.tenant_id, key_id=caller.key_id)
    return app.resolve(event, context)
