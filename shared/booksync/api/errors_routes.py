"""/v1/sync-errors: what failed, in words a bookkeeper can act on; retry and dismiss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from booksync.engine.queues import Enqueuer
from booksync.engine.retry import retry, retry_all
from booksync.store.sync_errors import describe as error_view
from booksync.store.sync_errors import dismiss, get_error, list_errors


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
    ) -> dict[str, Any]:
        rows = list_errors(tenant(), provider, status, code)
        return {"items": [error_view(r) for r in rows]}

    @router.post("/v1/sync-errors/retry-all")
    def retry_every_error() -> dict[str, Any]:
        return {"retried": retry_all(tenant(), enqueuer())}

    @router.get("/v1/sync-errors/<error>")
    def show(error: str) -> dict[str, Any]:
        return error_view(get_error(tenant(), error))

    @router.post("/v1/sync-errors/<error>/retry")
    def retry_one(error: str) -> dict[str, Any]:
        return error_view(retry(tenant(), get_error(tenant(), error), enqueuer()))

    @router.post("/v1/sync-errors/<error>/dismiss")
    def dismiss_one(error: str) -> dict[str, Any]:
        return error_view(dismiss(get_error(tenant(), error)))

    return router
