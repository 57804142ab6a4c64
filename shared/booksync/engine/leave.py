"""QuickBooks Time's time-off codes linked to Xero's leave types (issue 15, "Time-off and
leave"): the firm chooses, per time-off code (a QBT jobcode of type `pto`), the Payroll
leave type its approved time off becomes in Xero.

`GET /v1/connections/xero/leave-mapping` lists both sides to choose from (QBT's PTO
jobcodes, Xero's leave types with whether each is paid) and the mapping as it stands;
`PUT` sets it after checking every id against both lists: an unknown or inactive one is
refused with its reason, nothing saved. A code mapped to an unpaid leave type is kept
but said so: unpaid leave is never exported (as the integration booksync replaces). The
mapping is the Xero connection's `leave_mapping` setting.
"""

from __future__ import annotations

from typing import Any

from booksync.engine.seam import ProviderSession
from booksync.errors import InvalidInput
from booksync.providers.qbt.client import QbtClient
from booksync.providers.xero.client import XeroClient


def choices(qbt: ProviderSession, xero: ProviderSession) -> dict[str, Any]:
    """Both sides' lists (one read each, paged) and the mapping as saved."""
    codes = [
        {"id": str(j["id"]), "name": str(j.get("name") or ""), "active": bool(j.get("active"))}
        for j in QbtClient(qbt).get_all("jobcodes", {"type": "pto", "active": "both"})
    ]
    types = [
        {
            "id": str(t["leaveTypeID"]),
            "name": str(t.get("name") or ""),
            "paid": bool(t.get("isPaidLeave")),
            "active": bool(t.get("isActive", True)),
        }
        for t in XeroClient(xero).leave_types()
    ]
    saved = dict((xero.settings or {}).get("leave_mapping") or {})
    return {
        "time_off_codes": sorted(codes, key=lambda c: c["name"].casefold()),
        "leave_types": sorted(types, key=lambda t: t["name"].casefold()),
        "mapping": _described(saved, codes, types),
    }


def checked(
    qbt: ProviderSession, xero: ProviderSession, wanted: dict[str, str | None]
) -> tuple[dict[str, str], dict[str, Any]]:
    """The mapping to save (a null leave type removes a code's mapping) over the saved
    one, every id checked against both lists; raises InvalidInput naming each bad one."""
    lists = choices(qbt, xero)
    codes = {c["id"]: c for c in lists["time_off_codes"]}
    types = {t["id"]: t for t in lists["leave_types"]}
    problems = []
    mapping = {m["time_off_code"]: m["leave_type"] for m in lists["mapping"]}
    for code, leave in wanted.items():
        if code not in codes:
            problems.append(f"{code}: not a QuickBooks Time time-off code")
        elif not codes[code]["active"] and leave is not None:
            problems.append(f"{code} ({codes[code]['name']}): archived in QuickBooks Time")
        elif leave is None:
            mapping.pop(code, None)
        elif leave not in types:
            problems.append(f"{code}: {leave} is not a Xero leave type")
        elif not types[leave]["active"]:
            problems.append(f"{code}: the leave type {types[leave]['name']!r} is inactive")
        else:
            mapping[code] = leave
    if problems:
        raise InvalidInput("; ".join(problems), field="mapping")
    answer = {
        **lists,
        "mapping": _described(mapping, lists["time_off_codes"], lists["leave_types"]),
    }
    return mapping, answer


def _described(
    mapping: dict[str, str], codes: list[dict[str, Any]], types: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    by_code = {c["id"]: c for c in codes}
    by_type = {t["id"]: t for t in types}
    out = []
    for code, leave in sorted(mapping.items()):
        kind = by_type.get(leave, {})
        row = {
            "time_off_code": code,
            "time_off_name": by_code.get(code, {}).get("name"),
            "leave_type": leave,
            "leave_type_name": kind.get("name"),
            "paid": kind.get("paid"),
        }
        if kind and not kind.get("paid"):
            row["note"] = "unpaid leave: its time off stays in QuickBooks Time, never exported"
        out.append(row)
    return out
