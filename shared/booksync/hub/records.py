"""Hub records: create, read, update, soft-delete, list; every change bumps `version`.

The write is the truth: a committed change reaches the Records table's stream, whose
fan-out (engine/outbox.py) queues it for every connection that wants it; nothing here
enqueues. Writes are conditional on `version`, so of two writers that read the same
version only one wins; the other gets `VersionMismatch` (an expected version was given)
or re-reads and re-applies (a pull, which carries no expected version).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from booksync.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from booksync.hub.entities import entity
from booksync.hub.entity import first_version
from booksync.store import Record, utcnow
from booksync.store import records as store

ORIGINS = ("practice", "qbo", "qbt", "xero")
HISTORY_KEEP = 20
_WRITE_ATTEMPTS = 5  # re-reads allowed to a writer without an expected version
# a filtered list page reads at most this many records before it answers with what it
# found and a cursor to go on: a request never reads a firm's whole partition
LIST_READ_BUDGET = 1000


class VersionMismatch(PreconditionFailed):
    """The caller's expected version is not the record's current one (a lost update)."""

    def __init__(self, kind: str, record_id: str, expected: int, current: int) -> None:
        self.expected_version = expected
        self.current_version = current
        super().__init__(
            f"{kind} {record_id} is at version {current}, not {expected}: someone changed it "
            f'since you read it. Read it again, reapply your change and send If-Match: "{current}"'
        )


def validate_content(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` checked against the content model of `kind` and normalized (the stored shape).

    Raises InvalidInput naming the first field at fault by its path (`emails.0.address`)."""
    model = entity(kind).model
    try:
        dumped: dict[str, Any] = model.model_validate(dict(data)).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or kind
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc
    return dumped


def _stamp(changed_at: datetime | None) -> datetime:
    if changed_at is None:
        return utcnow()
    if changed_at.tzinfo is None:
        raise ValueError("changed_at must carry a time zone")
    return changed_at


def _check_origin(origin: str) -> None:
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, not {origin!r}")


def _entry(
    version: int, origin: str, at: datetime, previous: dict[str, Any], note: str | None = None
) -> dict[str, Any]:
    entry = {"version": version, "origin": origin, "at": at.isoformat(), "previous": previous}
    return {**entry, "note": note} if note else entry


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """{field: old value} for every top-level field that differs."""
    return {k: old.get(k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


def _ref(kind: str, data: Mapping[str, Any]) -> str | None:
    field = entity(kind).indexed
    return store.ref_key(kind, data.get(field)) if field else None


def _dated(kind: str, data: Mapping[str, Any]) -> str | None:
    field = entity(kind).dated
    return store.date_key(kind, data.get(field)) if field else None


# ----------------------------------------------------------------------------- reads


def get_record(
    tenant_id: str, kind: str, record_id: str, *, include_deleted: bool = False
) -> Record:
    """The record; NotFound when absent or (unless `include_deleted`) deleted."""
    record = store.get(tenant_id, kind, record_id)
    if record is None or (record.deleted and not include_deleted):
        raise NotFound(f"no {kind.replace('_', ' ')} {record_id}")
    return record


def live(tenant_id: str, kind: str, record_id: str) -> Record | None:
    record = store.get(tenant_id, kind, record_id)
    return record if record is not None and not record.deleted else None


def _encode_cursor(record_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": record_key}).encode()).decode()


def _decode_cursor(kind: str, cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor") from exc
    key = value.get("k") if isinstance(value, dict) else None
    if not isinstance(key, str) or not key.startswith(f"{kind}#"):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return key


def matches(kind: str, data: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Does content match every filter of the kind's declaration? None means "any"."""
    declared = {f.name: f for f in entity(kind).filters}
    for name, wanted in filters.items():
        if wanted is None:
            continue
        spec = declared.get(name)
        if spec is not None and spec.test is not None:
            if not spec.test(dict(data), wanted):
                return False
            continue
        value = data.get(name)
        if isinstance(wanted, str) and isinstance(value, str):
            if value.casefold() != wanted.casefold():
                return False
        elif value != wanted:
            return False
    return True


def list_records(
    tenant_id: str,
    kind: str,
    limit: int = 50,
    cursor: str | None = None,
    filters: Mapping[str, Any] | None = None,
    origin: str | None = None,
    read_budget: int = LIST_READ_BUDGET,
) -> tuple[list[Record], str | None]:
    """One page of a tenant's live records of a kind that match `filters`, in id order,
    and the cursor of the next page (None: this was the last).

    A filter on the kind's indexed field, or a date range of a dated kind, reads only
    the matching records (by index); other filters are applied while the partition is read
    in key order, at most `read_budget` records a page: a page may then hold fewer than
    `limit` items and still carry a cursor, so no request reads a firm's whole partition."""
    filters = {k: v for k, v in (filters or {}).items() if v is not None}
    start = _decode_cursor(kind, cursor)
    spec = entity(kind)
    if spec.indexed and spec.indexed in filters:
        keys = store.keys_by_ref(tenant_id, kind, filters[spec.indexed])
        return _list_by_keys(tenant_id, kind, limit, start, filters, origin, keys)
    first, last = (f"{spec.dated}_from", f"{spec.dated}_to") if spec.dated else ("", "")
    if spec.dated and (first in filters or last in filters):
        keys = store.keys_between(tenant_id, kind, filters.get(first), filters.get(last))
        return _list_by_keys(tenant_id, kind, limit, start, filters, origin, keys)
    found: list[Record] = []
    scanned = store.scan_kind(
        tenant_id, kind, start_after=start, origin=origin, page_size=max(limit + 1, 100)
    )
    read = 0
    for chunk in _chunks(scanned, 100):
        extra = annotations_of(tenant_id, kind, chunk) if filters else {}
        for record in chunk:
            read += 1
            last_read = str(record.record_key)
            data = {**(record.data or {}), **extra.get(str(record.record_id), {})}
            if not filters or matches(kind, data, filters):
                found.append(record)
                if len(found) > limit:
                    break
            if read >= read_budget:
                return found, _encode_cursor(last_read)
        if len(found) > limit:
            break
    if len(found) > limit:
        page = found[:limit]
        return page, _encode_cursor(page[-1].record_key)
    return found, None


def annotations_of(tenant_id: str, kind: str, found: list[Record]) -> dict[str, dict[str, Any]]:
    """The kind's extra fields for these records (hub/entity.py `annotate`), if any."""
    annotate = entity(kind).annotate
    return annotate(tenant_id, found) if annotate is not None and found else {}


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _list_by_keys(
    tenant_id: str,
    kind: str,
    limit: int,
    start: str | None,
    filters: Mapping[str, Any],
    origin: str | None,
    candidates: list[str],
) -> tuple[list[Record], str | None]:
    """A page of the records whose keys an index gave, in key order, after `start`."""
    keys = sorted(k for k in set(candidates) if start is None or k > start)
    found: list[Record] = []
    for offset in range(0, len(keys), 100):
        stored = store.get_keys(tenant_id, keys[offset : offset + 100], consistent=False)
        extra = annotations_of(tenant_id, kind, list(stored.values()))
        for key in keys[offset : offset + 100]:
            record = stored.get(key)
            if record is None or record.deleted or (origin and record.origin != origin):
                continue
            data = {**(record.data or {}), **extra.get(str(record.record_id), {})}
            if matches(kind, data, filters):
                found.append(record)
            if len(found) > limit:
                page = found[:limit]
                return page, _encode_cursor(page[-1].record_key)
    return found, None


# ---------------------------------------------------------------------------- writes


def create_record(
    tenant_id: str,
    kind: str,
    data: dict[str, Any],
    origin: str = "practice",
    *,
    record_id: str | None = None,
    changed_at: datetime | None = None,
) -> Record:
    """A new record at version 1 (content already validated by the caller).

    Conflict if `record_id` is given and already taken (deleted records included)."""
    _check_origin(origin)
    record_id = record_id or str(uuid.uuid4())
    at = _stamp(changed_at)
    record = first_version(
        tenant_id, kind, record_id, data, origin, at, _ref(kind, data), _dated(kind, data)
    )
    try:
        store.insert(record)
    except store.AlreadyExists as exc:
        raise Conflict(f"{kind} {record_id} already exists") from exc
    return record


def _write(
    tenant_id: str,
    kind: str,
    record_id: str,
    *,
    origin: str,
    expected_version: int | None,
    changed_at: datetime | None,
    data: dict[str, Any] | None = None,
    delete: bool = False,
    note: str | None = None,
) -> Record:
    _check_origin(origin)
    at = _stamp(changed_at)
    for _ in range(_WRITE_ATTEMPTS):
        record = get_record(tenant_id, kind, record_id)
        current = int(record.version)
        if expected_version is not None and current != expected_version:
            raise VersionMismatch(kind, record_id, expected_version, current)
        previous = {"deleted": 0} if delete else _changes(record.data or {}, data or {})
        if not previous:
            return record  # nothing changed: no new version, nothing to sync
        version = current + 1
        history = [*(record.history or []), _entry(version, origin, at, previous, note)]
        if store.commit(
            record,
            version=version,
            origin=origin,
            at=at,
            history=history[-HISTORY_KEEP:],
            data=data,
            delete=delete,
            ref=_ref(kind, data) if data is not None else None,
            dated=_dated(kind, data) if data is not None else None,
        ):
            return record
        # someone wrote between our read and our write: re-read (the loop) and decide again
    raise Conflict(f"{kind} {record_id} kept changing while we tried to save it; try again")


def update_record(
    tenant_id: str,
    kind: str,
    record_id: str,
    data: dict[str, Any],
    *,
    origin: str = "practice",
    expected_version: int | None = None,
    changed_at: datetime | None = None,
    note: str | None = None,
) -> Record:
    """Replace the content (already validated by the caller) and bump the version.

    With `expected_version`, a record at any other version raises VersionMismatch (412);
    content equal to the stored one writes nothing and returns the record as it is.
    `note`: why, for people, in the history entry (a payment moved the balance)."""
    return _write(
        tenant_id,
        kind,
        record_id,
        origin=origin,
        expected_version=expected_version,
        changed_at=changed_at,
        data=data,
        note=note,
    )


def delete_record(
    tenant_id: str,
    kind: str,
    record_id: str,
    *,
    origin: str = "practice",
    expected_version: int | None = None,
    changed_at: datetime | None = None,
) -> Record:
    """Soft delete: `deleted=1` at a new version (kept for links and history).

    NotFound if already deleted; VersionMismatch as for update_record."""
    return _write(
        tenant_id,
        kind,
        record_id,
        origin=origin,
        expected_version=expected_version,
        changed_at=changed_at,
        delete=True,
    )


def save_record(
    tenant_id: str,
    kind: str,
    record_id: str | None,
    data: dict[str, Any],
    *,
    origin: str,
    expected_version: int | None = None,
    changed_at: datetime | None = None,
) -> Record:
    """Create or update a record from content of any origin (pulls: "qbo", "qbt", "xero").

    Validates `data` against the kind's content model (InvalidInput naming the field).
    Creates when `record_id` is None or names no record (a pull's derived id keeps its
    id); updates otherwise. A record deleted in the hub stays deleted: NotFound."""
    content = validate_content(kind, data)
    if record_id is None:
        return create_record(tenant_id, kind, content, origin, changed_at=changed_at)
    if store.get(tenant_id, kind, record_id) is None:
        if expected_version is not None:
            raise NotFound(f"no {kind.replace('_', ' ')} {record_id}")
        try:
            return create_record(
                tenant_id, kind, content, origin, record_id=record_id, changed_at=changed_at
            )
        except Conflict:
            pass  # created meanwhile by another writer: update it below
    return update_record(
        tenant_id,
        kind,
        record_id,
        content,
        origin=origin,
        expected_version=expected_version,
        changed_at=changed_at,
    )


def note_in_history(record: Record, entry: dict[str, Any]) -> None:
    """Keep something in a record's history without a new version (a provider's edit
    that lost to a later one in the hub)."""
    store.set_history(record, [*(record.history or []), entry][-HISTORY_KEEP:])


# ------------------------------------------------------------------ integrity rules


def check_references(
    tenant_id: str, kind: str, record_id: str | None, content: dict[str, Any]
) -> dict[str, Any]:
    """The kind's rules across records, for content about to be written as `record_id`
    (None: a new record). Returns the content to write (normalized by the rules, e.g.
    a contact type spelled as the firm spells it); raises InvalidInput or Conflict."""
    check = entity(kind).check
    if check is None:
        return content
    stored = live(tenant_id, kind, record_id) if record_id else None
    return check(tenant_id, record_id, content, dict(stored.data or {}) if stored else {})


def check_deletable(tenant_id: str, record: Record) -> None:
    """Conflict (409) when deleting `record` would leave others pointing at nothing."""
    check = entity(str(record.kind)).check_delete
    if check is not None:
        check(tenant_id, record)
