"""Users: the firm's staff, with the task types and roles their time is logged under."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from booksync.hub import staff
from booksync.hub.content import User
from booksync.hub.entity import Entity, ListFilter

ENTITY = Entity(
    kind="user",
    model=User,
    path="users",
    label="user",
    filters=(
        ListFilter("active", Annotated[bool | None, Query()]),
        ListFilter("email", Annotated[str | None, Query(max_length=254)]),
    ),
    adopt=staff.adopt_users,
)
