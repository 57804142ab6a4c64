"""Hub records in DynamoDB: every read and write of the Records table, each written once.

Reads of the hot path go by key (GetItem, BatchGetItem). A list reads the tenant's
records of one kind in key order in bounded pages; "records of a kind whose field has a
value" goes through the sparse `by_ref` index, and "what changed since" through
`by_updated`. The rules of what may be written live in hub/records.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from booksync.store.models import Record

LIVE = (Record.deleted == 0) | Record.deleted.does_not_exist()
BATCH_GET = 100  # BatchGetItem's most keys per call


class AlreadyExists(Exception):
    """A record with this key exists (deleted ones included)."""


def key(kind: str, record_id: str) -> str:
    return Record.key(kind, record_id)


def ref_key(kind: str, value: Any) -> str | None:
    """The `by_ref` index key of a record whose indexed field holds `value`."""
    if value in (None, ""):
        return None
    return f"{kind}#{str(value).casefold()}"


def date_key(kind: str, value: Any) -> str | None:
    """The `by_date` index key of a record whose dated field holds `value` (a date)."""
    if value in (None, ""):
        return None
    return f"{kind}#{str(value)[:10]}"


def get(tenant_id: str, kind: str, record_id: str, *, consistent: bool = True) -> Record | None:
    try:
        return Record.get(tenant_id, key(kind, record_id), consistent_read=consistent)
    except Record.DoesNotExist:
        return None


def get_many(
    tenant_id: str, refs: Iterable[tuple[str, str]], *, consistent: bool = True
) -> dict[str, Record]:
    """(kind, id) pairs -> {record_key: record}, in batched reads; missing ones are absent."""
    keys = sorted({key(kind, rid) for kind, rid in refs})
    return get_keys(tenant_id, keys, consistent=consistent)


def get_keys(tenant_id: str, keys: Iterable[str], *, consistent: bool = True) -> dict[str, Record]:
    wanted = sorted(set(keys))
    found: dict[str, Record] = {}
    for start in range(0, len(wanted), BATCH_GET):
        part = [(tenant_id, k) for k in wanted[start : start + BATCH_GET]]
        for record in Record.batch_get(part, consistent_read=consistent):
            found[str(record.record_key)] = record
    return found


def insert(record: Record) -> None:
    """Write a new record; AlreadyExists if its key is taken."""
    try:
        record.save(condition=Record.record_key.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise AlreadyExists(str(record.record_key)) from exc
        raise


def commit(
    record: Record,
    *,
    version: int,
    origin: str,
    at: datetime,
    history: list[dict[str, Any]],
    data: dict[str, Any] | None = None,
    delete: bool = False,
    ref: str | None = None,
    dated: str | None = None,
) -> bool:
    """Write `version` if the stored record is still live at `record.version`; False if
    someone wrote since it was read."""
    actions: list[Action] = [
        Record.version.set(version),
        Record.origin.set(origin),
        Record.updated_at.set(at),
        Record.history.set(history),
    ]
    if data is not None:
        actions.append(Record.data.set(data))
        actions.append(Record.ref_key.set(ref) if ref else Record.ref_key.remove())
        actions.append(Record.date_key.set(dated) if dated else Record.date_key.remove())
    if delete:
        actions.append(Record.deleted.set(1))
    try:
        record.update(
            actions=actions,
            condition=(Record.version == int(record.version)) & LIVE,
            add_version_condition=False,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def claim(
    tenant_id: str, kind: str, record_id: str, owner: str, *, replacing: str | None = None
) -> str:
    """A single-use mark on a hub record (a time entry billed on one invoice): a row of
    `kind` keyed by the record's id, naming its `owner`, written only if no mark is held,
    or (`replacing`) if the held one still names that owner. Returns the owner the mark
    names now: `owner` when ours, else who holds it. The marks of one owner are found by
    the `by_ref` index (`keys_by_ref(tenant_id, kind, owner)`)."""
    row = Record(
        tenant_id,
        key(kind, record_id),
        kind=kind,
        record_id=record_id,
        origin="practice",
        data={"owner": owner},
        ref_key=ref_key(kind, owner),
    )
    wanted = ref_key(kind, replacing)
    condition = Record.record_key.does_not_exist() if wanted is None else Record.ref_key == wanted
    try:
        row.save(condition=condition)
    except PutError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        held = get(tenant_id, kind, record_id)
        return str((held.data or {}).get("owner")) if held is not None else ""
    return owner


def set_history(record: Record, history: list[dict[str, Any]]) -> None:
    """Note something in a record's history without a new version (a provider's edit
    that lost to a later one in the hub)."""
    record.update(actions=[Record.history.set(history)])


def replace_if_version(record: Record, data: dict[str, Any], at: datetime) -> bool:
    """A bookkeeping row (a duplicate review) takes new data at the next version, if
    nobody changed it since it was read."""
    version = int(record.version)
    try:
        record.update(
            actions=[
                Record.data.set(data),
                Record.version.set(version + 1),
                Record.updated_at.set(at),
            ],
            condition=Record.version == version,
            add_version_condition=False,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def put(record: Record) -> None:
    """Write a bookkeeping row as it is (review rows; not hub content)."""
    record.save()


def scan_kind(
    tenant_id: str,
    kind: str,
    *,
    start_after: str | None = None,
    live_only: bool = True,
    origin: str | None = None,
    consistent: bool = False,
    page_size: int = 100,
) -> Iterator[Record]:
    """The tenant's records of a kind in key order, after `start_after` (a record key).
    The caller stops when it has enough: a list page reads at most its budget."""
    condition = LIVE if live_only else None
    if origin is not None:
        by_origin = Record.origin == origin
        condition = (condition & by_origin) if condition is not None else by_origin
    return iter(
        Record.query(
            tenant_id,
            Record.record_key.startswith(f"{kind}#"),
            filter_condition=condition,
            last_evaluated_key=(
                {"tenant_id": {"S": tenant_id}, "record_key": {"S": start_after}}
                if start_after
                else None
            ),
            consistent_read=consistent,
            page_size=page_size,
        )
    )


def all_of_kind(tenant_id: str, kind: str, *, live_only: bool = True) -> list[Record]:
    """Every record of a kind: for whole-firm work (an import's plan, save and sync, a
    full reconcile), never for one record's path."""
    return list(scan_kind(tenant_id, kind, live_only=live_only, page_size=500))


def keys_by_ref(tenant_id: str, kind: str, value: Any, limit: int | None = None) -> list[str]:
    """Record keys of `kind` whose indexed field holds `value` (any case), by index."""
    wanted = ref_key(kind, value)
    if wanted is None:
        return []
    rows = Record.by_ref.query(tenant_id, Record.ref_key == wanted, limit=limit)
    return [str(r.record_key) for r in rows]


def keys_between(tenant_id: str, kind: str, first: str | None, last: str | None) -> list[str]:
    """Record keys of a dated kind whose date is within [first, last] (either open), by
    index (eventually consistent), in date order."""
    low = f"{kind}#{first or ''}"
    high = f"{kind}#{last or '9999-12-31'}"
    rows = Record.by_date.query(tenant_id, Record.date_key.between(low, high))
    return [str(r.record_key) for r in rows]


def keys_changed_since(tenant_id: str, since: datetime) -> list[str]:
    """Keys of the tenant's records changed at or after `since` (eventually consistent)."""
    rows = Record.by_updated.query(tenant_id, Record.updated_at >= since)
    return [str(r.record_key) for r in rows]
