"""Contacts: clients, prospects, suppliers; organisations or people, nested (a child
contact under its parent). Routed to providers by contact type."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query

from booksync.errors import InvalidInput
from booksync.hub import importing
from booksync.hub.content import Contact
from booksync.hub.entity import Entity, ListFilter
from booksync.hub.kinds.contact_types import contact_types
from booksync.store import records as store

KIND = "contact"
MAX_DEPTH = 100  # ancestry walked before giving up (a deeper tree is refused)


def _check(
    tenant_id: str, record_id: str | None, content: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    """The type is one of the firm's (spelled as the firm spells it); a new parent exists
    and makes no loop. A reference is checked when it is set or changed: a contact whose
    parent was deleted since can still be edited without first being moved."""
    known = {str(t.data["name"]).casefold(): str(t.data["name"]) for t in contact_types(tenant_id)}
    spelled = known.get(str(content["contact_type"]).casefold())
    if spelled is None:
        raise InvalidInput(
            f"{content['contact_type']!r} is not one of this firm's contact types "
            f"({', '.join(sorted(known.values()))})",
            field="contact_type",
        )
    parent_id = content.get("parent_id")
    ancestor = parent_id if parent_id != before.get("parent_id") else None
    for _ in range(MAX_DEPTH):
        if not ancestor:
            break
        if ancestor == record_id:
            raise InvalidInput("a contact cannot be its own ancestor", field="parent_id")
        parent = store.get(tenant_id, KIND, ancestor)
        if parent is None or parent.deleted:
            if ancestor == parent_id:
                raise InvalidInput(f"no contact {parent_id}", field="parent_id")
            break  # an ancestor further up was deleted: the chain ends there
        ancestor = parent.data.get("parent_id")
    else:
        raise InvalidInput(f"contacts nest at most {MAX_DEPTH} deep", field="parent_id")
    return {**content, "contact_type": spelled}


def _name_contains(data: dict[str, Any], value: Any) -> bool:
    return str(value).casefold() in str(data.get("name", "")).casefold()


ENTITY = Entity(
    kind=KIND,
    model=Contact,
    path="contacts",
    filters=(
        ListFilter("contact_type", Annotated[str | None, Query(max_length=64)]),
        ListFilter("active", Annotated[bool | None, Query()]),
        ListFilter(
            "q",
            Annotated[str | None, Query(max_length=255, description="name contains (any case)")],
            test=_name_contains,
        ),
        ListFilter("parent_id", Annotated[str | None, Query(max_length=64)]),
    ),
    indexed="contact_type",
    check=_check,
    adopt=importing.adopt_contacts,
    # a child contact keeps its order with its parent (a sub-customer after its customer)
    group_of=lambda record_id, data: str(data.get("parent_id") or record_id),
)
