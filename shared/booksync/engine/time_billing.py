"""Invoices from tracked time (issue 15): a firm whose hours are in QuickBooks Time and whose
books are in Xero bills the billable, approved time of a period as one draft Xero sales
invoice per customer, as the QBT-Xero integration booksync replaces does.

`POST /v1/connections/xero/invoice-time` {date_from, date_to, dry_run}. The time is the
hub's time entries of the period that QBT holds (linked timesheets); each is billed when
- billable: the entry says so, or its QBT job (jobcode) is billable;
- approved: the entry says so, or its date is on or before its QBT user's `approved_to`;
- it has a customer that is (or will be, by the contacts push) a Xero contact;
- it names a Xero item that is sold (its "Item" custom field, imported from Xero's items:
  engine/qbt_from_xero.py), or, when the QBT connection does not `require_item`, it has a
  price without one (the entry's hourly rate, else the job's billable rate).
Anything else is listed with the reason, not billed.

Each customer's time becomes one hub invoice (status draft, `time_entry_ids`), which the
Xero invoices push (providers/xero/invoices.py) sends as a DRAFT ACCREC invoice: one line
per item, price and tracking (hours x the item's sale price, the time's notes as the
description, tracking from the custom fields named as Xero's tracking categories).

Billed once: before its invoice is written, each entry is marked with the invoice's id by a
conditional write (store/records.py `claim`); a second run, a retry, or a run over an
overlapping period finds the marks and bills nothing twice. An invoice's id comes from
its entries, so a run that stopped between the marks and the invoice finishes the same
invoice next time. Deleting the (draft) invoice in the hub, or voiding it, frees its time
to be billed again. Reads: the period's entries by the date index, their marks, links and
records by key; QBT users and jobcodes by id (a call per 50); Xero Items, TrackingCategories
and the Organisation once each.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from booksync.engine.qbt_from_xero import ITEM_FIELD
from booksync.engine.seam import ProviderSession
from booksync.hub import records as hub_records
from booksync.hub.kinds.invoices import Invoice
from booksync.hub.kinds.time_entries import KIND as TIME_KIND
from booksync.hub.kinds.time_entries import TimeEntry, chosen
from booksync.providers import registry
from booksync.providers.qbt.client import QbtClient
from booksync.providers.qbt.common import by_ids
from booksync.providers.xero.client import XeroClient
from booksync.providers.xero.invoices import contact_wanted
from booksync.store import Record, links
from booksync.store import records as store

MARK = "time_billed"  # a time entry's mark: the invoice it is billed on
NAMESPACE = uuid.UUID("5b0c3c1e-6a53-4c55-9d55-2f3e1f7b9a10")
MAX_DESCRIPTION = 4000
HOUR = Decimal(60)


@dataclass
class _Line:
    item: dict[str, Any] | None
    rate: Decimal
    tracking: dict[str, str]
    minutes: int = 0
    notes: list[str] = field(default_factory=list)

    def as_hub(self) -> dict[str, Any]:
        name = str(self.item.get("Name") or self.item.get("Code")) if self.item else "Time"
        unique = list(dict.fromkeys(n for n in self.notes if n))
        out: dict[str, Any] = {
            "description": ("; ".join(unique) or name)[:MAX_DESCRIPTION],
            "quantity": str(_hours(self.minutes)),
            "rate": str(self.rate),
        }
        if self.item is not None:
            out["work_type"] = str(self.item.get("Code") or self.item.get("Name"))
        if self.tracking:
            out["tracking"] = dict(self.tracking)
        return out


@dataclass
class _Invoice:
    invoice_id: str
    contact_id: str
    time: list[tuple[str, TimeEntry, _Line]] = field(default_factory=list)  # id, entry, line
    replacing: dict[str, str] = field(default_factory=dict)  # entry -> a freed mark's owner

    @property
    def entries(self) -> list[str]:
        return [rid for rid, _, _ in self.time]

    def lines(self) -> list[_Line]:
        """One line per item, price and tracking, in the order the time first names it."""
        out: dict[tuple[Any, ...], _Line] = {}
        for _, entry, line in self.time:
            item_id = line.item.get("ItemID") if line.item else None
            key = (item_id, line.rate, tuple(sorted(line.tracking.items())))
            held = out.setdefault(key, _Line(line.item, line.rate, line.tracking))
            held.minutes += entry.duration_minutes
            held.notes.append(entry.notes)
        return list(out.values())


def invoice_time(
    qbt: ProviderSession, xero: ProviderSession, first: date, last: date, *, dry_run: bool
) -> dict[str, Any]:
    """Bill the period's billable, approved QBT time (see the module's docstring)."""
    tenant = xero.tenant_id
    found = chosen(tenant, first, last)
    ids = [str(r.record_id) for r in found]
    marks = _marks(tenant, ids)
    billed_on, freed = _live_invoices(tenant, set(marks.values()))
    # QBT is asked only about time not billed yet (a rerun of a billed period: nothing)
    facts = _QbtFacts(qbt, [r for r in found if marks.get(str(r.record_id)) not in billed_on])
    market = _XeroFacts(xero)
    require_item = bool(registry.effective_settings("qbt", qbt.settings).get("require_item"))

    invoices: dict[str, _Invoice] = {}
    fresh: dict[str, _Invoice] = {}  # by contact: the time no earlier run began to bill
    skipped: list[dict[str, Any]] = []
    already: list[dict[str, Any]] = []
    contacts = store.get_many(
        tenant,
        [("contact", str(r.data.get("contact_id"))) for r in found if r.data.get("contact_id")],
    )
    in_xero = links.get_links(
        tenant, "xero", "contact", sorted({str(r.data.get("contact_id")) for r in found})
    )
    for record in found:
        rid = str(record.record_id)
        owner = marks.get(rid)
        if owner is not None and owner in billed_on:
            number = billed_on[owner]
            already.append({"time_entry_id": rid, "invoice_id": owner, "number": number})
            continue
        entry = TimeEntry.model_validate(record.data)
        why, line = _billable(entry, rid, facts, market, contacts, in_xero, xero, require_item)
        if why is not None or line is None:
            skipped.append({"time_entry_id": rid, "reason": why})
            continue
        contact = str(entry.contact_id)
        if owner is not None and owner not in freed:
            group = invoices.setdefault(owner, _Invoice(owner, contact))  # finish it
        else:
            group = fresh.setdefault(contact, _Invoice("", contact))
            if owner is not None:
                group.replacing[rid] = owner
        group.time.append((rid, entry, line))
    for contact, group in fresh.items():
        # from its time (and the invoices it replaces): a rerun after a stop is the same
        seed = f"{tenant}:{contact}:{sorted(group.entries)}:{sorted(set(group.replacing.values()))}"
        group.invoice_id = str(uuid.uuid5(NAMESPACE, seed))
        invoices[group.invoice_id] = group

    currency = market.currency()
    made = []
    for group in sorted(invoices.values(), key=lambda g: g.contact_id):
        if not dry_run:
            _claim(tenant, group, skipped)
            if not group.entries:
                continue
        content = _content(group, last, currency)
        if not dry_run:
            content = hub_records.check_references(tenant, "invoice", None, content)
            hub_records.save_record(tenant, "invoice", group.invoice_id, content, origin="practice")
        made.append(
            {
                "invoice_id": group.invoice_id,
                "number": content["number"],
                "contact_id": group.contact_id,
                "contact_name": _name(contacts.get(f"contact#{group.contact_id}")),
                "lines": content["lines"],
                "time_entry_ids": sorted(group.entries),
                "hours": str(_hours(sum(e.duration_minutes for _, e, _ in group.time))),
            }
        )
    return {
        "dry_run": dry_run,
        "date_from": first.isoformat(),
        "date_to": last.isoformat(),
        # each goes to Xero as a draft sales invoice by the invoices push
        ("would_create" if dry_run else "created"): made,
        "not_billed": skipped,
        "already_billed": already,
    }


# ----------------------------------------------------------------------------- marks


def _marks(tenant: str, ids: list[str]) -> dict[str, str]:
    rows = store.get_many(tenant, [(MARK, i) for i in ids], consistent=False)
    return {str(r.record_id): str((r.data or {}).get("owner")) for r in rows.values()}


def _live_invoices(tenant: str, owners: set[str]) -> tuple[dict[str, str], set[str]]:
    """Invoice id -> number of the invoices that hold their time, and the invoices
    deleted or voided in the hub (their time may be billed again). An owner in neither
    was marked by a run that stopped before writing the invoice: it is finished now."""
    rows = store.get_many(tenant, [("invoice", o) for o in sorted(owners)])
    live: dict[str, str] = {}
    freed: set[str] = set()
    for owner in owners:
        row = rows.get(f"invoice#{owner}")
        if row is None:
            continue
        if row.deleted or (row.data or {}).get("status") == "void":
            freed.add(owner)
        else:
            live[owner] = str((row.data or {}).get("number"))
    return live, freed


def _claim(tenant: str, group: _Invoice, skipped: list[dict[str, Any]]) -> None:
    """Mark each entry as billed on the group's invoice; one another run marked first is
    left to it (listed), so no time is on two invoices."""
    kept = []
    for rid, entry, line in group.time:
        owner = store.claim(tenant, MARK, rid, group.invoice_id, replacing=group.replacing.get(rid))
        if owner == group.invoice_id:
            kept.append((rid, entry, line))
        else:
            skipped.append({"time_entry_id": rid, "reason": f"billed meanwhile on {owner}"})
    group.time = kept


# ----------------------------------------------------------------------------- facts


class _QbtFacts:
    """What QuickBooks Time says of the entries: their timesheet links, their users'
    approval dates and their jobs' billable flags and rates (read by id)."""

    def __init__(self, session: ProviderSession, found: list[Record]) -> None:
        tenant = session.tenant_id
        ids = [str(r.record_id) for r in found]
        self.sheets = links.get_links(tenant, "qbt", TIME_KIND, ids)
        datas = [r.data or {} for r in found]
        self.user_links = links.get_links(
            tenant, "qbt", "user", sorted({d["user_id"] for d in datas})
        )
        self.work_links = links.get_links(
            tenant,
            "qbt",
            "work_item",
            sorted({d["work_item_id"] for d in datas if d.get("work_item_id")}),
        )
        self.contact_links = links.get_links(
            tenant,
            "qbt",
            "contact",
            sorted({d["contact_id"] for d in datas if d.get("contact_id")}),
        )
        client = QbtClient(session)
        user_ids = {str(v.provider_id) for v in self.user_links.values()}
        job_ids = {
            str(v.provider_id) for v in (*self.work_links.values(), *self.contact_links.values())
        }
        self.users = by_ids(client, "users", user_ids) if user_ids else {}
        self.jobs = by_ids(client, "jobcodes", job_ids) if job_ids else {}

    def job(self, entry: TimeEntry) -> dict[str, Any]:
        link = (self.work_links.get(entry.work_item_id or "") if entry.work_item_id else None) or (
            self.contact_links.get(entry.contact_id or "")
        )
        return self.jobs.get(str(link.provider_id), {}) if link is not None else {}

    def approved_to(self, entry: TimeEntry) -> str:
        link = self.user_links.get(entry.user_id)
        user = self.users.get(str(link.provider_id), {}) if link is not None else {}
        return str(user.get("approved_to") or "")


class _XeroFacts:
    def __init__(self, session: ProviderSession) -> None:
        self.client = XeroClient(session)
        self._items: dict[str, dict[str, Any]] | None = None
        self._categories: dict[str, str] | None = None

    def item(self, name: str) -> dict[str, Any] | None:
        if self._items is None:
            self._items = {}
            for item in self.client.listed("Items"):
                if item.get("IsSold"):
                    for key in (item.get("Name"), item.get("Code")):
                        if key:
                            self._items.setdefault(str(key).casefold(), item)
        return self._items.get(name.casefold())

    def category(self, name: str) -> str | None:
        if self._categories is None:
            self._categories = {
                str(c["Name"]).casefold(): str(c["Name"])
                for c in self.client.listed("TrackingCategories")
                if str(c.get("Status", "ACTIVE")).upper() == "ACTIVE"
            }
        return self._categories.get(name.casefold())

    def currency(self) -> str:
        return str(self.client.organisation().get("BaseCurrency") or "USD")


def _billable(
    entry: TimeEntry,
    rid: str,
    qbt: _QbtFacts,
    xero: _XeroFacts,
    contacts: dict[str, Record],
    in_xero: dict[str, Any],
    session: ProviderSession,
    require_item: bool,
) -> tuple[str | None, _Line | None]:
    """Why the entry is not billed, or the line it goes on."""
    if rid not in qbt.sheets:
        return "not in QuickBooks Time (no linked timesheet yet)", None
    job = qbt.job(entry)
    if not (entry.billable or job.get("billable")):
        return "not billable (nor is its QuickBooks Time job)", None
    approved_to = qbt.approved_to(entry)
    if not (entry.approved or (approved_to and entry.date.isoformat() <= approved_to)):
        return (
            "not approved in QuickBooks Time (its user's time is approved to "
            f"{approved_to or 'no date'})",
            None,
        )
    contact = contacts.get(f"contact#{entry.contact_id}") if entry.contact_id else None
    if contact is None or contact.deleted:
        return "no customer: the time is on no contact", None
    if entry.contact_id not in in_xero and not contact_wanted(
        registry.effective_settings("xero", session.settings), dict(contact.data or {})
    ):
        return "the customer does not sync to Xero (the Xero connection's settings)", None
    name = entry.custom_fields.get(ITEM_FIELD)
    item = xero.item(name) if name else None
    if name and item is None:
        return f"the item {name!r} is not a Xero item that is sold", None
    if item is None and require_item:
        return "no item, and the firm requires one on timesheets", None
    price = ((item or {}).get("SalesDetails") or {}).get("UnitPrice")
    if item is not None and price is None:
        return f"the Xero item {name!r} has no sale price", None
    rate = Decimal(str(price)) if item is not None else entry.hourly_rate
    if rate is None and job.get("billable_rate"):
        rate = Decimal(str(job["billable_rate"]))
    if rate is None or rate <= 0:
        return "no price: no item, no hourly rate and no billable rate on its job", None
    tracking = {}
    for field_name, value in sorted(entry.custom_fields.items()):
        category = xero.category(field_name) if field_name != ITEM_FIELD else None
        if category is not None:
            tracking[category] = value
    return None, _Line(item, rate, dict(list(tracking.items())[:2]))


def _content(group: _Invoice, last: date, currency: str) -> dict[str, Any]:
    body = {
        "number": f"TIME-{group.invoice_id[:8].upper()}",
        "contact_id": group.contact_id,
        "issue_date": last.isoformat(),
        "currency": currency,
        "lines": [line.as_hub() for line in group.lines()],
        "status": "draft",
        "time_entry_ids": sorted(group.entries),
    }
    return Invoice.model_validate(body).model_dump(mode="json")


def _hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / HOUR).quantize(Decimal("0.0001"))


def _name(contact: Record | None) -> str | None:
    return str((contact.data or {}).get("name")) if contact is not None else None
