"""Hub records: create, read, update, soft-delete, list; every change bumps `version`.

A record is written first, then enqueued (`fanout`) for every active connection that
wants it; a crash in between is caught up by reconciliation (version > synced_version).
Writes are DynamoDB conditional updates on `version`, so of two writers that read the
same version only one wins; the other gets `VersionMismatch` (an expected version was
given) or re-reads and re-applies (a pull, which carries no expected version).
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.update import Action

from booksync.engine.messages import Message, push_messages
from booksync.engine.queues import Enqueuer
from booksync.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from booksync.hub.content import DEFAULT_CONTACT_TYPES, KIND_MODELS
from booksync.hub.routing import BUNDLE_SIZE, KINDS_IN_ORDER, wants
from booksync.store.models import Connection, Record, utcnow

ORIGINS = ("practice", "qbo", "qbt", "xero")
HISTORY_KEEP = 20
_WRITE_ATTEMPTS = 5  # re-reads allowed to a writer without an expected version
_LIVE = (Record.deleted == 0) | Record.deleted.does_not_exist()
_SEED_NAMESPACE = uuid.UUID("5d1e7a52-4f0b-4c43-9d55-8a4b0d3c7e21")  # ids of seeded contact types
_MAX_DEPTH = 100  # contact ancestry walked before giving up (a deeper tree is refused)


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
    """`data` checked against the hub model of `kind` and normalized (the stored shape).

    Raises InvalidInput naming the first field at fault by its path (`emails.0.address`)."""
    model = KIND_MODELS.get(kind)
    if model is None:
        raise InvalidInput(f"unknown record kind {kind!r}", field="kind")
    try:
        return model.model_validate(dict(data)).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or kind
        raise InvalidInput(f"{field}: {first['msg']}", field=field) from exc


def _stamp(changed_at: datetime | None) -> datetime:
    if changed_at is None:
        return utcnow()
    if changed_at.tzinfo is None:
        raise ValueError("changed_at must carry a time zone")
    return changed_at


def _check_origin(origin: str) -> None:
    if origin not in ORIGINS:
        raise ValueError(f"origin must be one of {ORIGINS}, not {origin!r}")


def _entry(version: int, origin: str, at: datetime, previous: dict[str, Any]) -> dict[str, Any]:
    return {"version": version, "origin": origin, "at": at.isoformat(), "previous": previous}


def _changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """{field: old value} for every top-level field that differs."""
    return {k: old.get(k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)}


# ----------------------------------------------------------------------------- reads


def _load(tenant_id: str, kind: str, record_id: str) -> Record | None:
    try:
        return Record.get(tenant_id, Record.key(kind, record_id), consistent_read=True)
    except Record.DoesNotExist:
        return None


def get_record(
    tenant_id: str, kind: str, record_id: str, *, include_deleted: bool = False
) -> Record:
    """The record; NotFound when absent or (unless `include_deleted`) deleted."""
    record = _load(tenant_id, kind, record_id)
    if record is None or (record.deleted and not include_deleted):
        raise NotFound(f"no {kind.replace('_', ' ')} {record_id}")
    return record


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


def matches(data: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Does content match every filter? `q`: the name contains it (any case); text
    compares without regard to case; None means "any"."""
    for name, wanted in filters.items():
        if wanted is None:
            continue
        if name == "q":
            if str(wanted).casefold() not in str(data.get("name", "")).casefold():
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
) -> tuple[list[Record], str | None]:
    """One page of a tenant's live records of a kind that match `filters`, in id order,
    and the cursor of the next page (None: this was the last).

    Content is stored as one JSON attribute, so filters are applied here while the
    tenant's partition is read in key order; the cursor is the key of the last record
    returned, so a page is never short because of filtering."""
    start = _decode_cursor(kind, cursor)
    query = Record.query(
        tenant_id,
        Record.record_key.startswith(f"{kind}#"),
        filter_condition=_LIVE if origin is None else _LIVE & (Record.origin == origin),
        last_evaluated_key=(
            {"tenant_id": {"S": tenant_id}, "record_key": {"S": start}} if start else None
        ),
        page_size=max(limit + 1, 100),
    )
    found: list[Record] = []
    for record in query:
        if filters and not matches(record.data or {}, filters):
            continue
        found.append(record)
        if len(found) > limit:
            break
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
    record = Record(
        tenant_id,
        Record.key(kind, record_id),
        kind=kind,
        record_id=record_id,
        version=1,
        origin=origin,
        data=data,
        deleted=0,
        history=[_entry(1, origin, at, {})],
        created_at=at,
        updated_at=at,
    )
    try:
        record.save(condition=Record.record_key.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"{kind} {record_id} already exists") from exc
        raise
    return record


def _commit(
    record: Record,
    *,
    origin: str,
    at: datetime,
    previous: dict[str, Any],
    data: dict[str, Any] | None = None,
    delete: bool = False,
) -> bool:
    """Write the next version if nobody wrote since `record` was read; False if someone did."""
    version = int(record.version) + 1
    history = [*(record.history or []), _entry(version, origin, at, previous)][-HISTORY_KEEP:]
    actions: list[Action] = [
        Record.version.set(version),
        Record.origin.set(origin),
        Record.updated_at.set(at),
        Record.history.set(history),
    ]
    if data is not None:
        actions.append(Record.data.set(data))
    if delete:
        actions.append(Record.deleted.set(1))
    try:
        record.update(
            actions=actions,
            condition=(Record.version == int(record.version)) & _LIVE,
            add_version_condition=False,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


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
        if _commit(record, origin=origin, at=at, previous=previous, data=data, delete=delete):
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
) -> Record:
    """Replace the content (already validated by the caller) and bump the version.

    With `expected_version`, a record at any other version raises VersionMismatch (412);
    content equal to the stored one writes nothing and returns the record as it is."""
    return _write(
        tenant_id,
        kind,
        record_id,
        origin=origin,
        expected_version=expected_version,
        changed_at=changed_at,
        data=data,
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

    Validates `data` against hub.KIND_MODELS[kind] (InvalidInput naming the field).
    Creates when `record_id` is None or names no record (a pull's derived id keeps its
    id); updates otherwise. A record deleted in the hub stays deleted: NotFound."""
    content = validate_content(kind, data)
    if record_id is None:
        return create_record(tenant_id, kind, content, origin, changed_at=changed_at)
    if _load(tenant_id, kind, record_id) is None:
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


# ------------------------------------------------------------------ integrity rules


def contact_types(tenant_id: str) -> list[Record]:
    """The tenant's live contact types by name, seeded with hub.DEFAULT_CONTACT_TYPES the
    first time the tenant has none at all (deleted ones count: a firm that deleted a
    default does not get it back). Seeded ids are derived, so concurrent seeding is one."""
    prefix = Record.record_key.startswith("contact_type#")
    every = list(Record.query(tenant_id, prefix, consistent_read=True))
    if not every:
        for name in DEFAULT_CONTACT_TYPES:
            seeded_id = str(uuid.uuid5(_SEED_NAMESPACE, f"{tenant_id}/{name}"))
            with contextlib.suppress(Conflict):  # seeded by a concurrent first access
                create_record(tenant_id, "contact_type", {"name": name}, record_id=seeded_id)
        every = list(Record.query(tenant_id, prefix, consistent_read=True))
    live = [r for r in every if not r.deleted]
    return sorted(live, key=lambda r: str(r.data.get("name", "")).casefold())


def _in_use(tenant_id: str, type_name: str) -> bool:
    using, _ = list_records(tenant_id, "contact", limit=1, filters={"contact_type": type_name})
    return bool(using)


def check_references(
    tenant_id: str, kind: str, record_id: str | None, content: dict[str, Any]
) -> dict[str, Any]:
    """The hub's rules across records, for content about to be written as `record_id`
    (None: a new record). Returns the content with the contact type spelled as the
    tenant spells it. Raises InvalidInput (400) or Conflict (409) naming the field.

    A reference is checked when it is set or changed: a contact whose parent was deleted
    since can still be edited without first being moved."""
    stored = _load_live(tenant_id, kind, record_id) if record_id else None
    before = stored.data if stored is not None else {}
    if kind == "contact":
        return _check_contact(tenant_id, record_id, content, before.get("parent_id"))
    if kind == "work_item":
        contact_id = content["contact_id"]
        changed = contact_id != before.get("contact_id")
        if changed and _load_live(tenant_id, "contact", contact_id) is None:
            raise InvalidInput(f"no contact {contact_id}", field="contact_id")
    if kind == "contact_type":
        _check_contact_type(tenant_id, record_id, content)
    return content


def _load_live(tenant_id: str, kind: str, record_id: str) -> Record | None:
    record = _load(tenant_id, kind, record_id)
    return record if record is not None and not record.deleted else None


def _check_contact(
    tenant_id: str, record_id: str | None, content: dict[str, Any], stored_parent: str | None
) -> dict[str, Any]:
    known = {str(t.data["name"]).casefold(): str(t.data["name"]) for t in contact_types(tenant_id)}
    spelled = known.get(str(content["contact_type"]).casefold())
    if spelled is None:
        raise InvalidInput(
            f"{content['contact_type']!r} is not one of this firm's contact types "
            f"({', '.join(sorted(known.values()))})",
            field="contact_type",
        )
    parent_id = content.get("parent_id")
    # only a new parent can make a loop or point at nothing
    ancestor = parent_id if parent_id != stored_parent else None
    for _ in range(_MAX_DEPTH):
        if not ancestor:
            break
        if ancestor == record_id:
            raise InvalidInput("a contact cannot be its own ancestor", field="parent_id")
        parent = _load_live(tenant_id, "contact", ancestor)
        if parent is None:
            if ancestor == parent_id:
                raise InvalidInput(f"no contact {parent_id}", field="parent_id")
            break  # an ancestor further up was deleted: the chain ends there
        ancestor = parent.data.get("parent_id")
    else:
        raise InvalidInput(f"contacts nest at most {_MAX_DEPTH} deep", field="parent_id")
    return {**content, "contact_type": spelled}


def _check_contact_type(tenant_id: str, record_id: str | None, content: dict[str, Any]) -> None:
    name = str(content["name"])
    for other in contact_types(tenant_id):
        if other.record_id != record_id and str(other.data["name"]).casefold() == name.casefold():
            raise Conflict(f"a contact type named {other.data['name']!r} exists", field="name")
    if record_id is not None:
        current = _load_live(tenant_id, "contact_type", record_id)
        old = str(current.data["name"]) if current else name
        if old != name and _in_use(tenant_id, old):
            raise Conflict(
                f"contacts use the contact type {old!r}: move them to another type first",
                field="name",
            )


def check_deletable(tenant_id: str, record: Record) -> None:
    """Conflict (409) when deleting `record` would leave others pointing at nothing."""
    if record.kind == "contact_type" and _in_use(tenant_id, str(record.data["name"])):
        raise Conflict(
            f"contacts use the contact type {record.data['name']!r}: "
            "move them to another type first",
            field="name",
        )


# --------------------------------------------------------------------------- fan-out


def fanout(enqueuer: Enqueuer, record: Record, exclude_provider: str | None = None) -> list[str]:
    """Enqueue a push of `record` at its version for every active connection of its tenant
    whose settings want it (routing.wants), except `exclude_provider` (where the change
    came from). Returns the providers enqueued."""
    return fanout_many(enqueuer, [record], exclude_provider)


def fanout_many(
    enqueuer: Enqueuer, records: list[Record], exclude_provider: str | None = None
) -> list[str]:
    """`fanout` for many records of one tenant (an import's new contacts): each connection
    gets them in bundles the size of its provider's batch, parents' kinds first."""
    if not records:
        return []
    sent: list[str] = []
    for connection in Connection.query(records[0].tenant_id):
        if connection.status != "active" or connection.provider == exclude_provider:
            continue
        settings = connection.settings or {}
        messages: list[Message] = []
        for kind in KINDS_IN_ORDER:
            wanted = [
                (r.record_id, int(r.version))
                for r in records
                if r.kind == kind and wants(connection.provider, settings, kind, r.data)
            ]
            messages += push_messages(
                connection.tenant_id,
                connection.connection_id,
                connection.provider,  # type: ignore[arg-type]  # checked by wants
                kind,
                wanted,
                BUNDLE_SIZE[connection.provider],
            )
        if messages:
            enqueuer.send_many(messages)
            sent.append(connection.provider)
    return sent
