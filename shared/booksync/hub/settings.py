"""Per-provider sync settings a firm chooses; unknown fields are refused by name."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sync_enabled: bool = True
    contact_types: list[str] = Field(
        default_factory=lambda: ["Client"],
        description="contact types sent to the provider",
        max_length=50,
    )


class QboSettings(_Settings):
    import_contact_type: str = Field(default="Client", min_length=1, max_length=64)
    work_items_as_sub_customers: bool = False


class QbtSettings(_Settings):
    sync: Literal["contacts", "contacts_and_work_items"] = "contacts"
    assign_new_jobcodes_to_all_users: bool = False


class XeroSettings(_Settings):
    import_contact_type: str = Field(default="Client", min_length=1, max_length=64)


SETTINGS_SCHEMAS: dict[str, type[_Settings]] = {
    "qbo": QboSettings,
    "qbt": QbtSettings,
    "xero": XeroSettings,
}
