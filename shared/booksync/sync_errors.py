"""Sync error rows: one per failing (connection, record), upserted, listed, resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from booksync.errors import SyncFailure
from booksync.models import SyncErrorRow, utcnow


def error_key(provider: str, kind: str, record_id: str) -> str:
    return f"{provider}#{kind}#{record_id}"


def upsert_error(
    *,
    tenant_id: str,
    provider: str,
    connection_id: str,
    kind: str,
    record_id: str,
    failure: SyncFailure,
    message: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> SyncErrorRow:
    """Record a failure; a repeat of the same (connection, record) counts an attempt."""
    now = now or utcnow()
    key = error_key(provider, kind, record_id)
    try:
        row = SyncErrorRow.get(tenant_id, key)
        row.attempts += 1
    except SyncErrorRow.DoesNotExist:
        row = SyncErrorRow(tenant_id, key, first_seen=now, attempts=1)
    row.provider = provider
    row.connection_id = connection_id
    row.record_kind = kind
    row.record_id = record_id
    row.code = failure.code
    row.title = failure.spec.title
    row.fix = failure.spec.fix
    row.provider_message = failure.provider_message
    row.status = "open"
    row.last_seen = now
    if message is not None:
        row.message = message
    row.save()
    return row


def open_errors(tenant_id: str, provider: str | None = None) -> list[SyncErrorRow]:
    condition = SyncErrorRow.error_key.startswith(f"{provider}#") if provider else None
    return [row for row in SyncErrorRow.query(tenant_id, condition) if row.status == "open"]


def resolve_errors(tenant_id: str, provider: str, code: str) -> int:
    """Mark the open errors of a code resolved (e.g. reauth after a reconnect)."""
    count = 0
    for row in open_errors(tenant_id, provider):
        if row.code == code:
            row.update(
                actions=[SyncErrorRow.status.set("resolved"), SyncErrorRow.last_seen.set(utcnow())]
            )
            count += 1
    return count
