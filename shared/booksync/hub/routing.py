"""Which provider wants which hub record: the routing rule behind every fan-out, kept pure.

A connection's settings (api/settings_schemas.py) say what the firm sends to that
provider; a missing setting takes the schema's default, so a connection saved before a
setting existed routes the way the settings page shows it.
"""

from __future__ import annotations

from typing import Any

from booksync.hub.settings import SETTINGS_SCHEMAS

# records per provider write call, so one bulk message fills one provider batch; the
# adapters' max_batch (QBO 30, Xero 50, QBT 50) is the authority, and a unit test
# keeps these equal to it
BUNDLE_SIZE = {"qbo": 30, "qbt": 50, "xero": 50}

KINDS_IN_ORDER = ("contact", "work_item", "user")  # parents before children


def effective_settings(provider: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    """The connection's settings over the schema defaults of its provider."""
    schema = SETTINGS_SCHEMAS.get(provider)
    defaults = schema().model_dump() if schema else {}
    return {**defaults, **(settings or {})}


def wants(provider: str, settings: dict[str, Any], kind: str, data: dict[str, Any]) -> bool:
    """True when a connection to `provider` with `settings` should receive this record.

    - nothing goes to a connection whose `sync_enabled` is off;
    - a contact goes to qbo, qbt and xero when its contact_type is one of the
      connection's `contact_types`;
    - a work item goes to qbt when `sync` is contacts_and_work_items, and to qbo when
      `work_items_as_sub_customers` (QBO models jobs as sub-customers);
    - a user goes to qbo (as an employee) and qbt;
    - contact types stay in the hub.
    """
    if provider not in SETTINGS_SCHEMAS:
        return False
    effective = effective_settings(provider, settings)
    if not effective.get("sync_enabled", True):
        return False
    if kind == "contact":
        return data.get("contact_type") in (effective.get("contact_types") or [])
    if kind == "work_item":
        if provider == "qbt":
            return bool(effective.get("sync") == "contacts_and_work_items")
        if provider == "qbo":
            return bool(effective.get("work_items_as_sub_customers"))
        return False
    if kind == "user":
        return provider in ("qbo", "qbt")
    return False
