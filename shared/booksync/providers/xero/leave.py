"""Hub time off -> Xero Payroll UK leave applications (employee leave), one way.

Raw shape (xero-python `payrolluk` EmployeeLeave, LeavePeriod; Xero-OpenAPI
`xero-payroll-uk.yaml`): `POST /payroll.xro/2.0/Employees/{EmployeeID}/Leave`
`{"leaveTypeID","description" (at most 50),"startDate","endDate","periods":[{
"periodStartDate","periodEndDate","numberOfUnits"}]}` answers `{"leave": {"leaveID", ...,
"periods": [{..., "periodStatus"}], "updatedDateUTC"}}`; `PUT .../Leave/{LeaveID}` takes it
whole; `DELETE .../Leave/{LeaveID}` removes it. POST and PUT carry an Idempotency-Key.

- What goes: approved time off (hub/kinds/time_off.py) whose time-off code the firm mapped
  to a Xero leave type (`leave_mapping`, PUT /v1/connections/xero/leave-mapping) that is
  paid: the unpaid types are kept in `unpaid_leave_types` when the mapping is saved, and
  their time off is never exported (as the integration booksync replaces).
- For whom: the Payroll UK employee the hub user is linked to (providers/xero/employees.py);
  a user with none is `xero.employee_not_linked`.
- Units: the time off's hours in one period, the Monday-to-Sunday week holding its day.
  Xero splits leave by the employee's pay periods and works out the units of a period that
  is not one of them itself ("Using incorrect period StartDate and EndDate will result in
  automatic computation", EmployeeLeave.periods): a firm on weekly pay keeps the hours QBT
  recorded; another gets Xero's count for the day.
- Edited in QBT: the application is replaced (PUT); deleted: removed (DELETE). Leave in a
  pay period already paid is refused by Xero ("... pay period that has already been
  paid", classified in client.py): `xero.leave_period_paid`, with what to do.
- A create whose reply was lost is found among the employee's applications by its leave
  type, dates and description, among those no link names.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field

from booksync.engine.seam import Family, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.time_off import TimeOff
from booksync.providers.xero.client import XeroClient
from booksync.store import links

DESCRIPTION_MAX = 50  # EmployeeLeave.description "(max length = 50)"


def leave_type_of(settings: dict[str, Any], data: dict[str, Any]) -> str | None:
    """The paid Xero leave type the time off's code is mapped to (None: it stays in QBT)."""
    leave = (settings.get("leave_mapping") or {}).get(str(data.get("code_id") or ""))
    if not leave or leave in set(settings.get("unpaid_leave_types") or ()):
        return None
    return str(leave)


def leave_from(time_off: TimeOff, leave_type: str) -> dict[str, Any]:
    """The EmployeeLeave body of one day's time off."""
    day = time_off.date
    monday = day - timedelta(days=day.weekday())
    hours = (Decimal(time_off.duration_minutes) / Decimal(60)).quantize(Decimal("0.01"))
    description = time_off.notes or time_off.code_name or "Time off"
    return {
        "leaveTypeID": leave_type,
        "description": description[:DESCRIPTION_MAX],
        "startDate": day.isoformat(),
        "endDate": day.isoformat(),
        "periods": [
            {
                "periodStartDate": monday.isoformat(),
                "periodEndDate": (monday + timedelta(days=6)).isoformat(),
                "numberOfUnits": float(hours),
            }
        ],
    }


def _same_leave(found: dict[str, Any], body: dict[str, Any]) -> bool:
    return bool(
        str(found.get("leaveTypeID")) == body["leaveTypeID"]
        and str(found.get("startDate") or "")[:10] == body["startDate"]
        and str(found.get("endDate") or "")[:10] == body["endDate"]
        and str(found.get("description") or "") == body["description"]
    )


class EmployeeLeave(Family):
    """Approved, paid time off -> Xero leave applications."""

    provider = "xero"
    kind = "time_off"
    object_type = "EmployeeLeave"
    max_batch = 10  # one call each: Payroll UK has no batch write
    settings = {
        "unpaid_leave_types": (
            list[str],
            Field(
                default_factory=list,
                description="Xero leave types that are unpaid (kept when the leave mapping "
                "is saved): their time off is never exported",
            ),
        ),
    }

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return bool(data.get("approved")) and leave_type_of(settings, data) is not None

    def intent(self, item: PushItem) -> dict[str, Any]:
        entry = _time_off(item.content)
        return {"user": entry.user_id, "date": entry.date.isoformat()}

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = XeroClient(session)
        users = sorted({_time_off(i.content).user_id for i in items})
        employees = links.get_links(session.tenant_id, "xero", "user", users)
        results: list[Pushed | Exception] = []
        for item in items:
            try:
                results.append(self._one(session, client, item, employees))
            except SyncFailure as failure:
                results.append(failure)
        return results

    def _one(
        self,
        session: ProviderSession,
        client: XeroClient,
        item: PushItem,
        employees: dict[str, Any],
    ) -> Pushed:
        entry = _time_off(item.content)
        employee = employees.get(entry.user_id)
        if employee is None:
            raise SyncFailure(
                "xero.employee_not_linked",
                f"user {entry.user_id} has no linked Xero payroll employee",
            )
        emp_id = str(employee.provider_id)
        rid = str(item.record.record_id)
        if item.record.deleted:
            if item.link is not None:
                client.delete_leave(emp_id, str(item.link.provider_id))
            return Pushed(rid, str(item.link.provider_id if item.link else ""), None, "deleted")
        leave_type = leave_type_of(session.settings, item.record.data or {})
        if leave_type is None:
            raise SyncFailure(
                "xero.validation", "the time-off code is not mapped to a paid Xero leave type"
            )
        body = leave_from(entry, leave_type)
        leave_id = str(item.link.provider_id) if item.link is not None else None
        if leave_id is None and item.attempted_before:
            leave_id = self._lost_create(session, client, emp_id, body)
        saved = client.save_leave(emp_id, leave_id, body, item.idempotency_key)
        return Pushed(
            rid,
            str(saved.get("leaveID") or leave_id),
            str(saved.get("updatedDateUTC") or "") or None,
            content_hash(body),
        )

    @staticmethod
    def _lost_create(
        session: ProviderSession, client: XeroClient, emp_id: str, body: dict[str, Any]
    ) -> str | None:
        """The application an earlier create made whose reply was lost, if any."""
        for found in client.employee_leave(emp_id):
            leave_id = str(found.get("leaveID"))
            if _same_leave(found, body) and (
                links.find_by_provider_id(session.tenant_id, "xero", "EmployeeLeave", leave_id)
                is None
            ):
                return leave_id
        return None


def _time_off(content: Any) -> TimeOff:
    return content if isinstance(content, TimeOff) else TimeOff.model_validate(content)
