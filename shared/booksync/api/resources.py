"""Practice API for hub records: /v1/contacts, /v1/work-items, /v1/users, /v1/contact-types.

Each resource: POST (201, Location, ETag), GET one (ETag), PUT (full) and PATCH (partial)
and DELETE with `If-Match: "<version>"` (missing: 428; stale: 412 naming the current
version), GET list (cursor pages, filters), GET history. After every write the record
is fanned out to the connections that want it.

No `from __future__ import annotations` here: Powertools reads the handlers' annotations
at run time to validate requests and to write /v1/openapi.json.
"""

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from pydantic import BaseModel, ConfigDict, Field, create_model

from booksync.api.problems import problem_response
from booksync.errors import InvalidInput, Problem
from booksync.hub import records
from booksync.hub.entities import ENTITIES
from booksync.hub.entity import Entity
from booksync.observability import logger
from booksync.store import Record


class PreconditionRequired(Problem):
    status = 428
    title = "Precondition required"
    type_suffix = "precondition-required"


# ---------------------------------------------------------------------------- models


class _Stored(BaseModel):
    """What the hub adds to every record's content."""

    id: str
    version: int
    origin: str
    created_at: str
    updated_at: str


class ProblemDetail(BaseModel):
    """application/problem+json (RFC 9457), as api/problems.py writes it."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    current_version: int | None = None  # 412: the version to send in If-Match


class HistoryEntry(BaseModel):
    """One change: the version it made, who made it, when, and the fields' old values.
    Other keys are kept as written (the sync engine notes a provider edit that lost)."""

    model_config = ConfigDict(extra="allow")

    version: int
    origin: str
    at: str
    previous: dict[str, Any] = Field(default_factory=dict)


class History(BaseModel):
    items: list[HistoryEntry]


def _partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """`model` with every field optional and no defaults: a PATCH body (unset: unchanged).
    Each field keeps its constraints; the merged record is validated in full again."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        fields[field_name] = (Optional[info.annotation], optional)  # noqa: UP045
    config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    patch: type[BaseModel] = create_model(name, __config__=config, **fields)
    return patch


@dataclass(frozen=True)
class Resource:
    """The practice-API face of a hub kind, made from its declaration (hub/entity.py)."""

    entity: Entity
    out: type[_Stored]
    page: type[BaseModel]
    patch: type[BaseModel]

    @property
    def path(self) -> str:
        return str(self.entity.path)

    @property
    def kind(self) -> str:
        return self.entity.kind

    @property
    def label(self) -> str:
        return self.entity.name

    @property
    def model(self) -> type[BaseModel]:
        return self.entity.model


def resource(entity: Entity) -> Resource:
    model = entity.model
    bases: Any = (model, _Stored)
    shown: dict[str, Any] = dict(entity.view_fields)
    out: Any = create_model(f"{model.__name__}Out", __base__=bases, **shown)
    page: type[BaseModel] = create_model(
        f"{model.__name__}Page", items=(list[out], ...), next_cursor=(str | None, ...)
    )
    return Resource(entity, out, page, _partial(model, f"{model.__name__}Patch"))


RESOURCES = tuple(resource(e) for e in ENTITIES.values() if e.path)


def view(resource: Resource, record: Record, extra: dict[str, Any] | None = None) -> _Stored:
    """The record as the API shows it; `extra`: its annotations (hub/entity.py), read for
    it alone when not given."""
    if extra is None:
        extra = records.annotations_of(record.tenant_id, resource.kind, [record]).get(
            str(record.record_id), {}
        )
    return resource.out.model_validate(
        {
            **record.data,
            **extra,
            "id": record.record_id,
            "version": int(record.version),
            "origin": record.origin,
            "created_at": record.created_at.isoformat(),
            "updated_at": record.updated_at.isoformat(),
        }
    )


def _json(status: int, body: BaseModel, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=body.model_dump_json(),
        headers=headers or {},
    )


def etag(record: Record) -> str:
    return f'"{int(record.version)}"'


def expected_version(if_match: str | None, current: Callable[[], Record]) -> int:
    """The version an `If-Match` names; `*` names whatever is current (RFC 9110 13.1.1)."""
    value = (if_match or "").strip()
    if not value:
        raise PreconditionRequired(
            'send If-Match: "<version>" with the ETag you read, so a change made by someone '
            "else since is not overwritten",
            field="If-Match",
        )
    if value == "*":
        return int(current().version)
    tag = value.removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise InvalidInput(
            f'If-Match must be an ETag this API gave out, like "3"; got {value}', field="If-Match"
        )
    return int(tag)


# ---------------------------------------------------------------------------- router


def make_router() -> Router:
    """Every declared kind's routes. A write is the whole of the API's part: the Records
    table's stream queues it for every connection that wants it (engine/outbox.py)."""
    router = Router()  # type: ignore[no-untyped-call]

    @router.exception_handler(records.VersionMismatch)
    def _stale(exc: records.VersionMismatch) -> Response[str]:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            exc.type_suffix,
            field="If-Match",
            headers={"ETag": f'"{exc.current_version}"'},
            current_version=exc.current_version,
        )

    def tenant() -> str:
        tenant_id: str = router.context["tenant_id"]
        return tenant_id

    def written(record: Record, action: str) -> None:
        logger.info(
            f"{record.kind} {action}",
            extra={"record_id": record.record_id, "version": int(record.version)},
        )

    for res in RESOURCES:
        _crud(router, res, tenant, written)
        _list(router, res, tenant)
    return router


def _typed(func: Callable[..., Any], **annotations: Any) -> Callable[..., Any]:
    """Give a handler made in a loop the body model Powertools validates and documents."""
    func.__annotations__.update(annotations)
    return func


IfMatch = Annotated[
    str | None,
    Header(description='The ETag you read, e.g. "3". Required: 428 without it, 412 if stale.'),
]


def _crud(
    router: Router,
    res: Resource,
    tenant: Callable[[], str],
    written: Callable[[Record, str], None],
) -> None:
    one = f"/v1/{res.path}/<record_id>"
    ok: dict[str, Any] = {
        "description": f"the {res.label}",
        "content": {"application/json": {"model": res.out}},
    }
    problem: dict[str, Any] = {
        "description": "a problem naming the field at fault",
        "content": {"application/problem+json": {"model": ProblemDetail}},
    }
    refusals: dict[int, Any] = {code: problem for code in (400, 404, 409, 412, 428)}
    writes: dict[int, Any] = {200: ok, **refusals}
    created: dict[int, Any] = {201: {**ok, "description": f"the new {res.label}"}, **refusals}
    read_ok: dict[int, Any] = {200: ok, 404: problem}
    deleted: dict[int, Any] = {204: {"description": "deleted"}, **refusals}

    def current(record_id: str) -> Callable[[], Record]:
        return lambda: records.get_record(tenant(), res.kind, record_id)

    def save(record_id: str | None, content: dict[str, Any], expected: int | None) -> Record:
        content = records.check_references(tenant(), res.kind, record_id, content)
        if record_id is None:
            return records.create_record(tenant(), res.kind, content)
        return records.update_record(
            tenant(), res.kind, record_id, content, origin="practice", expected_version=expected
        )

    def create(body: BaseModel) -> Response[str]:
        record = save(None, body.model_dump(mode="json"), None)
        written(record, "created")
        return _json(
            201,
            view(res, record),
            {"Location": f"/v1/{res.path}/{record.record_id}", "ETag": etag(record)},
        )

    def read(record_id: str) -> Response[str]:
        record = records.get_record(tenant(), res.kind, record_id)
        return _json(200, view(res, record), {"ETag": etag(record)})

    def replace(record_id: str, body: BaseModel, if_match: IfMatch = None) -> Response[str]:
        expected = expected_version(if_match, current(record_id))
        record = save(record_id, body.model_dump(mode="json"), expected)
        if int(record.version) != expected:
            written(record, "replaced")
        return _json(200, view(res, record), {"ETag": etag(record)})

    def patch(record_id: str, body: BaseModel, if_match: IfMatch = None) -> Response[str]:
        expected = expected_version(if_match, current(record_id))
        stored = records.get_record(tenant(), res.kind, record_id)
        if int(stored.version) != expected:
            raise records.VersionMismatch(res.kind, record_id, expected, int(stored.version))
        merged = {**stored.data, **body.model_dump(mode="json", exclude_unset=True)}
        record = save(record_id, records.validate_content(res.kind, merged), expected)
        if int(record.version) != expected:
            written(record, "changed")
        return _json(200, view(res, record), {"ETag": etag(record)})

    def delete(record_id: str, if_match: IfMatch = None) -> Response[str]:
        expected = expected_version(if_match, current(record_id))
        records.check_deletable(tenant(), records.get_record(tenant(), res.kind, record_id))
        record = records.delete_record(
            tenant(), res.kind, record_id, origin="practice", expected_version=expected
        )
        written(record, "deleted")
        return Response(status_code=204, body="", headers={"ETag": etag(record)})

    def history(record_id: str) -> History:
        record = records.get_record(tenant(), res.kind, record_id)
        return History.model_validate({"items": record.history or []})

    label, tags = res.label, [res.path]
    router.post(
        f"/v1/{res.path}",
        summary=f"Create a {label}",
        tags=tags,
        responses=created,
    )(_typed(create, body=res.model))
    router.get(one, summary=f"Read a {label}", tags=tags, responses=read_ok)(read)
    router.put(one, summary=f"Replace a {label}", tags=tags, responses=writes)(
        _typed(replace, body=res.model)
    )
    router.patch(one, summary=f"Change some fields of a {label}", tags=tags, responses=writes)(
        _typed(patch, body=res.patch)
    )
    router.delete(
        one,
        summary=f"Delete a {label}",
        tags=tags,
        responses=deleted,
    )(delete)
    router.get(f"{one}/history", summary=f"The last changes of a {label}", tags=tags)(history)


Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(max_length=2048, description="next_cursor of the last page")]


Origin = Annotated[
    str | None,
    Query(
        pattern="^(practice|qbo|qbt|xero)$",
        description="where the record was created: practice, or imported from",
    ),
]


def _list(router: Router, res: Resource, tenant: Callable[[], str]) -> None:
    """GET /v1/<path>: cursor pages, and the declaration's filters as query parameters."""
    names = [f.name for f in res.entity.filters]

    def list_records(**params: Any) -> Any:
        if res.entity.before_list is not None:
            res.entity.before_list(tenant())
        filters = {name: params.get(name) for name in names}
        found, next_cursor = records.list_records(
            tenant(),
            res.kind,
            limit=params["limit"],
            cursor=params.get("cursor"),
            filters=filters,
            origin=params.get("origin"),
        )
        extra = records.annotations_of(tenant(), res.kind, found)
        return res.page.model_validate(
            {
                "items": [view(res, r, extra.get(str(r.record_id), {})) for r in found],
                "next_cursor": next_cursor,
            }
        )

    parameters = [
        inspect.Parameter("limit", inspect.Parameter.KEYWORD_ONLY, default=50, annotation=Limit),
        inspect.Parameter(
            "cursor", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Cursor
        ),
        *(
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=f.annotation
            )
            for f in res.entity.filters
        ),
        inspect.Parameter(
            "origin", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Origin
        ),
    ]
    list_records.__signature__ = inspect.Signature(parameters, return_annotation=res.page)  # type: ignore[attr-defined]
    list_records.__annotations__ = {
        **{p.name: p.annotation for p in parameters},
        "return": res.page,
    }
    list_records.__name__ = f"list_{res.kind}s"
    router.get(f"/v1/{res.path}", summary=f"List {res.label}s", tags=[res.path])(list_records)
