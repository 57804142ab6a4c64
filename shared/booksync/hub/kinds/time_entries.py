"""Time entries: who worked how long on what, for which client or job, and how it is billed.

Kept in step both ways with QuickBooks Time (timesheets, the last six months), and sent to
QuickBooks Online once, on request, as time activities (api/time_routes.py). Money is a
Decimal, a duration whole minutes (QuickBooks Online takes a day at most: 23 h 55 min).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from booksync.errors import Conflict, InvalidInput
from booksync.hub.entity import Entity, ListFilter, adopt_own_creates, date_range
from booksync.store import Record, links
from booksync.store import connections as connection_rows
from booksync.store import records as store

KIND = "time_entry"
MAX_MINUTES = 24 * 60
KEPT_IN_STEP_DAYS = 183  # "only the last 6 months are kept in step with QBT"


class TimeEntry(BaseModel):
    """One stretch of work by one user."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=64)
    contact_id: str | None = Field(default=None, min_length=1, max_length=64)
    work_item_id: str | None = Field(default=None, min_length=1, max_length=64)
    date: date
    duration_minutes: int = Field(gt=0, le=MAX_MINUTES, description="1 to 1,440 minutes")
    start: datetime | None = Field(default=None, description="with its UTC offset")
    end: datetime | None = None
    notes: str = Field(default="", max_length=2000)
    task_type: str | None = Field(default=None, min_length=1, max_length=100)
    role: str | None = Field(default=None, min_length=1, max_length=100)
    billable: bool = False
    hourly_rate: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=4)
    approved: bool = False
    custom_fields: dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        Annotated[str, Field(min_length=1, max_length=100)],
    ] = Field(
        default_factory=dict,
        max_length=6,
        description="QuickBooks Time custom fields other than task type and role, by "
        "name: the Xero 'Item' and tracking categories a firm on Xero imports",
    )

    @model_validator(mode="after")
    def _span(self) -> TimeEntry:
        if (self.start is None) != (self.end is None):
            field = "end" if self.end is None else "start"
            raise ValueError(f"{field}: start and end go together (or neither is given)")
        if self.start is not None and self.end is not None:
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start: start and end carry a UTC offset")
            if self.end <= self.start:
                raise ValueError("end: the end is not after the start")
            span = int((self.end - self.start).total_seconds() // 60)
            if span != self.duration_minutes:
                raise ValueError(
                    f"duration_minutes: {self.duration_minutes} does not match start to end "
                    f"({span} minutes)"
                )
        return self


class QboSent(BaseModel):
    """Where a time entry stands with QuickBooks Online."""

    status: str  # unsent | sent | edited_after_send
    time_activity_id: str | None = None


def _qbo_view(tenant_id: str, found: list[Record]) -> dict[str, dict[str, Any]]:
    """Each entry's QBO status from its link: one batched read for the page."""
    ids = [str(r.record_id) for r in found]
    sent = links.get_links(tenant_id, "qbo", KIND, ids) if ids else {}
    out: dict[str, dict[str, Any]] = {}
    for record in found:
        link = sent.get(str(record.record_id))
        if link is None:
            out[str(record.record_id)] = {"qbo": {"status": "unsent"}}
            continue
        edited = int(link.synced_version) < int(record.version)
        out[str(record.record_id)] = {
            "qbo": {
                "status": "edited_after_send" if edited else "sent",
                "time_activity_id": str(link.provider_id),
            }
        }
    return out


def _check(
    tenant_id: str, record_id: str | None, content: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    user = store.get(tenant_id, "user", str(content["user_id"]))
    if user is None or (user.deleted and content["user_id"] != before.get("user_id")):
        raise InvalidInput(f"no user {content['user_id']}", field="user_id")
    for field, allowed in (("task_type", "task_types"), ("role", "roles")):
        value = content.get(field)
        if value and value != before.get(field):
            known = {str(v).casefold(): str(v) for v in user.data.get(allowed) or []}
            if value.casefold() not in known:
                raise InvalidInput(
                    f"{value!r} is not one of this user's {allowed.replace('_', ' ')} "
                    f"({', '.join(sorted(known.values())) or 'none'})",
                    field=field,
                )
            content = {**content, field: known[value.casefold()]}
    work_item_id = content.get("work_item_id")
    if work_item_id and work_item_id != before.get("work_item_id"):
        work = store.get(tenant_id, "work_item", work_item_id)
        if work is None or work.deleted:
            raise InvalidInput(f"no work item {work_item_id}", field="work_item_id")
        owner = str(work.data.get("contact_id"))
        if content.get("contact_id") not in (None, owner):
            raise InvalidInput(
                f"work item {work_item_id} belongs to contact {owner}", field="contact_id"
            )
        content = {**content, "contact_id": owner}
    contact_id = content.get("contact_id")
    if contact_id and contact_id != before.get("contact_id"):
        contact = store.get(tenant_id, "contact", contact_id)
        if contact is None or contact.deleted:
            raise InvalidInput(f"no contact {contact_id}", field="contact_id")
    if contact_id and not content.get("work_item_id") and record_id is None:
        _contact_level_time_allowed(tenant_id, contact_id)
    return content


def _contact_level_time_allowed(tenant_id: str, contact_id: str) -> None:
    """When a connection keeps work items apart from their contact (QuickBooks Time with
    contacts and work items: a client with jobs is a folder there, and refuses time), a
    contact that already has time on one of its work items takes no new contact-level time.
    Contact and work totals stay apart: nothing is rolled up."""
    qbt = connection_rows.get(tenant_id, "qbt", consistent=False)
    settings = (qbt.settings or {}) if qbt is not None else {}
    if (
        qbt is None
        or qbt.status == "disconnected"
        or settings.get("sync") != ("contacts_and_work_items")
    ):
        return
    with_time = []
    for key in store.keys_by_ref(tenant_id, "work_item", contact_id):
        work_id = key.split("#", 1)[1]
        if store.keys_by_ref(tenant_id, KIND, work_id, limit=1):
            work = store.get(tenant_id, "work_item", work_id, consistent=False)
            if work is not None and not work.deleted:
                with_time.append(f"{work.data.get('name')!r} ({work_id})")
    if with_time:
        raise Conflict(
            "this contact already has time on its work items "
            f"{', '.join(sorted(with_time))}: record the time on one of them (QuickBooks "
            "Time keeps a client with jobs as a folder that takes no time of its own)",
            field="work_item_id",
        )


def chosen(
    tenant_id: str,
    date_from: date,
    date_to: date,
    user_ids: list[str] | None = None,
    contact_ids: list[str] | None = None,
) -> list[Record]:
    """Live entries dated within [date_from, date_to] (by the date index), of these users
    and contacts (a work item's time counts for its contact), in date order."""
    keys = store.keys_between(tenant_id, KIND, date_from.isoformat(), date_to.isoformat())
    found = store.get_keys(tenant_id, keys, consistent=False)
    users, contacts = set(user_ids or ()), set(contact_ids or ())
    out = []
    for key in keys:
        record = found.get(key)
        if record is None or record.deleted:
            continue
        data = record.data or {}
        if users and data.get("user_id") not in users:
            continue
        if contacts and data.get("contact_id") not in contacts:
            continue
        out.append(record)
    return out


def _on_the_day(tenant_id: str, day: Any) -> list[str]:
    return store.keys_between(tenant_id, KIND, str(day)[:10], str(day)[:10]) if day else []


def _same_time(data: dict[str, Any], content: dict[str, Any]) -> bool:
    """Is the hub entry the one a timesheet carries (user, date, place, minutes, notes)?"""
    fields = ("user_id", "date", "contact_id", "work_item_id", "duration_minutes")
    if any(str(data.get(f) or "") != str(content.get(f) or "") for f in fields):
        return False
    return (data.get("notes") or "") == (content.get("notes") or "")


def _qbo_status(data: dict[str, Any], value: Any) -> bool:
    status = ((data.get("qbo") or {}).get("status")) or "unsent"
    return (status != "unsent") if value == "sent" else (status == "unsent")


def kept_in_step(data: dict[str, Any], today: date | None = None) -> bool:
    """Is the entry recent enough to be kept in step with QuickBooks Time?"""
    day = data.get("date")
    if not day:
        return False
    moment = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
    return moment >= (today or date.today()) - timedelta(days=KEPT_IN_STEP_DAYS)


ENTITY = Entity(
    kind=KIND,
    model=TimeEntry,
    path="time-entries",
    label="time entry",
    parents=("user", "contact", "work_item"),
    filters=(
        ListFilter("user_id", Annotated[str | None, Query(max_length=64)]),
        ListFilter("contact_id", Annotated[str | None, Query(max_length=64)]),
        ListFilter("work_item_id", Annotated[str | None, Query(max_length=64)]),
        *date_range("date"),
        ListFilter(
            "qbo",
            Annotated[
                str | None,
                Query(pattern="^(sent|unsent)$", description="sent to QuickBooks Online or not"),
            ],
            test=_qbo_status,
        ),
    ),
    indexed="work_item_id",
    dated="date",
    check=_check,
    # time QBT holds because we sent it (the reply lost, the poll before the retry) is
    # linked to its entry, never taken in as a second one: found by its date (the index)
    adopt=adopt_own_creates(KIND, lambda tenant, c: _on_the_day(tenant, c.get("date")), _same_time),
    annotate=_qbo_view,
    view_fields={"qbo": (QboSent | None, None)},
    group_of=lambda record_id, data: str(data.get("user_id") or record_id),
)
