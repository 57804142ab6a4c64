"""Xero's items and tracking categories as QuickBooks Time custom fields (issue 15, the
firm's books in Xero, its hours in QBT).

What the QBT-Xero integration booksync replaces does on import, as settings of the QBT
connection: `xero_items` makes the items Xero sells that are not tracked as inventory
the values of a timesheet custom field "Item" (`require_item`: a timesheet must name
one); `xero_tracking` makes each active Xero tracking category a custom field with its
active options as values. QBT allows six active custom fields in all, and booksync's
own "Task type" and "Role" hold two: a firm whose fields do not fit gets
`qbt.too_many_custom_fields`, naming the fields it could deactivate, before anything
is written.

`POST /v1/connections/qbt/import-from-xero` runs it (`dry_run`: what it would do). Run
again it adds, renames and deactivates what changed in Xero since: each value keeps the
id of the Xero item or option it came from (a rename there renames it here), each field
the id of the category; a category archived in Xero, or a setting turned off,
deactivates its field (never deleted: old timesheets keep their values). Idempotent: a
second run with nothing changed writes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from booksync.engine.seam import ProviderSession
from booksync.errors import InvalidInput
from booksync.providers import registry
from booksync.providers.qbt import custom_fields
from booksync.providers.qbt.client import QbtClient
from booksync.providers.qbt.custom_fields import FieldSpec, Value, apply_fields, plan_fields
from booksync.providers.xero.client import XeroClient
from booksync.store import Cursor, cursors

ITEM_FIELD = "Item"
CURSOR_FAMILY = "qbt_from_xero"  # on the QBT connection: field and value ids of the import


def wanted_fields(xero: ProviderSession, settings: dict[str, Any]) -> list[FieldSpec]:
    """The custom fields the QBT connection's settings ask for, from what Xero holds
    now: one read of Items, one of TrackingCategories (active ones only)."""
    client = XeroClient(xero)
    specs: list[FieldSpec] = []
    if settings.get("xero_items"):
        sold = [
            i
            for i in client.listed("Items")
            if i.get("IsSold") and not i.get("IsTrackedAsInventory")
        ]
        values = tuple(
            Value(str(i.get("Name") or i.get("Code")), str(i["ItemID"]))
            for i in sorted(sold, key=lambda i: str(i.get("Name") or i.get("Code")).casefold())
        )
        specs.append(
            FieldSpec("item", ITEM_FIELD, values, required=bool(settings.get("require_item")))
        )
    if settings.get("xero_tracking"):
        for category in client.listed("TrackingCategories"):
            if str(category.get("Status", "ACTIVE")).upper() != "ACTIVE":
                continue
            options = [
                o
                for o in category.get("Options") or []
                if str(o.get("Status", "ACTIVE")).upper() == "ACTIVE"
            ]
            specs.append(
                FieldSpec(
                    f"tracking:{category['TrackingCategoryID']}",
                    str(category["Name"]),
                    tuple(Value(str(o["Name"]), str(o["TrackingOptionID"])) for o in options),
                )
            )
    return specs


def import_from_xero(
    qbt: ProviderSession, xero: ProviderSession, *, dry_run: bool = False
) -> dict[str, Any]:
    """Plan (and unless `dry_run`, carry out) the custom fields Xero's items and tracking
    categories make in QBT. Raises SyncFailure (QBT's or Xero's refusal, the field cap)."""
    settings = registry.effective_settings("qbt", qbt.settings)
    if not (settings.get("xero_items") or settings.get("xero_tracking")):
        raise InvalidInput(
            "nothing to import: turn on xero_items or xero_tracking in the QuickBooks Time "
            "connection's settings",
            field="settings",
        )
    conn_id = str(qbt.connection.connection_id)
    row = cursors.get(conn_id, CURSOR_FAMILY)
    held = json.loads(row.position) if row is not None and row.position else {}
    known: dict[str, str] = dict(held.get("fields") or {})
    values: dict[str, dict[str, int]] = dict(held.get("values") or {})
    specs = wanted_fields(xero, settings)
    client = QbtClient(qbt)
    plans = plan_fields(
        client,
        specs,
        known=known,
        known_values=values,
        retire=sorted(set(known) - {s.key for s in specs}),
        avoid=set(custom_fields.field_ids(conn_id).values()),  # "Task type", "Role"
    )
    answer: dict[str, Any] = {
        "dry_run": dry_run,
        "fields": [p.as_dict() for p in plans if p.action != "none"],
    }
    if dry_run:
        return answer
    ids, matched = apply_fields(client, plans)
    keep = {s.key for s in specs}
    cursors.save(
        Cursor(
            conn_id,
            CURSOR_FAMILY,
            position=json.dumps(
                {
                    # retired fields are remembered: turned on again, the same field serves
                    "fields": {**known, **ids},
                    "values": {k: v for k, v in {**values, **matched}.items() if k in keep},
                }
            ),
        )
    )
    return answer
