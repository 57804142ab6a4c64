"""/v1/connections/{provider}/...: actions on a connected provider account that need its
tokens ("save and sync", QBT users without a hub match)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from booksync.connections.manager import PROVIDER_NAMES, get_connection
from booksync.engine.outbox import hub_records, resync, setup_qbt
from booksync.errors import Conflict

RuntimeFactory = Callable[[], Any]  # -> booksync.boot.Runtime (kept lazy: cold start)


def make_connection_router(runtime: RuntimeFactory) -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    def tenant() -> str:
        tenant_id: str = router.context["tenant_id"]
        return tenant_id

    def active(provider: str) -> Any:
        conn = get_connection(tenant(), provider)
        if conn.status != "active":
            raise Conflict(f"{PROVIDER_NAMES[provider]} is {conn.status}; connect it first")
        return conn

    @router.post("/v1/connections/<provider>/sync")
    def save_and_sync(provider: str) -> dict[str, Any]:
        """Send everything the settings want; QBT first gets its two custom fields."""
        conn = active(provider)
        rt = runtime()
        fields = None
        if provider == "qbt":
            fields = setup_qbt(rt.session(conn), rt.settings.providers.qbt_api_base)
        result = resync(conn, rt.enqueuer)
        return {"provider": provider, "enqueued": result.enqueued, "custom_fields": fields}

    @router.get("/v1/connections/qbt/unmatched-users")
    def unmatched_qbt_users() -> dict[str, Any]:
        """QBT users with no hub user of the same email, each with the reason."""
        from booksync.providers.qbt.adapters import unmatched_users

        conn = active("qbt")
        rt = runtime()
        users = [r.data for r in hub_records(tenant(), "user")]
        rows = unmatched_users(rt.session(conn), users, api_base=rt.settings.providers.qbt_api_base)
        return {"items": rows}

    return router
