"""Every hub record kind, one line each (their declarations: hub/kinds/)."""

from __future__ import annotations

from booksync.errors import InvalidInput
from booksync.hub.entity import Entity
from booksync.hub.kinds import (
    contact_types,
    contacts,
    invoices,
    payments,
    time_entries,
    time_off,
    users,
    work_items,
)

ENTITIES: dict[str, Entity] = {
    e.kind: e
    for e in (
        contacts.ENTITY,
        work_items.ENTITY,
        users.ENTITY,
        contact_types.ENTITY,
        time_entries.ENTITY,
        time_off.ENTITY,
        invoices.ENTITY,
        payments.ENTITY,
    )
}


def entity(kind: str) -> Entity:
    found = ENTITIES.get(kind)
    if found is None:
        raise InvalidInput(f"unknown record kind {kind!r}", field="kind")
    return found


def kinds_in_order() -> tuple[str, ...]:
    """Every kind, parents before children (the order pushes are queued in)."""
    done: list[str] = []

    def visit(kind: str, seen: tuple[str, ...]) -> None:
        if kind in done or kind in seen:
            return
        for parent in ENTITIES[kind].parents:
            visit(parent, (*seen, kind))
        done.append(kind)

    for kind in ENTITIES:
        visit(kind, ())
    return tuple(done)
