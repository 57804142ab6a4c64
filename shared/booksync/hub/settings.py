"""The settings a firm chooses per connection, as fields the provider families declare.

Each family names the fields it reads (engine/seam.py `Family.settings`); the provider's
settings schema is `sync_enabled` plus every field of its families (providers/registry.py),
so a new family's setting appears on its connection's settings page by itself. Unknown
fields are refused by name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Setting = tuple[Any, Any]  # (type, pydantic Field) as pydantic.create_model takes it

CONTACT_TYPES: Setting = (
    list[str],
    Field(
        default_factory=lambda: ["Client"],
        description="contact types sent to the provider",
        max_length=50,
    ),
)
IMPORT_CONTACT_TYPE: Setting = (
    str,
    Field(
        default="Client",
        min_length=1,
        max_length=64,
        description="the contact type given to contacts imported from the provider",
    ),
)
SYNC: Setting = (
    Literal["contacts", "contacts_and_work_items"],
    Field(default="contacts", description="what becomes jobcodes: contacts, or work items too"),
)
ASSIGN_ALL: Setting = (
    bool,
    Field(default=False, description="assign new jobcodes to every user"),
)


class BaseSettings(BaseModel):
    """What every connection has: one switch for the whole connection."""

    model_config = ConfigDict(extra="forbid")

    sync_enabled: bool = True
