"""Sync error rows: one per failing (connection, record), upserted, listed, resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from booksync.errors import SyncFailure
from booksync.observability import count
from booksync.store.models import SyncErrorRow, utcnow


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
        opened = row.status != "open"
    except SyncErrorRow.DoesNotExist:
        row = SyncErrorRow(tenant_id, key, first_seen=now, attempts=1)
        opened = True
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
    if opened:  # new, or back after it was resolved: the "errors growing" alarm counts it
        count("SyncErrorsOpened", provider=provider)
    return row


def resolve_synced(tenant_id: str, provider: str, records: list[tuple[str, str]]) -> int:
    """The open or retrying errors of records (kind, id) that have now reached the
    provider are resolved: a person's fix worked, nothing is left to do. One batched read
    per 100 records; a write only for a record that had an error."""
    keys = [(tenant_id, error_key(provider, kind, rid)) for kind, rid in set(records)]
    count = 0
    for row in SyncErrorRow.batch_get(keys):
        if row.status in ("open", "retrying"):
            _resolve(row)
            count += 1
    return count


def get_many(
    tenant_id: str, provider: str, records: list[tuple[str, str]]
) -> dict[str, SyncErrorRow]:
    """record id -> its error row (any status), for (kind, id) pairs: batched key reads."""
    keys = sorted({(tenant_id, error_key(provider, kind, rid)) for kind, rid in records})
    found: dict[str, SyncErrorRow] = {}
    for start in range(0, len(keys), 100):
        for row in SyncErrorRow.batch_get(keys[start : start + 100]):
            found[str(row.record_id)] = row
    return found


def resolve_errors(tenant_id: str, provider: str, code: str) -> int:
    """Mark the open errors of a code resolved (e.g. reauth after a reconnect)."""
    count = 0
    for row in list_errors(tenant_id, provider, status="open"):
        if row.code == code:
            _resolve(row)
            count += 1
    return count


def _resolve(row: SyncErrorRow) -> None:
    row.update(actions=[SyncErrorRow.status.set("resolved"), SyncErrorRow.last_seen.set(utcnow())])


# ---------------------------------------------------------------- operators and firms act


def error_id(row: SyncErrorRow) -> str:
    """A URL-safe id: the row key with ':' for '#'."""
    return str(row.error_key).replace("#", ":")


def get_error(tenant_id: str, error_id_: str) -> SyncErrorRow:
    from booksync.errors import NotFound

    try:
        return SyncErrorRow.get(tenant_id, error_id_.replace(":", "#"))
    except SyncErrorRow.DoesNotExist as exc:
        raise NotFound(f"no sync error {error_id_}") from exc


def list_errors(
    tenant_id: str,
    provider: str | None = None,
    status: str | None = None,
    code: str | None = None,
) -> list[SyncErrorRow]:
    condition = SyncErrorRow.error_key.startswith(f"{provider}#") if provider else None
    rows = []
    for row in SyncErrorRow.query(tenant_id, condition):
        if row.status == "parked":
            continue  # parked messages are not errors; the connection's reauth error says why
        if status and row.status != status:
            continue
        if code and row.code != code:
            continue
        rows.append(row)
    return rows


def set_status(row: SyncErrorRow, status: str) -> SyncErrorRow:
    row.update(actions=[SyncErrorRow.status.set(status), SyncErrorRow.last_seen.set(utcnow())])
    return row


def dismiss(row: SyncErrorRow) -> SyncErrorRow:
    return set_status(row, "dismissed")


def describe(row: SyncErrorRow) -> dict[str, Any]:
    """A sync error as the practice API and the operator CLI show it."""
    return {
        "id": error_id(row),
        "provider": row.provider,
        "code": row.code,
        "title": row.title,
        "what_to_do": row.fix,
        "provider_message": row.provider_message,
        "record": {"kind": row.record_kind, "id": row.record_id},
        "attempts": int(row.attempts),
        "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
        "status": row.status,
    }


# ------------------------------------------------------------------ parked messages


def park(
    tenant_id: str,
    provider: str,
    connection_id: str,
    dedup_id: str,
    kind: str,
    record_id: str,
    message: dict[str, Any],
) -> None:
    """Keep a message that cannot be sent until the firm reconnects."""
    SyncErrorRow(
        tenant_id,
        f"{provider}#parked#{dedup_id}",
        provider=provider,
        connection_id=connection_id,
        record_kind=kind,
        record_id=record_id,
        code="connection.not_active",
        title="Waiting for the connection to be renewed",
        fix="Reconnect the provider; this change is sent then.",
        status="parked",
        message=message,
    ).save()


def take_parked(tenant_id: str, provider: str) -> list[dict[str, Any]]:
    """The parked messages of a connection, removed as they are handed over."""
    out: list[dict[str, Any]] = []
    for row in SyncErrorRow.query(
        tenant_id, SyncErrorRow.error_key.startswith(f"{provider}#parked#")
    ):
        if row.message:
            out.append(dict(row.message))
        row.delete()
    return out


# ------------------------------------------------------------------ bounded reads (API)

PAGE_READ_BUDGET = 1000  # rows one list page may read, however few match its filters


def page_errors(
    tenant_id: str,
    *,
    provider: str | None = None,
    status: str | None = None,
    code: str | None = None,
    limit: int = 50,
    start_after: str | None = None,
) -> tuple[list[SyncErrorRow], str | None]:
    """One page of errors in key order after `start_after` (an error key), reading at
    most PAGE_READ_BUDGET rows: the answer's key says where to go on (None: the end),
    even when the budget ran out before `limit` rows matched."""
    condition = SyncErrorRow.error_key.startswith(f"{provider}#") if provider else None
    start = (
        {"tenant_id": {"S": tenant_id}, "error_key": {"S": start_after}} if start_after else None
    )
    rows = SyncErrorRow.query(
        tenant_id, condition, last_evaluated_key=start, page_size=min(PAGE_READ_BUDGET, 200)
    )
    found: list[SyncErrorRow] = []
    last_key: str | None = None
    for read, row in enumerate(rows, start=1):
        last_key = str(row.error_key)
        listed = row.status != "parked" and (not status or row.status == status)
        if listed and (not code or row.code == code):
            found.append(row)
        if len(found) >= limit or read >= PAGE_READ_BUDGET:
            return found, last_key
    return found, None


def count_open(tenant_id: str, provider: str, cap: int = PAGE_READ_BUDGET) -> tuple[int, bool]:
    """Open errors of a provider, reading at most `cap` rows; (count, True if capped)."""
    rows = SyncErrorRow.query(
        tenant_id,
        SyncErrorRow.error_key.startswith(f"{provider}#"),
        limit=cap,
        attributes_to_get=["error_key", "status"],
    )
    count = read = 0
    for read, row in enumerate(rows, start=1):  # noqa: B007 - read counts the rows
        count += row.status == "open"
    return count, read >= cap
