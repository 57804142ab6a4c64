"""Routes of contact import, match preview, duplicates review and links (practice API).

The provider side comes in through `sources(tenant_id, provider)`, wired by the caller to
the QBO and Xero clients; these handlers only parse and shape (logic: booksync.hub.importing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from booksync.api.auth import caller_of, require
from booksync.api.paging import decode_cursor, encode_cursor
from booksync.errors import InvalidInput, NotFound
from booksync.hub import importing as importer
from booksync.hub import records, review
from booksync.hub.importing import IMPORT_PROVIDERS, ProviderContact, SaveRecord
from booksync.hub.links_view import list_links as links_page
from booksync.observability import logger
from booksync.providers.registry import PROVIDERS
from booksync.store import audit, links
from booksync.store import records as store_records
from booksync.store.sync_errors import PAGE_READ_BUDGET

Sources = Callable[[str, str], list[ProviderContact]]
DuplicateId = Annotated[str, Path(min_length=1, max_length=200, description="<provider>:<id>")]
HubId = Annotated[str, Path(min_length=1, max_length=128, description="the hub record's id")]
Kind = Annotated[str, Path(pattern="^[a-z_]{1,32}$", description="the record kind")]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal["link", "import_as_new", "ignore"]
    hub_id: str | None = Field(default=None, min_length=1, max_length=64)


def _import_provider(provider: str) -> str:
    if provider not in IMPORT_PROVIDERS:
        raise NotFound(f"booksync imports contacts from qbo and xero, not {provider!r}")
    return provider


def make_router(sources: Sources, save_record: SaveRecord = records.save_record) -> Router:
    """The routes. What an import creates reaches the tenant's other connections through
    the Records stream, like any other write."""
    router = Router()  # type: ignore[no-untyped-call]

    def tenant() -> str:
        tenant_id: str = router.context["tenant_id"]
        return tenant_id

    @router.post("/v1/connections/<provider>/import")
    def run_import(provider: str) -> dict[str, Any]:
        _import_provider(provider)
        tenant_id = tenant()
        items = sources(tenant_id, provider)
        company_id, settings = importer.connection_settings(tenant_id, provider)
        result = importer.run_import(
            tenant_id,
            provider,
            items,
            str(settings.get("import_contact_type") or "Client"),
            save_record,
            company_id=company_id,
        )
        answer = result.as_dict()
        counts = {f"import_{k}": v for k, v in answer.items() if k not in ("provider", "failed")}
        logger.info("contacts imported", extra={"provider": provider, **counts})
        return answer

    @router.get("/v1/connections/<provider>/match-preview")
    def match_preview(provider: str) -> dict[str, Any]:
        _import_provider(provider)
        tenant_id = tenant()
        return importer.preview(tenant_id, provider, sources(tenant_id, provider)).as_dict()

    @router.get("/v1/duplicates")
    def list_duplicates(
        provider: Annotated[str | None, Query(pattern="^(qbo|xero)$")] = None,
        status: Annotated[str | None, Query(pattern="^(open|resolved|ignored)$")] = None,
        kind: Annotated[str | None, Query(pattern="^(contact|user)$")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:
        """Possible duplicates: provider contacts (and staff: kind=user) a person decides
        on; a page reads at most PAGE_READ_BUDGET rows, and next_cursor goes on."""
        prefix = f"{importer.DUPLICATE_KIND}#"
        start = decode_cursor(cursor, prefix) if cursor else None
        rows = store_records.scan_kind(
            tenant(), importer.DUPLICATE_KIND, start_after=start, live_only=False
        )
        items: list[dict[str, Any]] = []
        last = None
        for read, row in enumerate(rows, start=1):
            last = str(row.record_key)
            wanted = (provider is None or last.startswith(f"{prefix}{provider}#")) and (
                kind is None or (row.data or {}).get("kind", "contact") == kind
            )
            view = importer.duplicate_view(row) if wanted else None
            if view is not None and (status is None or view["status"] == status):
                items.append(view)
            if len(items) >= limit or read >= PAGE_READ_BUDGET:
                return {"items": items, "next_cursor": encode_cursor(last)}
        return {"items": items, "next_cursor": None}

    @router.get("/v1/duplicates/<duplicate_id>")
    def read_duplicate(duplicate_id: DuplicateId) -> dict[str, Any]:
        return importer.duplicate_view(importer.get_duplicate(tenant(), duplicate_id))

    @router.post("/v1/duplicates/<duplicate_id>/resolve")
    def resolve(duplicate_id: DuplicateId, body: ResolveIn) -> dict[str, Any]:
        if body.action == "link" and not body.hub_id:
            raise InvalidInput("linking needs the hub_id of one of the candidates", field="hub_id")
        row = review.resolve_duplicate(
            tenant(), duplicate_id, body.action, save_record=save_record, hub_id=body.hub_id
        )
        logger.info("duplicate resolved", extra={"duplicate": duplicate_id, "action": body.action})
        audit.record(
            tenant(),
            caller_of(router).key_id,
            "duplicate.resolve",
            duplicate_id=duplicate_id,
            resolution=body.action,
            hub_id=body.hub_id,
        )
        return importer.duplicate_view(row)

    @router.get("/v1/links")
    def list_links(
        provider: Annotated[str | None, Query(pattern="^(qbo|qbt|xero)$")] = None,
        kind: Annotated[str | None, Query(pattern="^[a-z_]{1,32}$")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=2048)] = None,
    ) -> dict[str, Any]:
        providers = [provider] if provider else list(PROVIDERS)
        items, next_cursor = links_page(tenant(), providers, kind, limit, cursor)
        return {"items": items, "next_cursor": next_cursor}

    @router.delete("/v1/links/<provider>/<kind>/<hub_id>")
    def remove_link(provider: str, kind: Kind, hub_id: HubId) -> Response[str]:
        caller = require(router, "admin")
        if provider not in PROVIDERS:
            raise NotFound(f"unknown provider {provider!r}")
        if not links.remove_link(tenant(), provider, kind, hub_id):
            raise NotFound(f"no {provider} link for {kind} {hub_id}")
        logger.info("link removed", extra={"provider": provider, "kind": kind, "hub_id": hub_id})
        audit.record(
            tenant(), caller.key_id, "link.remove", provider=provider, kind=kind, hub_id=hub_id
        )
        return Response(status_code=204, body="")

    return router
