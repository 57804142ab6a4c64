"""The hourly tick: one reconcile pull per active connection, fanned out to the pull queues."""

from __future__ import annotations

from dataclasses import dataclass, field

from booksync.messages import Pull
from booksync.models import Connection
from booksync.observability import logger
from booksync.queues import Enqueuer


@dataclass
class FanOut:
    enqueued: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def fan_out_reconcile(enqueuer: Enqueuer, tick: str) -> FanOut:
    """Enqueue a reconcile pull for every active connection; `tick` de-duplicates re-fires."""
    result = FanOut()
    for conn in Connection.scan():
        if conn.status != "active":
            result.skipped[conn.connection_id] = conn.status
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
        extra={"enqueued": len(result.enqueued), "skipped": len(result.skipped), "tick": tick},
    )
    return result
