"""The hourly tick, per active connection: keep its grant alive, reconcile what the hub
holds that the provider does not (a push of every record changed since the last tick whose
version is ahead of its link), and read what changed at the provider.

A provider with webhooks (QBO, Xero) is read on every notice; the tick then reads it only
when nothing has for SAFETY_PULL_HOURS, so an idle company costs a few reads a day, not 24,
and a missed webhook is still caught. QuickBooks Time has no webhooks: read every tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from booksync.connections.tokens import TokenService
from booksync.engine.messages import Pull
from booksync.engine.outbox import reconcile_push
from booksync.engine.queues import Enqueuer
from booksync.errors import SyncFailure
from booksync.observability import logger
from booksync.store import Connection, Cursor, cursors, utcnow
from booksync.store import connections as connection_rows

SAFETY_PULL_HOURS = {"qbo": 6, "xero": 6, "qbt": 0}
RECONCILE_FAMILY = "reconcile"


@dataclass
class FanOut:
    enqueued: list[str] = field(default_factory=list)  # connections whose pull was queued
    skipped: dict[str, str] = field(default_factory=dict)
    refreshed: list[str] = field(default_factory=list)
    refresh_failed: dict[str, str] = field(default_factory=dict)
    reconciled: dict[str, int] = field(default_factory=dict)  # records queued per connection


def _due_for_pull(conn: Connection, now: datetime) -> bool:
    hours = SAFETY_PULL_HOURS.get(str(conn.provider), 0)
    last = conn.last_sync_at
    return hours == 0 or last is None or now - last >= timedelta(hours=hours) - timedelta(minutes=5)


def reconcile(conn: Connection, enqueuer: Enqueuer, now: datetime) -> int:
    """Push what changed in the hub since the last tick and is not at the provider."""
    mark = cursors.get_or_new(str(conn.connection_id), RECONCILE_FAMILY)
    since = datetime.fromisoformat(mark.position) if mark.position else conn.connected_at
    queued = reconcile_push(conn, enqueuer, since=since or now)
    cursors.save(Cursor(str(conn.connection_id), RECONCILE_FAMILY, position=now.isoformat()))
    return sum(queued.kinds.values())


POLL_RULE_SUFFIX = "-qbt-poll"


def is_qbt_poll(rule_arns: list[str]) -> bool:
    """Did the QuickBooks Time poll's rule fire this event (not the hourly tick's)?"""
    return any(arn.endswith(POLL_RULE_SUFFIX) for arn in rule_arns)


def poll_qbt(enqueuer: Enqueuer, tick: str) -> list[str]:
    """Queue a pull of every active QuickBooks Time connection (it sends no webhooks):
    each pull asks last_modified_timestamps first, so an idle account costs one call."""
    queued: list[str] = []
    for conn in connection_rows.every():
        if conn.provider != "qbt" or conn.status != "active":
            continue
        enqueuer.send(
            Pull(
                tenant_id=conn.tenant_id,
                connection_id=conn.connection_id,
                provider="qbt",
                reason="reconcile",
                trigger=tick,
            )
        )
        queued.append(conn.connection_id)
    logger.info("QuickBooks Time polled", extra={"pulls_queued": len(queued), "tick": tick})
    return queued


def fan_out_reconcile(
    enqueuer: Enqueuer,
    tick: str,
    tokens: TokenService | None = None,
    now: datetime | None = None,
) -> FanOut:
    """For every active connection: refresh a grant idle for a day (so none reaches an
    idle limit: QBO 100 days, Xero 60), reconcile pushes, and queue a pull when due.
    `tick` de-duplicates a re-fired schedule; `now` is the tick's own time (the
    EventBridge event's), so a late or replayed tick decides as of when it was due."""
    result = FanOut()
    now = now or utcnow()
    for conn in connection_rows.every():
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
        result.reconciled[conn.connection_id] = reconcile(conn, enqueuer, now)
        if not _due_for_pull(conn, now):
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
            "reconciled": sum(result.reconciled.values()),
            "tick": tick,
        },
    )
    return result
