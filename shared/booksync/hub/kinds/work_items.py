"""Work items: jobs under a contact (client:job)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query

from booksync.errors import InvalidInput
from booksync.hub.content import WorkItem
from booksync.hub.entity import Entity, ListFilter
from booksync.store import records as store

KIND = "work_item"


def _check(
    tenant_id: str, record_id: str | None, content: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    contact_id = content["contact_id"]
    if contact_id != before.get("contact_id"):
        contact = store.get(tenant_id, "contact", contact_id)
        if contact is None or contact.deleted:
            raise InvalidInput(f"no contact {contact_id}", field="contact_id")
    return content


ENTITY = Entity(
    kind=KIND,
    model=WorkItem,
    path="work-items",
    parents=("contact",),
    filters=(
        ListFilter("contact_id", Annotated[str | None, Query(max_length=64)]),
        ListFilter(
            "status", Annotated[str | None, Query(pattern="^(active|completed|cancelled)$")]
        ),
    ),
    indexed="contact_id",
    check=_check,
    group_of=lambda record_id, data: str(data.get("contact_id") or record_id),
)
