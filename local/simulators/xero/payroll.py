"""Payroll UK (`/payroll.xro/2.0`): employees and leave types.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core import BadRequest, Request, Response, Router
from .dates import DateFormatError, iso_string, parse_date
from .model import Invalid, NotFound, Org, new_id

if TYPE_CHECKING:
    from .provider import XeroProvider

BASE = "/payroll.xro/2.0"
STATUS_CODES = {200: "OK", 400: "BadRequest", 404: "NotFound", 500: "InternalServerError"}


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

    def list_leave_types(self, req: Request, org: Org) -> Response:
        items = list(org.data["LeaveTypes"].values())
        if (req.arg("activeOnly") or "").lower() == "true":
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
