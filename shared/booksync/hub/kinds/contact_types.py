"""Contact types: the firm's own list (Client, Prospect, ...), which routes contacts to
providers (a connection's `contact_types` setting). Seeded with defaults on first use."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from booksync.errors import Conflict
from booksync.hub.content import DEFAULT_CONTACT_TYPES, ContactType
from booksync.hub.entity import Entity, first_version
from booksync.store import Record, utcnow
from booksync.store import records as store

KIND = "contact_type"
_SEED_NAMESPACE = uuid.UUID("5d1e7a52-4f0b-4c43-9d55-8a4b0d3c7e21")  # ids of seeded types


def contact_types(tenant_id: str) -> list[Record]:
    """The tenant's live contact types by name, seeded with hub.DEFAULT_CONTACT_TYPES the
    first time the tenant has none at all (deleted ones count: a firm that deleted a
    default does not get it back). Seeded ids are derived, so concurrent seeding is one."""
    every = store.all_of_kind(tenant_id, KIND, live_only=False)
    if not every:
        now = utcnow()
        for name in DEFAULT_CONTACT_TYPES:
            seeded_id = str(uuid.uuid5(_SEED_NAMESPACE, f"{tenant_id}/{name}"))
            seeded = first_version(
                tenant_id, KIND, seeded_id, {"name": name}, "practice", now, None
            )
            with contextlib.suppress(store.AlreadyExists):  # seeded by a concurrent first access
                store.insert(seeded)
        every = store.all_of_kind(tenant_id, KIND, live_only=False)
    live = [r for r in every if not r.deleted]
    return sorted(live, key=lambda r: str(r.data.get("name", "")).casefold())


def in_use(tenant_id: str, type_name: str) -> bool:
    """Does any live contact have this type? One key read of the contacts' index."""
    for record_key in store.keys_by_ref(tenant_id, "contact", type_name, limit=5):
        kind, _, record_id = record_key.partition("#")
        record = store.get(tenant_id, kind, record_id, consistent=False)
        if record is not None and not record.deleted:
            return True
    return False


def _seed(tenant_id: str) -> None:
    contact_types(tenant_id)  # seeds the defaults on a tenant's first access


def _check(
    tenant_id: str, record_id: str | None, content: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    name = str(content["name"])
    for other in contact_types(tenant_id):
        if other.record_id != record_id and str(other.data["name"]).casefold() == name.casefold():
            raise Conflict(f"a contact type named {other.data['name']!r} exists", field="name")
    old = str(before.get("name") or name)
    if record_id is not None and old != name and in_use(tenant_id, old):
        raise Conflict(
            f"contacts use the contact type {old!r}: move them to another type first",
            field="name",
        )
    return content


def _check_delete(tenant_id: str, record: Record) -> None:
    if in_use(tenant_id, str(record.data["name"])):
        raise Conflict(
            f"contacts use the contact type {record.data['name']!r}: "
            "move them to another type first",
            field="name",
        )


ENTITY = Entity(
    kind=KIND,
    model=ContactType,
    path="contact-types",
    check=_check,
    check_delete=_check_delete,
    before_list=lambda tenant_id: _seed(tenant_id),
)
