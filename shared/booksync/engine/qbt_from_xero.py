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
from datetime import date, timedelta
from typing import Any

from booksync.engine.seam import ProviderSession
from booksync.errors import InvalidInput, SyncFailure
from booksync.hub import importing
from booksync.hub import records as hub_records
from booksync.hub.kinds.time_entries import KEPT_IN_STEP_DAYS
from booksync.providers import registry
from booksync.providers.qbt import custom_fields
from booksync.providers.qbt.client import QbtClient
from booksync.providers.qbt.custom_fields import FieldSpec, Value, apply_fields, plan_fields
from booksync.providers.xero.client import XeroClient
from booksync.store import Cursor, cursors, links

ITEM_FIELD = "Item"
ACTIVE = 'ContactStatus=="ACTIVE"'
MAX_ADD = 100  # contacts added on request per call
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
    customers_only = bool(registry.effective_settings("xero", xero.settings)["customers_only"])
    if not (settings.get("xero_items") or settings.get("xero_tracking") or customers_only):
        raise InvalidInput(
            "nothing to import: turn on xero_items or xero_tracking in the QuickBooks Time "
            "connection's settings, or customers_only in Xero's",
            field="settings",
        )
    answer: dict[str, Any] = {"dry_run": dry_run, "fields": []}
    if customers_only:
        # IsCustomer turns true with a first sales invoice, without moving the contact's
        # UpdatedDateUTC: a pull does not see it, a re-import does
        answer["customers"] = _take_in(xero, f"IsCustomer==true&&{ACTIVE}", dry_run=dry_run)
    if not (settings.get("xero_items") or settings.get("xero_tracking")):
        return answer
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
    answer["fields"] = [p.as_dict() for p in plans if p.action != "none"]
    if dry_run:
        return answer
    ids, matched = apply_fields(client, plans)
    keep = {s.key for s in specs}
    # a timesheet's values of these fields are its hub entry's `custom_fields`, by the
    # names Xero gives them (what invoicing the time matches: engine/time_billing.py)
    custom_fields.remember_named_fields(
        conn_id, {s.name: ids[s.key] for s in specs if s.key in ids}
    )
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


def archive_unmatched(qbt: ProviderSession, *, dry_run: bool = False) -> dict[str, Any]:
    """ "Archive unmatched QBT customers": the account's active top-level jobcodes that no
    hub contact links (no imported customer) are archived, in writes of 50; one with time
    in the last six months (on it or its jobs) is kept and listed with the reason, as is
    everything in a dry run. Reads: the top-level jobcodes, their links (batched), and
    their recent time (one paged read for all of them)."""
    client = QbtClient(qbt)
    top = client.get_all("jobcodes", {"parent_ids": 0, "type": "regular", "active": "yes"})
    held = links.by_provider_ids(qbt.tenant_id, "qbt", [("jobcode", str(j["id"])) for j in top])
    unmatched = [j for j in top if ("jobcode", str(j["id"])) not in held]
    busy: set[int] = set()
    if unmatched:
        since = (date.today() - timedelta(days=KEPT_IN_STEP_DAYS)).isoformat()
        sheets = client.get_all(
            "timesheets",
            {
                "jobcode_ids": ",".join(str(j["id"]) for j in unmatched),
                "start_date": since,
                "on_the_clock": "both",
            },
        )
        by_id = {int(j["id"]): j for j in unmatched}
        parents = _top_of(client, {int(s["jobcode_id"]) for s in sheets}, set(by_id))
        busy = {parents[int(s["jobcode_id"])] for s in sheets if int(s["jobcode_id"]) in parents}
    archive = [j for j in unmatched if int(j["id"]) not in busy]
    kept = [
        {"id": str(j["id"]), "name": j.get("name"), "why": "has time in the last six months"}
        for j in unmatched
        if int(j["id"]) in busy
    ]
    listed = [{"id": str(j["id"]), "name": j.get("name")} for j in archive]
    failed: list[dict[str, Any]] = []
    if not dry_run and archive:
        done = client.update("jobcodes", [{"id": int(j["id"]), "active": False} for j in archive])
        failed = [
            {**row, "why": answer.provider_message}
            for row, answer in zip(listed, done, strict=True)
            if isinstance(answer, SyncFailure)
        ]
    refused = {f["id"] for f in failed}
    return {
        "dry_run": dry_run,
        # a dry run lists what it would archive
        ("to_archive" if dry_run else "archived"): [r for r in listed if r["id"] not in refused],
        "kept": kept,
        "failed": failed,
    }


def _top_of(client: QbtClient, ids: set[int], tops: set[int]) -> dict[int, int]:
    """Each jobcode id -> the top-level jobcode among `tops` it sits under (its own id for
    a top one); the children are read by their ids, a level at a time."""
    out = {i: i for i in ids if i in tops}
    pending = ids - set(out)
    parent_of: dict[int, int] = {}
    while pending:
        rows = client.get_all(
            "jobcodes",
            {"ids": ",".join(str(i) for i in sorted(pending)), "type": "all", "active": "both"},
        )
        for row in rows:
            parent_of[int(row["id"])] = int(row.get("parent_id") or 0)
        pending = {p for p in (parent_of.get(i, 0) for i in pending) if p and p not in parent_of}
        pending -= tops
    for i in ids - set(out):
        seen, node = 0, i
        while node not in tops and node in parent_of and seen < 20:
            node, seen = parent_of[node], seen + 1
        if node in tops:
            out[i] = node
    return out


# ------------------------------------------------------------------- customers only


def non_customers(xero: ProviderSession) -> dict[str, Any]:
    """Xero's active contacts that have had no sales invoice and that no hub contact
    links: what a firm taking in customers only (the Xero setting `customers_only`) may
    add on request. One paged read of those contacts, their links by key."""
    items = [
        {
            "id": str(r["ContactID"]),
            "name": str(r.get("Name") or ""),
            "email": r.get("EmailAddress") or None,
        }
        for r in _unlinked(xero, f"IsCustomer==false&&{ACTIVE}")
    ]
    return {"items": sorted(items, key=lambda i: i["name"].casefold())}


def add_contacts(xero: ProviderSession, ids: list[str]) -> dict[str, Any]:
    """Take these Xero contacts into the hub as an import would: one matching a hub
    contact exactly is linked, a partial match goes to the duplicates review, the rest
    are created (and go on to QuickBooks Time as its settings say)."""
    wanted = list(dict.fromkeys(ids))
    if len(wanted) > MAX_ADD:
        raise InvalidInput(f"at most {MAX_ADD} contacts at a time", field="contact_ids")
    rows = XeroClient(xero).contacts_by_id(wanted)
    found = {str(r["ContactID"]) for r in rows}
    answer = _import(xero, rows)
    answer["not_found"] = [i for i in wanted if i not in found]
    return answer


def _take_in(xero: ProviderSession, where: str, *, dry_run: bool) -> dict[str, Any]:
    """Import the Xero contacts matching `where` that no hub contact links yet."""
    new = _unlinked(xero, where)
    if dry_run:
        return {"to_import": sorted(str(r.get("Name") or "") for r in new)}
    return _import(xero, new)


def _unlinked(xero: ProviderSession, where: str) -> list[dict[str, Any]]:
    """Xero's contacts matching `where` (archived left out) that no link names."""
    rows = list(XeroClient(xero).contacts(include_archived=False, where=where))
    held = links.by_provider_ids(
        xero.tenant_id, "xero", [("Contact", str(r["ContactID"])) for r in rows]
    )
    return [r for r in rows if ("Contact", str(r["ContactID"])) not in held]


def _import(xero: ProviderSession, rows: list[dict[str, Any]]) -> dict[str, Any]:
    family = registry.importer_family("xero")
    if family is None:  # (Xero's contacts family is registered)
        raise InvalidInput("Xero contacts are not imported", field="provider")
    items = [
        importing.ProviderContact.from_dump(
            str(raw["ContactID"]),
            family.from_provider(raw) or {},
            provider_version=str(raw.get("UpdatedDateUTC") or ""),
        )
        for raw in rows
    ]
    settings = registry.effective_settings("xero", xero.settings)
    result = importing.run_import(
        xero.tenant_id,
        "xero",
        items,
        str(settings.get("import_contact_type") or "Client"),
        hub_records.save_record,
        company_id=xero.company_id or "",
    )
    return result.as_dict()
