"""QBO time activities <- hub time entries: sent once, on request (api/time_routes.py).

Raw shape (PROVIDERS.md 1.3 TimeActivity): `NameOf` Employee (or Vendor) with `EmployeeRef`,
`TxnDate`, `Hours` + `Minutes` (or StartTime/EndTime: both -> 6390), `CustomerRef`,
`ItemRef`, `Description`, `BillableStatus` Billable|NotBillable (Billable needs CustomerRef,
6310, and HourlyRate, 6330). Not in CDC: booksync never reads time back from QBO.

Sent once: a create only goes when the firm sends (the message is `explicit`); the link
is written with the TimeActivity id as QBO answers, and a create whose reply was lost is
found again (requestid for a single create; else by what it wrote: date, employee,
customer, hours and description, among activities no link names). An entry edited after
it was sent is not sent again unless the connection's `update_sent_time_activities` is on;
then it updates the activity with its SyncToken, and deleting the entry deletes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from booksync.engine.seam import Checked, ProviderSession, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.time_entries import TimeEntry
from booksync.providers.qbo.changes import parse_time
from booksync.providers.qbo.client import QboClient, quote
from booksync.providers.qbo.namelist import NameListFamily, Planned, WaitForParent, ref
from booksync.store import Record, links
from booksync.store import records as hub_records

MAX_MINUTES = 23 * 60 + 55  # QBO refuses a time activity of a whole day or more (U: 24 h)
ROUNDING = ("none", "up", "down", "nearest")
ROUNDING_STEPS = (6, 10, 15, 30)

# ----------------------------------------------------------------------- mapper


def rounded_minutes(minutes: int, mode: str, step: int) -> int:
    """A duration after the firm's rounding: none, or up/down/to the nearest `step`."""
    if mode == "none" or step <= 0:
        return minutes
    if mode == "up":
        return int(math.ceil(minutes / step) * step)
    if mode == "down":
        return max(step, int(math.floor(minutes / step) * step))
    return max(step, int(math.floor(minutes / step + 0.5) * step))


def activity_from_entry(
    entry: TimeEntry,
    employee_id: str,
    customer_id: str | None,
    item_id: str | None,
    minutes: int,
) -> dict[str, Any]:
    """A TimeActivity body (no Id/SyncToken)."""
    body: dict[str, Any] = {
        "NameOf": "Employee",
        "EmployeeRef": {"value": employee_id},
        "TxnDate": entry.date.isoformat(),
        "Hours": minutes // 60,
        "Minutes": minutes % 60,
        "Description": entry.notes,
        "BillableStatus": "Billable" if entry.billable else "NotBillable",
    }
    if customer_id:
        body["CustomerRef"] = {"value": customer_id}
    if item_id:
        body["ItemRef"] = {"value": item_id}
    if entry.billable:
        # the hub keeps money as Decimal; JSON carries a number (4 places at most)
        body["HourlyRate"] = float(entry.hourly_rate or Decimal(0))
    return body


def activity_fingerprint(body: dict[str, Any]) -> str:
    """What identifies the activity's content as QBO holds it."""
    return content_hash(
        {
            "date": str(body.get("TxnDate") or ""),
            "employee": ref(body, "EmployeeRef"),
            "customer": ref(body, "CustomerRef"),
            "minutes": int(body.get("Hours") or 0) * 60 + int(body.get("Minutes") or 0),
            "description": str(body.get("Description") or ""),
            "billable": str(body.get("BillableStatus") or ""),
        }
    )


def _entry(content: Any) -> TimeEntry:
    return content if isinstance(content, TimeEntry) else TimeEntry.model_validate(content)


# ----------------------------------------------------------------------- family


class TimeActivities(NameListFamily):
    kind = "time_entry"
    object_type = "TimeActivity"
    entity = "TimeActivity"
    on_request = True  # a create goes only when the firm sends it
    deletes = True
    settings = {
        "update_sent_time_activities": (
            bool,
            Field(
                default=False,
                description="an entry edited after it was sent updates its time activity",
            ),
        ),
        "time_rounding": (
            Literal["none", "up", "down", "nearest"],
            Field(default="none", description="rounding of durations sent to QBO"),
        ),
        "time_rounding_minutes": (
            Literal[6, 10, 15, 30],
            Field(default=15, description="the step durations are rounded to"),
        ),
        "work_type_services": (
            dict[str, str],
            Field(
                default_factory=dict,
                description="work type -> QBO service (Item Id) for time activities",
            ),
        ),
        "create_missing_customers": (
            bool,
            Field(default=False, description="send a contact not yet in QBO before its time"),
        ),
    }

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        # what the outbox sends by itself: edits of sent entries, when asked for; a first
        # send is the firm's act (on_request)
        return bool(settings.get("update_sent_time_activities"))

    def intent(self, item: PushItem) -> dict[str, Any]:
        entry = _entry(item.content)
        return {"date": entry.date.isoformat(), "notes": entry.notes}

    def refusals(self, session: ProviderSession, records: list[Record]) -> Checked:
        """The time tracker's rules, checked before a send (one link read per kind, one
        Preferences read for the closing date): a day or more, billable without a client,
        a user matched to no employee, a date in a closed period, a client not in QBO
        (sent first when the firm creates missing customers)."""
        checked = Checked()
        if not records:
            return checked
        entries = {str(r.record_id): _entry(r.data) for r in records}
        places = _Places.read(session, list(entries.values()))
        closed = closing_date(QboClient(session))
        create_missing = bool(session.settings.get("create_missing_customers"))
        for rid, entry in entries.items():
            failure = _rule_refusal(entry, places, closed)
            if failure is None:
                _, missing = places.customer_of(entry, session.settings)
                if missing and create_missing:
                    checked.parents += [m for m in missing if m not in checked.parents]
                elif missing:
                    failure = SyncFailure(
                        "qbo.customer_not_in_qbo",
                        f"{missing[0][0].replace('_', ' ')} {missing[0][1]} has no "
                        "QuickBooks customer yet",
                    )
            if failure is not None:
                checked.refused[rid] = failure
        return checked

    def read_context(self, session: ProviderSession, items: list[PushItem]) -> _Places:
        return _Places.read(session, [_entry(i.content) for i in items])

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str], context: Any = None
    ) -> tuple[dict[str, Any], str]:
        if item.record.deleted:
            return {}, "deleted"  # a delete sends only the Id and SyncToken
        entry = _entry(item.content)
        places = context if isinstance(context, _Places) else _Places.read(session, [entry])
        failure = _rule_refusal(entry, places, None)
        if failure is not None:
            raise failure
        settings = session.settings
        customer, missing = places.customer_of(entry, settings)
        if missing:
            if settings.get("create_missing_customers"):
                raise WaitForParent(missing[0][1])  # sent first by the send
            raise SyncFailure(
                "qbo.customer_not_in_qbo",
                f"{missing[0][0].replace('_', ' ')} {missing[0][1]} has no QuickBooks customer yet",
            )
        employee = places.employees[entry.user_id]
        work = places.works.get(entry.work_item_id or "")
        work_type = str((work.data or {}).get("work_type") or "") if work is not None else ""
        item_id = (settings.get("work_type_services") or {}).get(work_type) or None
        minutes = rounded_minutes(
            entry.duration_minutes,
            str(settings.get("time_rounding") or "none"),
            int(settings.get("time_rounding_minutes") or 15),
        )
        body = activity_from_entry(entry, employee, customer, item_id, minutes)
        return body, activity_fingerprint(body)

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        return activity_fingerprint(raw)

    def find_created(self, client: QboClient, tried: list[Planned]) -> None:
        """The activities lost replies made, by what each try wrote (its date and
        description, for the entry's employee) and made after it was sent, among those no
        entry links: one paged query over the tries' dates (not one per date: a batch's
        dozens of look-ups would pass QBO's 10 requests a second). The entry may have
        changed since (an edit between tries): a found one is brought up to date, not made
        again."""
        days = sorted(
            {str(s.get("date")) for p in tried for s in p.item.sent_before} - {"None", ""}
        )
        if not days:
            return
        span = f"TxnDate >= {quote(days[0])} AND TxnDate <= {quote(days[-1])}"
        mine = [p.item.record.record_id for p in tried]
        found = self.unlinked(client, client.query(self.entity, span), mine)
        for day in days:
            rows = [r for r in found if str(r.get("TxnDate")) == day]
            for p in tried:
                for sent in p.item.sent_before:
                    if str(sent.get("date")) != day:
                        continue
                    match = next((r for r in rows if _made_by(r, sent, p.body)), None)
                    if match is not None:
                        p.target = match
                        rows.remove(match)
                        found.remove(match)
                        break


@dataclass
class _Places:
    """The QBO ids an entry's time goes to, read for a set of entries at once."""

    employees: dict[str, str]  # user id -> Employee Id
    customers: dict[tuple[str, str], str]  # (contact|work_item, hub id) -> Customer Id
    works: dict[str, Record]  # work item id -> its hub record

    @classmethod
    def read(cls, session: ProviderSession, entries: list[TimeEntry]) -> _Places:
        tenant = session.tenant_id
        users = {e.user_id for e in entries}
        contacts = {e.contact_id for e in entries if e.contact_id}
        works = {e.work_item_id for e in entries if e.work_item_id}
        customers: dict[tuple[str, str], str] = {}
        for kind, ids in (("contact", contacts), ("work_item", works)):
            for hub_id, link in links.get_links(tenant, "qbo", kind, sorted(ids)).items():
                customers[(kind, hub_id)] = str(link.provider_id)
        stored = hub_records.get_many(tenant, [("work_item", w) for w in works], consistent=False)
        return cls(
            employees={
                hub_id: str(link.provider_id)
                for hub_id, link in links.get_links(tenant, "qbo", "user", sorted(users)).items()
            },
            customers=customers,
            works={str(r.record_id): r for r in stored.values()},
        )

    def customer_of(
        self, entry: TimeEntry, settings: dict[str, Any]
    ) -> tuple[str | None, list[tuple[str, str]]]:
        """The Customer Id the time goes to (the job's sub-customer when work items are
        sub-customers, else the client's), and the records missing in QBO for it."""
        if entry.work_item_id and settings.get("work_items_as_sub_customers"):
            job = self.customers.get(("work_item", entry.work_item_id))
            if job is not None:
                return job, []
            missing = [("work_item", entry.work_item_id)]
            if entry.contact_id and ("contact", entry.contact_id) not in self.customers:
                missing.insert(0, ("contact", entry.contact_id))
            return None, missing
        if entry.contact_id:
            client = self.customers.get(("contact", entry.contact_id))
            return (client, []) if client else (None, [("contact", entry.contact_id)])
        return None, []


def _rule_refusal(entry: TimeEntry, places: _Places, closed: date | None) -> SyncFailure | None:
    if entry.duration_minutes > MAX_MINUTES:
        hours, minutes = divmod(entry.duration_minutes, 60)
        return SyncFailure("qbo.time_too_long", f"{hours} h {minutes:02d} min")
    if entry.billable and not (entry.contact_id or entry.work_item_id):
        return SyncFailure("qbo.billable_without_customer", "billable, with no client or job")
    if entry.user_id not in places.employees:
        return SyncFailure(
            "qbo.employee_not_matched",
            f"user {entry.user_id} is not matched to a QuickBooks employee",
        )
    if closed is not None and entry.date <= closed:
        return SyncFailure(
            "qbo.period_closed",
            f"the books are closed up to {closed.isoformat()}; the entry is dated "
            f"{entry.date.isoformat()}",
        )
    return None


def closing_date(client: QboClient) -> date | None:
    """The company's closing date (Preferences AccountingInfoPrefs.BookCloseDate), if set."""
    rows = client.query("Preferences")
    value = ((rows[0] if rows else {}).get("AccountingInfoPrefs") or {}).get("BookCloseDate")
    return date.fromisoformat(str(value)[:10]) if value else None


def _made_by(row: dict[str, Any], sent: dict[str, Any], body: dict[str, Any]) -> bool:
    if str(row.get("Description") or "") != str(sent.get("notes") or ""):
        return False
    if ref(row, "EmployeeRef") != ref(body, "EmployeeRef"):
        return False
    made = str((row.get("MetaData") or {}).get("CreateTime") or "")
    at = str(sent.get("at") or "")
    if made and at:
        # a minute's slack for the two clocks
        return (parse_time(made) - parse_time(at)).total_seconds() >= -60
    return True


TIME_ACTIVITIES = TimeActivities()
