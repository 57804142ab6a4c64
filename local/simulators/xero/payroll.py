"""Payroll UK (`/payroll.xro/2.0`): employees, leave types and employee leave.

Region: UK. Payroll UK is the `payroll.xro/2.0` JSON API (camelCase, ISO dates, `pagination`
and RFC 7807-style `problem`) that Xero's NZ payroll and the newer AU v2 payroll share, while
AU v1 (`payroll.xro/1.0`) is the legacy PascalCase/`/Date()/` shape; so one UK simulator
exercises the shape a booksync Xero payroll client will meet everywhere but AU v1.
xero-python: `payrolluk/api/payroll_uk_api.py` (base_url `https://api.xero.com/payroll.xro/
2.0`; `/Employees`, `/Employees/{EmployeeID}`, `/LeaveTypes`).

Shapes and rules (developer.xero.com/documentation/api/payrolluk/employees and leavetypes;
Xero-OpenAPI `xero-payroll-uk.yaml`):
- envelope `{"id","providerName","dateTimeUTC":"2017-09-05T04:05:18.4009114",
  "httpStatusCode":"OK","pagination":{..}|null,"problem":null,"employees":[..]}`;
- create `POST /Employees`, update `PUT /Employees/{id}`; required: title, firstName,
  lastName, dateOfBirth, gender (M|F), address{addressLine1, city, postCode}; 400 is
  `problem{"type":"application/problem+json","title":"BadRequest","status":400,
  "detail":"Validation error occurred.","invalidFields":[{"name","reason"}]}` (the POST
  example names FirstGivenName/Surname, the PUT one FirstName/LastName: kept as is);
- 404 `problem{"type":"about:blank","title":"NotFound","status":404,
  "detail":"Resource was not found"}`; GET employees filter `firstName==X,lastName==Y`.

Employee leave (the leave applications booksync makes from QuickBooks Time time off):
- paths and envelopes (xero-python `payrolluk/api/payroll_uk_api.py`): get_employee_leaves
  `GET /Employees/{EmployeeID}/Leave` -> `EmployeeLeaves`, create_employee_leave `POST` there,
  get_employee_leave / update_employee_leave / delete_employee_leave `GET`/`PUT`/`DELETE
  /Employees/{EmployeeID}/Leave/{LeaveID}` -> `EmployeeLeaveObject`; POST and PUT send an
  `Idempotency-Key`. `models/employee_leaves.py` and `employee_leave_object.py` read the key
  `leave` for the list and for one (never `leaves`); Xero-OpenAPI's getEmployeeLeaves example
  has `"pagination": null`, and deleteEmployeeLeave's example answers the envelope without
  a `leave` at all (kept so);
- fields (`models/employee_leave.py`, `leave_period.py`; Xero-OpenAPI `xero-payroll-uk.yaml`
  EmployeeLeave, LeavePeriod): `leaveID`, `leaveTypeID`, `description` (max 50),
  `startDate`, `endDate`, `periods[{periodStartDate, periodEndDate, numberOfUnits,
  periodStatus: Approved|Completed}]`, `updatedDateUTC`; required: leaveTypeID,
  description, startDate, endDate (the spec's `required`; the SDK refuses None for them).
  Dates answer as `2020-03-24T00:00:00`, as in the examples;
- `periods` are optional: "The StartDate, EndDate and NumberOfUnits needs to be specified
  when you do not want to calculate NumberOfUnits automatically. Using incorrect period
  StartDate and EndDate will result in automatic computation" (EmployeeLeave.periods). So
  Xero splits the leave by the employee's pay periods and counts the units itself. The
  createEmployeeLeave example (2020-03-24..26, no periods) answers one period 2020-03-23..29
  (Monday..Sunday) of 24 units, getEmployeeLeave's (Mon..Fri) 40: 8 hours a weekday. Here
  every employee is on a weekly Monday..Sunday calendar (there are no payroll calendars;
  Xero reads the employee's own calendar and working pattern (U)); a sent period that
  matches one of those weeks keeps its numberOfUnits, any other is recomputed;
- 400s use the `invalidFields` shape above; a refusal that is no one field's is named
  `_default` (XeroAPI/xero-node #622 and #640: `{"name":"_default","reason":"Please add a salary &
  wage."}`). Every leave reason here is (U): Xero's own wording is not public;
- paid pay periods: "paid up to" (`Org.lock_dates["PayrollPaidUpTo"]`, set through
  `PATCH /_sim/companies/{id}/objects/Organisation/{id}` like the lock dates) stands for pay
  runs posted up to that day; the pay period holding it and every one before are paid.
  Their leave periods show `periodStatus` "Completed" (else "Approved"), and leave with a
  period in one cannot be created, changed or deleted (help.xero.com Payroll-Leave-Approve-NZ:
  approved leave goes into the next pay run, balances move when it is processed; that a
  posted period's leave is fixed, and the API's refusal, are (U)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ..core import BadRequest, Request, Response, Router
from .dates import DateFormatError, iso_string, parse_date
from .model import Invalid, NotFound, Org, get_ci, has_ci, new_id

if TYPE_CHECKING:
    from .provider import XeroProvider

BASE = "/payroll.xro/2.0"
STATUS_CODES = {200: "OK", 400: "BadRequest", 404: "NotFound", 500: "InternalServerError"}

HOURS_PER_WEEKDAY = 8  # Xero-OpenAPI leave examples: Tue..Thu = 24, Mon..Fri = 40
DESCRIPTION_MAX = 50  # EmployeeLeave.description "(max length = 50)"
PAID_REFUSALS = {  # (U)
    "create": "Leave cannot be added to a pay period that has already been paid.",
    "update": "Leave in a pay period that has already been paid cannot be changed.",
    "delete": "Leave in a pay period that has already been paid cannot be deleted.",
}


class PayrollInvalid(Invalid):
    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__(*(reason for _, reason in fields))
        self.fields = fields


def _stamp(p: XeroProvider) -> str:
    return p.now().replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"


def envelope(
    p: XeroProvider,
    key: str,
    value: Any,
    pagination: Any = None,
    status: int = 200,
    problem: Any = None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "providerName": "booksync",
        "dateTimeUTC": _stamp(p),
        "httpStatusCode": STATUS_CODES.get(status, str(status)),
        "pagination": pagination,
        "problem": problem,
        key: value,
    }


def problem_response(
    p: XeroProvider,
    key: str,
    status: int,
    title: str,
    detail: str,
    type_: str = "about:blank",
    invalid: list[tuple[str, str]] | None = None,
) -> Response:
    problem = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": None,
        "invalidFields": [{"name": n, "reason": r} for n, r in invalid] if invalid else None,
    }
    return Response.json(status, envelope(p, key, None, status=status, problem=problem))


def save_employee(
    org: Org, body: dict[str, Any], emp_id: str | None, partial: bool = False
) -> dict[str, Any]:
    existing = org.get("Employees", emp_id) if emp_id else None
    merged: dict[str, Any] = {}
    if existing is not None and partial:
        merged.update(existing)
    merged.update({k: v for k, v in body.items()})
    address = merged.get("address") or {}
    if not isinstance(address, dict):
        address = {}
    creating = existing is None
    invalid: list[tuple[str, str]] = []

    def need(value: Any, name: str, reason: str) -> None:
        if value is None or (isinstance(value, str) and not value.strip()):
            invalid.append((name, reason))

    need(merged.get("dateOfBirth"), "DateOfBirth", "The Date of Birth is required.")
    need(merged.get("title"), "Title", "The Title is required.")
    need(
        merged.get("firstName"),
        "FirstGivenName" if creating else "FirstName",
        "The First Name is required.",
    )
    need(
        merged.get("lastName"), "Surname" if creating else "LastName", "The Last Name is required."
    )
    need(merged.get("gender"), "Gender", "The Gender is required.")
    need(address.get("city"), "City", "The Town/City is required.")
    need(address.get("postCode"), "PostCode", "The Postcode is required.")
    need(address.get("addressLine1"), "AddressLine1", "The Address is required.")
    for field, name, limit in (
        ("title", "Title", 35),
        ("firstName", "FirstName", 35),
        ("lastName", "LastName", 35),
    ):
        value = merged.get(field)
        if isinstance(value, str) and len(value) > limit:
            invalid.append((name, f"The {name} must be {limit} characters or less."))  # (U)
    if merged.get("gender") not in (None, "", "M", "F"):
        invalid.append(("Gender", "The Gender must be M or F."))  # (U)
    dob = None
    try:
        if merged.get("dateOfBirth"):
            dob = parse_date(str(merged["dateOfBirth"]))
        start = parse_date(str(merged["startDate"])) if merged.get("startDate") else None
    except DateFormatError:
        invalid.append(("DateOfBirth", "The date is not valid."))  # (U)
        start = None
    if (
        existing is not None
        and "isOffPayrollWorker" in body
        and bool(body["isOffPayrollWorker"]) != existing.get("isOffPayrollWorker")
    ):
        invalid.append(("IsOffPayrollWorker", "IsOffPayrollWorker cannot be changed."))  # (U)
    if invalid:
        raise PayrollInvalid(invalid)
    now = iso_string(org.now())
    emp = existing or {
        "employeeID": new_id(),
        "createdDateUTC": now,
        "payrollCalendarID": None,
        "endDate": None,
        "contracts": [],
        "isOffPayrollWorker": bool(body.get("isOffPayrollWorker", False)),
    }
    emp.update(
        {
            "title": merged.get("title"),
            "firstName": merged.get("firstName"),
            "lastName": merged.get("lastName"),
            "dateOfBirth": iso_string(dob) if dob else None,
            "gender": merged.get("gender"),
            "email": merged.get("email"),
            "phoneNumber": merged.get("phoneNumber"),
            "startDate": iso_string(start) if start else emp.get("startDate"),
            "nationalInsuranceNumber": merged.get("nationalInsuranceNumber"),
            "address": {
                "addressLine1": address.get("addressLine1"),
                "addressLine2": address.get("addressLine2"),
                "city": address.get("city"),
                "county": address.get("county"),
                "countryName": (address.get("countryName") or "UNITED KINGDOM").upper(),
                "postCode": address.get("postCode"),
            },
            "updatedDateUTC": now,
        }
    )
    org.data["Employees"][emp["employeeID"]] = emp
    return emp


# -- employee leave ----------------------------------------------------------------------


def paid_up_to(org: Org) -> date | None:
    """The last day of the last posted pay run, if any (see the module docstring)."""
    value = org.lock_dates.get("PayrollPaidUpTo")
    return date.fromisoformat(value) if value else None


def pay_period(day: date) -> tuple[date, date]:
    """The weekly Monday..Sunday pay period holding `day`."""
    start = day - timedelta(days=day.weekday())
    return start, start + timedelta(days=6)


def _period_paid(org: Org, start: date) -> bool:
    paid = paid_up_to(org)
    return paid is not None and start <= pay_period(paid)[0]


def _weekdays(first: date, last: date) -> int:
    return sum(1 for n in range((last - first).days + 1) if (first + timedelta(n)).weekday() < 5)


def _day(value: Any) -> date:
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        raise DateFormatError(f"not a date: {value!r}")
    return parse_date(value)


def _given_units(raw: Any, invalid: list[tuple[str, str]]) -> dict[tuple[date, date], float]:
    """The sent periods' numberOfUnits by (periodStartDate, periodEndDate)."""
    if raw is None:
        return {}
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        invalid.append(("Periods", "The Periods are not valid."))  # (U)
        return {}
    out: dict[tuple[date, date], float] = {}
    for period in raw:
        units = get_ci(period, "numberOfUnits")
        if units is not None:
            if isinstance(units, bool) or not isinstance(units, int | float):
                invalid.append(("NumberOfUnits", "The Number Of Units is not valid."))  # (U)
                continue
            if units <= 0:
                invalid.append(
                    ("NumberOfUnits", "The Number Of Units must be greater than 0.")  # (U)
                )
                continue
        try:
            key = (_day(get_ci(period, "periodStartDate")), _day(get_ci(period, "periodEndDate")))
        except DateFormatError:
            continue  # "incorrect period StartDate and EndDate": computed instead
        if units is not None:
            out[key] = float(units)
    return out


def leave_periods(
    org: Org, start: date, end: date, given: dict[tuple[date, date], float]
) -> list[dict[str, Any]]:
    """One period per pay period the leave touches; units sent for that exact period are
    kept, else weekdays x 8 hours."""
    out = []
    week_start, week_end = pay_period(start)
    while week_start <= end:
        units = given.get((week_start, week_end))
        if units is None:
            units = _weekdays(max(start, week_start), min(end, week_end)) * HOURS_PER_WEEKDAY
        out.append(
            {
                "periodStartDate": iso_string(week_start),
                "periodEndDate": iso_string(week_end),
                "numberOfUnits": units,
                "periodStatus": "Completed" if _period_paid(org, week_start) else "Approved",
            }
        )
        week_start, week_end = week_start + timedelta(7), week_end + timedelta(7)
    return out


def _touches_paid(org: Org, leave: dict[str, Any]) -> bool:
    return any(
        _period_paid(org, parse_date(p["periodStartDate"])) for p in leave.get("periods") or []
    )


def render_leave(org: Org, leave: dict[str, Any]) -> dict[str, Any]:
    """The wire shape: without the stored `employeeID`, statuses as of now."""
    out = {k: v for k, v in leave.items() if k != "employeeID"}
    out["periods"] = [
        {
            **p,
            "periodStatus": "Completed"
            if _period_paid(org, parse_date(p["periodStartDate"]))
            else "Approved",
        }
        for p in leave.get("periods") or []
    ]
    return out


def find_leave(org: Org, emp_id: str, leave_id: str) -> dict[str, Any]:
    """The employee's leave `leave_id`; NotFound for an unknown employee or leave, or one
    that is another employee's."""
    emp = org.get("Employees", emp_id)
    leave = org.get("EmployeeLeave", leave_id)
    if leave["employeeID"] != emp["employeeID"]:
        raise NotFound(leave_id)
    return leave


def save_leave(
    org: Org, emp_id: str, body: dict[str, Any], leave_id: str | None = None
) -> dict[str, Any]:
    """Create (`leave_id` None) or replace an employee's leave; the body is a whole
    EmployeeLeave (PUT sends every required field too). NotFound, PayrollInvalid."""
    emp = org.get("Employees", emp_id)
    existing = find_leave(org, emp_id, leave_id) if leave_id else None
    invalid: list[tuple[str, str]] = []

    def text(name: str) -> str | None:
        value = get_ci(body, name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    type_id = text("leaveTypeID")
    leave_type = None
    if type_id is None:
        invalid.append(("LeaveTypeID", "The Leave Type is required."))  # (U)
    else:
        try:
            leave_type = org.get("LeaveTypes", type_id)
        except NotFound:
            invalid.append(("LeaveTypeID", "The Leave Type could not be found."))  # (U)
        else:
            if not leave_type.get("isActive"):
                invalid.append(("LeaveTypeID", "The Leave Type is not active."))  # (U)
    description = text("description")
    if description is None:
        invalid.append(("Description", "The Description is required."))  # (U)
    elif len(description) > DESCRIPTION_MAX:
        invalid.append(
            ("Description", f"The Description must be {DESCRIPTION_MAX} characters or less.")
        )  # (U)
    days: dict[str, date] = {}
    for field, name, label in (
        ("startDate", "StartDate", "Start Date"),
        ("endDate", "EndDate", "End Date"),
    ):
        if not has_ci(body, field) or get_ci(body, field) in (None, ""):
            invalid.append((name, f"The {label} is required."))  # (U)
            continue
        try:
            days[field] = _day(get_ci(body, field))
        except DateFormatError:
            invalid.append((name, f"The {label} is not valid."))  # (U)
    start, end = days.get("startDate"), days.get("endDate")
    if start is not None and end is not None and start > end:
        invalid.append(("EndDate", "The End Date must be on or after the Start Date."))  # (U)
    given = _given_units(get_ci(body, "periods"), invalid)
    if invalid or start is None or end is None or leave_type is None:
        raise PayrollInvalid(invalid)
    periods = leave_periods(org, start, end, given)
    if existing is not None and _touches_paid(org, existing):
        raise PayrollInvalid([("_default", PAID_REFUSALS["update"])])
    if any(p["periodStatus"] == "Completed" for p in periods):
        raise PayrollInvalid([("_default", PAID_REFUSALS["update" if existing else "create"])])
    leave: dict[str, Any] = existing if existing is not None else {"leaveID": new_id()}
    leave.update(
        {
            "employeeID": emp["employeeID"],
            "leaveTypeID": leave_type["leaveTypeID"],
            "description": description,
            "startDate": iso_string(start),
            "endDate": iso_string(end),
            "periods": periods,
            "updatedDateUTC": iso_string(org.now()),
        }
    )
    org.data["EmployeeLeave"][leave["leaveID"]] = leave
    return leave


def delete_leave(org: Org, emp_id: str, leave_id: str) -> dict[str, Any]:
    leave = find_leave(org, emp_id, leave_id)
    if _touches_paid(org, leave):
        raise PayrollInvalid([("_default", PAID_REFUSALS["delete"])])
    del org.data["EmployeeLeave"][leave["leaveID"]]
    return leave


class Payroll:
    def __init__(self, p: XeroProvider) -> None:
        self.p = p

    def wrap(self, handler: Callable[[Request, Org], Response]) -> Callable[[Request], Response]:
        def run(req: Request) -> Response:
            org = self.p.org(str(req.state["company"]))

            def go() -> Response:
                with self.p.lock:
                    return handler(req, org)

            if req.method in ("PUT", "POST"):
                return self.p.idempotent(req, go)
            return go()

        return run

    def _page(
        self, req: Request, items: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        try:
            page = int(req.arg("page") or 1)
        except ValueError:
            page = 1
        page = max(1, page)  # "When page value is not a number or a negative number ... first"
        size = 100
        count = len(items)
        pagination = {
            "page": page,
            "pageSize": size,
            "pageCount": math.ceil(count / size) if count else 0,
            "itemCount": count,
        }
        return items[(page - 1) * size : page * size], pagination

    def _body(self, req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        data = req.json()
        if not isinstance(data, dict):
            raise BadRequest("Request body must be a JSON object")
        return data

    def list_employees(self, req: Request, org: Org) -> Response:
        items = list(org.data["Employees"].values())
        flt = req.arg("filter")
        if flt:
            for clause in flt.split(","):
                name, sep, value = clause.partition("==")
                if not sep:
                    continue
                field = {
                    "firstname": "firstName",
                    "lastname": "lastName",
                    "isoffpayrollworker": "isOffPayrollWorker",
                }.get(name.strip().lower())
                if field is None:
                    continue
                want = value.strip()
                items = [e for e in items if str(e.get(field)).lower() == want.lower()]
        page, pagination = self._page(req, items)
        return Response.json(200, envelope(self.p, "employees", page, pagination))

    def get_employee(self, req: Request, org: Org) -> Response:
        try:
            emp = org.get("Employees", req.path_params["id"])
        except NotFound:
            return problem_response(self.p, "employee", 404, "NotFound", "Resource was not found")
        return Response.json(200, envelope(self.p, "employee", emp))

    def _save(self, req: Request, org: Org, emp_id: str | None) -> Response:
        body = self._body(req)
        try:
            emp = save_employee(org, body, emp_id)
        except NotFound:
            return problem_response(self.p, "employee", 404, "NotFound", "Resource was not found")
        except PayrollInvalid as exc:
            return problem_response(
                self.p,
                "employee",
                400,
                "BadRequest",
                "Validation error occurred.",
                "application/problem+json",
                exc.fields,
            )
        return Response.json(200, envelope(self.p, "employee", emp))

    def create_employee(self, req: Request, org: Org) -> Response:
        return self._save(req, org, None)

    def update_employee(self, req: Request, org: Org) -> Response:
        return self._save(req, org, req.path_params["id"])

    def _leave_errors(self, run: Callable[[], Response]) -> Response:
        try:
            return run()
        except NotFound:
            return problem_response(self.p, "leave", 404, "NotFound", "Resource was not found")
        except PayrollInvalid as exc:
            return problem_response(
                self.p,
                "leave",
                400,
                "BadRequest",
                "Validation error occurred.",
                "application/problem+json",
                exc.fields,
            )

    def list_leave(self, req: Request, org: Org) -> Response:
        def run() -> Response:
            emp = org.get("Employees", req.path_params["id"])
            items = [
                render_leave(org, leave)
                for leave in org.data["EmployeeLeave"].values()
                if leave["employeeID"] == emp["employeeID"]
            ]
            return Response.json(200, envelope(self.p, "leave", items))

        return self._leave_errors(run)

    def get_leave(self, req: Request, org: Org) -> Response:
        def run() -> Response:
            leave = find_leave(org, req.path_params["id"], req.path_params["leave_id"])
            return Response.json(200, envelope(self.p, "leave", render_leave(org, leave)))

        return self._leave_errors(run)

    def create_leave(self, req: Request, org: Org) -> Response:
        def run() -> Response:
            leave = save_leave(org, req.path_params["id"], self._body(req))
            return Response.json(200, envelope(self.p, "leave", render_leave(org, leave)))

        return self._leave_errors(run)

    def update_leave(self, req: Request, org: Org) -> Response:
        def run() -> Response:
            pp = req.path_params
            leave = save_leave(org, pp["id"], self._body(req), pp["leave_id"])
            return Response.json(200, envelope(self.p, "leave", render_leave(org, leave)))

        return self._leave_errors(run)

    def delete_leave(self, req: Request, org: Org) -> Response:
        def run() -> Response:
            delete_leave(org, req.path_params["id"], req.path_params["leave_id"])
            body = envelope(self.p, "leave", None)
            del body["leave"]  # deleteEmployeeLeave's example answers no `leave`
            return Response.json(200, body)

        return self._leave_errors(run)

    def list_leave_types(self, req: Request, org: Org) -> Response:
        items = list(org.data["LeaveTypes"].values())
        # xero-python sends `ActiveOnly` (get_leave_types); Xero reads query names in any case
        active_only = next(
            (vs[0] for k, vs in req.query.items() if k.lower() == "activeonly" and vs), ""
        )
        if active_only.lower() == "true":
            items = [t for t in items if t["isActive"]]
        page, pagination = self._page(req, items)
        return Response.json(200, envelope(self.p, "leaveTypes", page, pagination))


def register_payroll(router: Router, p: XeroProvider) -> None:
    pr = Payroll(p)

    def add(method: str, path: str, handler: Callable[[Request, Org], Response]) -> None:
        router.add(method, BASE + path, pr.wrap(handler), auth=True, ci=True)

    add("GET", "/Employees", pr.list_employees)
    add("POST", "/Employees", pr.create_employee)
    add("GET", "/Employees/{id}", pr.get_employee)
    add("PUT", "/Employees/{id}", pr.update_employee)
    add("GET", "/LeaveTypes", pr.list_leave_types)
    add("GET", "/Employees/{id}/Leave", pr.list_leave)
    add("POST", "/Employees/{id}/Leave", pr.create_leave)
    add("GET", "/Employees/{id}/Leave/{leave_id}", pr.get_leave)
    add("PUT", "/Employees/{id}/Leave/{leave_id}", pr.update_leave)
    add("DELETE", "/Employees/{id}/Leave/{leave_id}", pr.delete_leave)
