"""The hourly tick: one reconcile pull per active connection, fanned out to the pull queues."""

from __future__ import annotations

from dataclasses import dataclass, field

from booksync.connections.tokens import TokenService
from booksync.engine.messages import Pull
from booksync.engine.queues import Enqueuer
from booksync.errors import SyncFailure
from booksync.observability import logger
from booksync.store.models import Connection


@dataclass
class FanOut:
    enqueued: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    refreshed: list[str] = field(default_factory=list)
    refresh_failed: dict[str, str] = field(default_factory=dict)


def fan_out_reconcile(enqueuer: Enqueuer, tick: str, tokens: TokenService | None = None) -> FanOut:
    """Enqueue a reconcile pull for every active connection (`tick` de-duplicates a
    re-fired schedule) and refresh grants idle for a day, so none reaches an idle limit
    (QBO 100 days, Xero 60 days) or QBT's token lifetime."""
    result = FanOut()
    for conn in Connection.scan():
        if conn.status != "active":
            result.skipped[conn.connection_id] = conn.status
            continue
        if tokens is not None:
            try:
                if tokens.keepalive(conn):
                    result.refreshed.append(conn.connection_id)
            except SyncFailure as failure:  # needs_reauth is recorded by the token service
                result.refresh_failed[conn.connection_id] = failure.code
                continue
        enqueuer.send(
            Pull(
                tenant_id=conn.tenant_id,
                connection_id=conn.connection_id,
                provider=conn.provider,  # type: ignore[arg-type]
                reason="reconcile",
                trigger=tick,
            )
        )
        result.enqueued.append(conn.connection_id)
    logger.info(
        "reconcile fanned out",
        extra={
            "enqueued": len(result.enqueued),
            "skipped": len(result.skipped),
            "refreshed": len(result.refreshed),
            "refresh_failed": result.refresh_failed,
            "tick": tick,
        },
    )
    return result
