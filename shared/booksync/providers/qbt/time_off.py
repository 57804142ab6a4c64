"""QuickBooks Time time off (timesheets on time-off codes) -> hub time off, in only.

Raw shape: a timesheet (providers/qbt/timesheets.py) whose jobcode is a time-off code,
a jobcode of type `pto` ("only allowed with a parent_id of 0", docs: Jobcodes). The
timesheets family reads them with every other timesheet; a timesheet whose user is
linked but whose jobcode is linked to no hub contact or work item is asked about here:
its jobcode is read by id once (and remembered: `pto` with its name, or not) and a
time-off one comes in as object type "pto_timesheet" (its own links), never held as
time waiting for a client.

Approved: QBT approves each user's time up to a date (the Users object's `approved_to`;
docs: Users "approved_to: Date up to which timesheets are approved"): time off dated on
or before it is approved, read from the user (by id) when the time off is read. Approval
moves without touching the timesheet, so unapproved time off is remembered (a cursor
row: timesheet -> user and date); when a read of users shows one whose `approved_to` now
covers some, those timesheets are read again (one call) and come in approved. Deleted in
QBT (`timesheets_deleted`): deleted in the hub.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from booksync.engine.seam import Change, Family, ProviderSession
from booksync.hub.kinds.time_off import TimeOff
from booksync.providers.qbt.changes import stamp
from booksync.providers.qbt.client import PAGE_LIMIT, QbtClient
from booksync.providers.qbt.common import PROVIDER, by_ids
from booksync.store import Cursor, Link, cursors, links

OBJECT_TYPE = "pto_timesheet"
CODES = "qbt.time_off_codes"  # cursor: {"pto": {jobcode id: name}, "other": [jobcode ids]}
PENDING = "qbt.time_off_pending"  # cursor: {timesheet id: {"user": QBT user id, "date"}}


def time_off_from_timesheet(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The hub content of a time-off timesheet whose user is resolved (`raw["_hub"]`)."""
    hub = raw.get("_hub") or {}
    if raw.get("on_the_clock") or not hub.get("user_id"):
        return None
    return TimeOff.model_validate(
        {
            "user_id": str(hub["user_id"]),
            "date": str(raw.get("date") or "")[:10],
            "duration_minutes": max(1, round(int(raw.get("duration") or 0) / 60)),
            "code_id": str(raw.get("jobcode_id")),
            "code_name": str(hub.get("code_name") or "")[:100],
            "notes": str(raw.get("notes") or "")[:2000],
            "approved": bool(hub.get("approved")),
        }
    ).model_dump(mode="json")


class TimeOffTimesheets(Family):
    """QBT time off -> hub time off (the timesheets family reads it: no source here)."""

    provider = PROVIDER
    kind = "time_off"
    object_type = OBJECT_TYPE
    managed_fields = (
        "user_id",
        "date",
        "duration_minutes",
        "code_id",
        "code_name",
        "notes",
        "approved",
    )
    adopts = True
    pushes = False

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return False  # in only

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return time_off_from_timesheet(raw)

    def deleted_content(self, current: dict[str, Any]) -> dict[str, Any] | None:
        return None  # time off deleted in QuickBooks Time is deleted in the hub


TIME_OFF = TimeOffTimesheets()


# ------------------------------------------------------------------ read with timesheets


def time_off_codes(session: ProviderSession, client: QbtClient, ids: set[str]) -> dict[str, str]:
    """Which of these jobcodes are time-off codes (id -> name): each read by id once."""
    conn_id = str(session.connection.connection_id)
    row = cursors.get(conn_id, CODES)
    known = json.loads(row.position) if row is not None and row.position else {}
    pto: dict[str, str] = dict(known.get("pto") or {})
    other: set[str] = set(known.get("other") or [])
    unknown = {i for i in ids if i not in pto and i not in other}
    if unknown:
        for jid, job in by_ids(client, "jobcodes", unknown).items():
            if job.get("type") == "pto":
                pto[jid] = str(job.get("name") or "")
            else:
                other.add(jid)
        state = {"pto": pto, "other": sorted(other)}
        cursors.save(Cursor(conn_id, CODES, position=json.dumps(state, sort_keys=True)))
    return {i: pto[i] for i in ids if i in pto}


def changes_of(
    session: ProviderSession,
    client: QbtClient,
    rows: list[dict[str, Any]],
    users: dict[str, Link],
    codes: dict[str, str],
) -> list[Change]:
    """The changes of time-off timesheets whose users are linked (`users`: QBT user id
    -> link), approved or not by their users' `approved_to` (read by id)."""
    if not rows:
        return []
    approved_to = {
        uid: str(u.get("approved_to") or "")
        for uid, u in by_ids(client, "users", {str(r["user_id"]) for r in rows}).items()
    }
    pending = _pending(session)
    out = []
    for raw in rows:
        tid, uid = str(raw["id"]), str(raw["user_id"])
        day = str(raw.get("date") or "")[:10]
        approved = bool(approved_to.get(uid)) and day <= approved_to[uid]
        if approved:
            pending.pop(tid, None)
        else:
            pending[tid] = {"user": uid, "date": day}
        out.append(_change(raw, links.hub_id_of(users[uid]), codes, approved))
    _save_pending(session, pending)
    return out


def reapproved(
    session: ProviderSession, client: QbtClient, users: list[dict[str, Any]]
) -> list[Change]:
    """Time off waiting for approval whose user (just read) is now approved past it: read
    again and returned approved. No waiting time off, no call."""
    if not any(u.get("approved_to") for u in users):
        return []  # no approval moved (nothing to read, not even what waits)
    pending = _pending(session)
    if not pending:
        return []
    due: list[str] = []
    for user in users:
        uid, to = str(user["id"]), str(user.get("approved_to") or "")
        due += [t for t, p in pending.items() if p["user"] == uid and to and p["date"] <= to]
    if not due:
        return []
    rows: list[dict[str, Any]] = []
    for start in range(0, len(due), PAGE_LIMIT):
        part = due[start : start + PAGE_LIMIT]
        rows += client.get_all("timesheets", {"ids": ",".join(part), "on_the_clock": "both"})
    for tid in due:
        pending.pop(tid, None)  # approved now, or deleted meanwhile
    _save_pending(session, pending)
    found = links.by_provider_ids(
        session.tenant_id, PROVIDER, {("user", str(r["user_id"])) for r in rows}
    )
    codes = time_off_codes(session, client, {str(r["jobcode_id"]) for r in rows})
    return [
        _change(raw, links.hub_id_of(found[("user", str(raw["user_id"]))]), codes, True)
        for raw in rows
        if ("user", str(raw["user_id"])) in found and str(raw["jobcode_id"]) in codes
    ]


def _change(raw: dict[str, Any], user_id: str, codes: dict[str, str], approved: bool) -> Change:
    modified = str(raw.get("last_modified") or "")
    hub = {
        "user_id": user_id,
        "code_name": codes.get(str(raw["jobcode_id"]), ""),
        "approved": approved,
    }
    return Change(
        object_type=OBJECT_TYPE,
        provider_id=str(raw["id"]),
        # approval moves without the timesheet: the version says both
        provider_version=f"{modified}|{'approved' if approved else 'open'}" if modified else None,
        raw={**raw, "_hub": hub},
        changed_at=stamp(modified) if modified else datetime.now(UTC),
    )


def _pending(session: ProviderSession) -> dict[str, dict[str, str]]:
    row = cursors.get(str(session.connection.connection_id), PENDING)
    return dict(json.loads(row.position)) if row is not None and row.position else {}


def _save_pending(session: ProviderSession, pending: dict[str, dict[str, str]]) -> None:
    conn_id = str(session.connection.connection_id)
    cursors.save(Cursor(conn_id, PENDING, position=json.dumps(pending, sort_keys=True)))
