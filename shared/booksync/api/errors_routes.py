"""/v1/sync-errors: what failed, in words a bookkeeper can act on; retry and dismiss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from booksync.api.auth import require
from booksync.api.paging import decode_cursor, encode_cursor
from booksync.engine.queues import Enqueuer
from booksync.engine.retry import retry, retry_all
from booksync.store import audit
from booksync.store.sync_errors import describe as error_view
from booksync.store.sync_errors import dismiss, get_error, page_errors

# "<provider>:<kind>:<record id>"
ErrorId = Annotated[str, Path(min_length=1, max_length=200, description="the sync error's id")]


def make_errors_router(enqueuer: Callable[[], Enqueuer]) -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    def tenant() -> str:
        tenant_id: str = router.context["tenant_id"]
        return tenant_id

    @router.get("/v1/sync-errors")
    def list_sync_errors(
        provider: Annotated[str | None, Query(pattern="^(qbo|qbt|xero)$")] = None,
        status: Annotated[str | None, Query(pattern="^(open|retrying|dismissed|resolved)$")] = None,
        code: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:
        rows, last = page_errors(
            tenant(),
            provider=provider,
            status=status,
            code=code,
            limit=limit,
            start_after=decode_cursor(cursor) if cursor else None,
        )
        return {
            "items": [error_view(r) for r in rows],
            "next_cursor": encode_cursor(last) if last else None,
        }

    @router.post("/v1/sync-errors/retry-all")
    def retry_every_error() -> dict[str, Any]:
        caller = require(router, "admin")
        retried = retry_all(tenant(), enqueuer())
        audit.record(tenant(), caller.key_id, "sync_errors.retry_all", retried=retried)
        return {"retried": retried}

    @router.get("/v1/sync-errors/<error>")
    def show(error: ErrorId) -> dict[str, Any]:
        return error_view(get_error(tenant(), error))

    @router.post("/v1/sync-errors/<error>/retry")
    def retry_one(error: ErrorId) -> dict[str, Any]:
        return error_view(retry(tenant(), get_error(tenant(), error), enqueuer()))

    @router.post("/v1/sync-errors/<error>/dismiss")
    def dismiss_one(error: ErrorId) -> dict[str, Any]:
        return error_view(dismiss(get_error(tenant(), error)))

    return router
