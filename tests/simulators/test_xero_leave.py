"""The Xero simulator's Payroll UK employee leave, driven through xero-python's PayrollUkApi
as booksync drives real Xero: leave made from QuickBooks Time time off, its validation, and
the pay periods already paid (`PayrollPaidUpTo`, set as an operator would through `/_sim`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
import requests
from xero_python.exceptions import BadRequestException, NotFoundException
from xero_python.payrolluk import EmployeeLeave, LeavePeriod, PayrollUkApi

from local.simulators.core import Clock, serve
from local.simulators.xero import make_provider

from .test_xero import login, xero_client

PAYROLL = "/payroll.xro/2.0"


@pytest.fixture
def sim():
    server = serve(make_provider(Clock()))
    try:
        yield server
    finally:
        server.stop()


class Books:
    """One connected Demo Company (UK): the SDK client, raw calls, seeded ids by name."""

    def __init__(self, sim, monkeypatch) -> None:
        self.sim = sim
        self.tokens, self.tenant = login(sim)
        self.payroll = PayrollUkApi(
            xero_client(sim, self.tokens, monkeypatch), base_url=sim.url + PAYROLL
        )
        self.employees = {
            f"{e.first_name} {e.last_name}": e.employee_id
            for e in self.payroll.get_employees(self.tenant).employees
        }
        self.types = {t.name: t for t in self.payroll.get_leave_types(self.tenant).leave_types}

    def type_id(self, name: str) -> str:
        return str(self.types[name].leave_type_id)

    def leave(self, employee: str, **fields: Any) -> Any:
        return self.payroll.create_employee_leave(
            self.tenant, self.employees[employee], EmployeeLeave(**fields)
        ).leave

    def raw(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(
            method,
            self.sim.url + PAYROLL + path,
            json=body,
            headers={
                "Authorization": "Bearer " + self.tokens["access_token"],
                "xero-tenant-id": self.tenant,
                "Accept": "application/json",
            },
            timeout=5,
        )

    def paid_up_to(self, day: str | None) -> requests.Response:
        return requests.patch(
            f"{self.sim.url}/_sim/companies/{self.tenant}/objects/Organisation/{self.tenant}",
            json={"PayrollPaidUpTo": day},
            timeout=5,
        )


def holiday(books: Books, start: date, end: date, **extra: Any) -> dict[str, Any]:
    return {
        "leave_type_id": books.type_id("Holiday"),
        "description": "Holiday from QuickBooks Time",
        "start_date": start,
        "end_date": end,
        **extra,
    }


def day(value: date) -> date:
    """xero-python reads Xero's `2024-04-09T00:00:00` dates as datetimes."""
    return value.date() if isinstance(value, datetime) else value


def periods_of(leave: Any) -> list[tuple[date, date, float, str]]:
    return [
        (day(p.period_start_date), day(p.period_end_date), p.number_of_units, p.period_status)
        for p in leave.periods
    ]


def invalid_fields(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["httpStatusCode"] == "BadRequest"
    assert body["leave"] is None
    problem = body["problem"]
    assert (problem["type"], problem["title"], problem["status"]) == (
        "application/problem+json",
        "BadRequest",
        400,
    )
    return {f["name"]: f["reason"] for f in problem["invalidFields"]}


# -- seed ---------------------------------------------------------------------------------------


def test_the_demo_company_has_paid_unpaid_and_inactive_leave_types_and_three_employees(
    sim, monkeypatch
):
    books = Books(sim, monkeypatch)
    assert set(books.employees) == {"Jack Allan", "Charlotte Danes", "Oliver Gray"}
    assert books.types["Holiday"].is_paid_leave is True
    assert books.types["Unpaid Leave"].is_paid_leave is False
    assert books.types["Study Leave"].is_active is False
    active = books.payroll.get_leave_types(books.tenant, active_only=True).leave_types
    assert "Study Leave" not in {t.name for t in active}
    assert {"Holiday", "Unpaid Leave"} <= {t.name for t in active}


# -- create, list, get, update, delete ----------------------------------------------------------


def test_leave_is_created_listed_read_updated_and_deleted_through_xero_python(sim, monkeypatch):
    books = Books(sim, monkeypatch)
    jack = books.employees["Jack Allan"]

    # Tue..Thu without periods: one weekly pay period, 3 weekdays x 8 hours (Xero's example)
    made = books.leave("Jack Allan", **holiday(books, date(2024, 4, 9), date(2024, 4, 11)))
    assert made.leave_id
    assert made.leave_type_id == books.type_id("Holiday")
    assert made.description == "Holiday from QuickBooks Time"
    assert (day(made.start_date), day(made.end_date)) == (date(2024, 4, 9), date(2024, 4, 11))
    assert periods_of(made) == [(date(2024, 4, 8), date(2024, 4, 14), 24, "Approved")]
    assert made.updated_date_utc is not None

    # Thu..Tue spans two pay periods; a sent period that matches one keeps its units
    two_weeks = books.leave(
        "Jack Allan",
        **holiday(
            books,
            date(2024, 4, 18),
            date(2024, 4, 23),
            periods=[
                LeavePeriod(
                    period_start_date=date(2024, 4, 22),
                    period_end_date=date(2024, 4, 28),
                    number_of_units=7.5,
                )
            ],
        ),
    )
    assert periods_of(two_weeks) == [
        (date(2024, 4, 15), date(2024, 4, 21), 16, "Approved"),
        (date(2024, 4, 22), date(2024, 4, 28), 7.5, "Approved"),
    ]

    listed = books.payroll.get_employee_leaves(books.tenant, jack)
    assert [leave.leave_id for leave in listed.leave] == [made.leave_id, two_weeks.leave_id]
    got = books.payroll.get_employee_leave(books.tenant, jack, made.leave_id).leave
    assert got.to_dict() == made.to_dict()

    # the raw shape: envelope key `leave`, ISO date-times, no pagination for the list
    raw = books.raw("GET", f"/Employees/{jack}/Leave").json()
    assert raw["pagination"] is None
    assert raw["problem"] is None
    first = raw["leave"][0]
    assert set(first) == {
        "leaveID",
        "leaveTypeID",
        "description",
        "startDate",
        "endDate",
        "periods",
        "updatedDateUTC",
    }
    assert (first["startDate"], first["periods"][0]["periodStartDate"]) == (
        "2024-04-09T00:00:00",
        "2024-04-08T00:00:00",
    )

    # update: another type, description and dates; a period not matching a pay period is
    # recomputed ("incorrect period StartDate and EndDate")
    changed = books.payroll.update_employee_leave(
        books.tenant,
        jack,
        made.leave_id,
        EmployeeLeave(
            leave_type_id=books.type_id("Unpaid Leave"),
            description="Unpaid day off",
            start_date=date(2024, 4, 15),
            end_date=date(2024, 4, 16),
            periods=[
                LeavePeriod(
                    period_start_date=date(2024, 4, 16),
                    period_end_date=date(2024, 4, 16),
                    number_of_units=3,
                )
            ],
        ),
    ).leave
    assert changed.leave_id == made.leave_id
    assert changed.leave_type_id == books.type_id("Unpaid Leave")
    assert changed.description == "Unpaid day off"
    assert periods_of(changed) == [(date(2024, 4, 15), date(2024, 4, 21), 16, "Approved")]
    assert books.payroll.get_employee_leave(books.tenant, jack, made.leave_id).leave.to_dict() == (
        changed.to_dict()
    )

    # delete: the envelope comes back without a leave, and the leave is gone
    gone = books.payroll.delete_employee_leave(books.tenant, jack, made.leave_id)
    assert gone.leave is None
    left = books.payroll.get_employee_leaves(books.tenant, jack).leave
    assert [leave.leave_id for leave in left] == [two_weeks.leave_id]
    raw_delete = books.raw("DELETE", f"/Employees/{jack}/Leave/{two_weeks.leave_id}")
    assert raw_delete.status_code == 200
    assert raw_delete.json()["httpStatusCode"] == "OK"
    assert "leave" not in raw_delete.json()
    assert books.payroll.get_employee_leaves(books.tenant, jack).leave == []
    with pytest.raises(NotFoundException):
        books.payroll.get_employee_leave(books.tenant, jack, made.leave_id)


def test_a_repeated_idempotency_key_makes_one_leave(sim, monkeypatch):
    books = Books(sim, monkeypatch)
    jack = books.employees["Jack Allan"]
    body = EmployeeLeave(**holiday(books, date(2024, 5, 6), date(2024, 5, 6)))
    first = books.payroll.create_employee_leave(books.tenant, jack, body, idempotency_key="k1")
    again = books.payroll.create_employee_leave(books.tenant, jack, body, idempotency_key="k1")
    assert first.leave.leave_id == again.leave.leave_id
    assert len(books.payroll.get_employee_leaves(books.tenant, jack).leave) == 1


def test_leave_shows_under_its_own_employee_only(sim, monkeypatch):
    books = Books(sim, monkeypatch)
    jack, charlotte = books.employees["Jack Allan"], books.employees["Charlotte Danes"]
    mine = books.leave("Jack Allan", **holiday(books, date(2024, 6, 3), date(2024, 6, 4)))
    hers = books.leave("Charlotte Danes", **holiday(books, date(2024, 6, 5), date(2024, 6, 5)))

    assert [x.leave_id for x in books.payroll.get_employee_leaves(books.tenant, jack).leave] == [
        mine.leave_id
    ]
    assert [
        x.leave_id for x in books.payroll.get_employee_leaves(books.tenant, charlotte).leave
    ] == [hers.leave_id]
    assert (
        books.payroll.get_employee_leaves(books.tenant, books.employees["Oliver Gray"]).leave == []
    )

    # Jack's leave under Charlotte's id is not found, for reading, changing or deleting
    with pytest.raises(NotFoundException):
        books.payroll.get_employee_leave(books.tenant, charlotte, mine.leave_id)
    body = EmployeeLeave(**holiday(books, date(2024, 6, 3), date(2024, 6, 3)))
    with pytest.raises(NotFoundException):
        books.payroll.update_employee_leave(books.tenant, charlotte, mine.leave_id, body)
    with pytest.raises(NotFoundException):
        books.payroll.delete_employee_leave(books.tenant, charlotte, mine.leave_id)
    still = books.payroll.get_employee_leave(books.tenant, jack, mine.leave_id).leave
    assert day(still.start_date) == date(2024, 6, 3)


# -- validation ---------------------------------------------------------------------------------


def test_unknown_employee_or_leave_is_a_404_problem(sim, monkeypatch):
    books = Books(sim, monkeypatch)
    nobody = "00000000-0000-0000-0000-000000000001"
    body = {
        "leaveTypeID": books.type_id("Holiday"),
        "description": "x",
        "startDate": "2024-04-09",
        "endDate": "2024-04-09",
    }
    for method, path, payload in (
        ("GET", f"/Employees/{nobody}/Leave", None),
        ("POST", f"/Employees/{nobody}/Leave", body),
        ("GET", f"/Employees/{books.employees['Jack Allan']}/Leave/{nobody}", None),
        ("PUT", f"/Employees/{books.employees['Jack Allan']}/Leave/{nobody}", body),
        ("DELETE", f"/Employees/{books.employees['Jack Allan']}/Leave/{nobody}", None),
    ):
        r = books.raw(method, path, payload)
        assert r.status_code == 404, (method, path, r.text)
        answer = r.json()
        assert answer["httpStatusCode"] == "NotFound"
        assert answer["leave"] is None
        assert (answer["problem"]["title"], answer["problem"]["status"]) == ("NotFound", 404)
    with pytest.raises(NotFoundException):
        books.payroll.create_employee_leave(
            books.tenant,
            nobody,
            EmployeeLeave(**holiday(books, date(2024, 4, 9), date(2024, 4, 9))),
        )


def test_each_invalid_leave_is_a_400_naming_the_field(sim, monkeypatch):
    books = Books(sim, monkeypatch)
    path = f"/Employees/{books.employees['Jack Allan']}/Leave"
    good = {
        "leaveTypeID": books.type_id("Holiday"),
        "description": "Holiday",
        "startDate": "2024-04-09",
        "endDate": "2024-04-10",
    }

    # every required field missing at once, then each alone
    assert set(invalid_fields(books.raw("POST", path, {}))) == {
        "LeaveTypeID",
        "Description",
        "StartDate",
        "EndDate",
    }
    for field, name in (
        ("leaveTypeID", "LeaveTypeID"),
        ("description", "Description"),
        ("startDate", "StartDate"),
        ("endDate", "EndDate"),
    ):
        body = {k: v for k, v in good.items() if k != field}
        assert set(invalid_fields(books.raw("POST", path, body))) == {name}, field
        assert set(invalid_fields(books.raw("POST", path, {**good, field: ""}))) == {name}

    no_type = "00000000-0000-0000-0000-00000000beef"
    unknown = invalid_fields(books.raw("POST", path, {**good, "leaveTypeID": no_type}))
    assert unknown == {"LeaveTypeID": "The Leave Type could not be found."}
    inactive = {**good, "leaveTypeID": books.type_id("Study Leave")}
    assert invalid_fields(books.raw("POST", path, inactive)) == {
        "LeaveTypeID": "The Leave Type is not active."
    }
    backwards = {**good, "startDate": "2024-04-11", "endDate": "2024-04-10"}
    assert set(invalid_fields(books.raw("POST", path, backwards))) == {"EndDate"}
    assert set(invalid_fields(books.raw("POST", path, {**good, "startDate": "soon"}))) == {
        "StartDate"
    }
    assert set(invalid_fields(books.raw("POST", path, {**good, "description": "x" * 51}))) == {
        "Description"
    }
    for units in (0, -8):
        period = {
            "periodStartDate": "2024-04-08",
            "periodEndDate": "2024-04-14",
            "numberOfUnits": units,
        }
        assert invalid_fields(books.raw("POST", path, {**good, "periods": [period]})) == {
            "NumberOfUnits": "The Number Of Units must be greater than 0."
        }
    # nothing was saved, and the same rules hold for an update
    assert books.raw("GET", path).json()["leave"] == []
    made = books.raw("POST", path, good).json()["leave"]
    assert set(invalid_fields(books.raw("PUT", f"{path}/{made['leaveID']}", backwards))) == {
        "EndDate"
    }
    # xero-python raises its BadRequestException with Xero's problem
    with pytest.raises(BadRequestException) as caught:
        books.payroll.create_employee_leave(
            books.tenant,
            books.employees["Jack Allan"],
            EmployeeLeave(**holiday(books, date(2024, 4, 12), date(2024, 4, 11))),
        )
    assert caught.value.error_data["problem"]["invalidFields"][0]["name"] == "EndDate"


# -- paid pay periods ---------------------------------------------------------------------------


def test_leave_in_a_paid_pay_period_cannot_be_created_changed_or_deleted(sim, monkeypatch):
    books = Books(sim, monkeypatch)
    jack = books.employees["Jack Allan"]
    # approved leave before the pay run: week 1-7 April, 8-14 April, and one across both
    early = books.leave("Jack Allan", **holiday(books, date(2024, 4, 2), date(2024, 4, 3)))
    later = books.leave("Jack Allan", **holiday(books, date(2024, 4, 9), date(2024, 4, 9)))
    across = books.leave("Jack Allan", **holiday(books, date(2024, 4, 5), date(2024, 4, 8)))

    # the pay run for the week to Sunday 7 April is posted
    assert books.paid_up_to("2024-04-07").status_code == 200

    def status(leave_id: str) -> list[str]:
        got = books.payroll.get_employee_leave(books.tenant, jack, leave_id).leave
        return [p.period_status for p in got.periods]

    assert status(early.leave_id) == ["Completed"]
    assert status(later.leave_id) == ["Approved"]
    assert status(across.leave_id) == ["Completed", "Approved"]

    path = f"/Employees/{jack}/Leave"
    paid_day = {
        "leaveTypeID": books.type_id("Holiday"),
        "description": "Friday off",
        "startDate": "2024-04-05",
        "endDate": "2024-04-05",
    }
    # create in the paid week: refused; the day after the pay period: fine
    assert invalid_fields(books.raw("POST", path, paid_day)) == {
        "_default": "Leave cannot be added to a pay period that has already been paid."
    }
    assert books.raw(
        "POST", path, {**paid_day, "startDate": "2024-04-08", "endDate": "2024-04-08"}
    ).ok

    # update: paid leave cannot change, unpaid leave cannot move into the paid week
    changed = "Leave in a pay period that has already been paid cannot be changed."
    moved = {**paid_day, "startDate": "2024-04-12", "endDate": "2024-04-12"}
    assert invalid_fields(books.raw("PUT", f"{path}/{early.leave_id}", moved)) == {
        "_default": changed
    }
    assert invalid_fields(books.raw("PUT", f"{path}/{later.leave_id}", paid_day)) == {
        "_default": changed
    }
    assert books.raw("PUT", f"{path}/{later.leave_id}", moved).ok

    # delete: refused for leave with a paid period, fine for the rest
    deleted = "Leave in a pay period that has already been paid cannot be deleted."
    for leave in (early, across):
        with pytest.raises(BadRequestException) as caught:
            books.payroll.delete_employee_leave(books.tenant, jack, leave.leave_id)
        fields = caught.value.error_data["problem"]["invalidFields"]
        assert fields == [{"name": "_default", "reason": deleted}]
    books.payroll.delete_employee_leave(books.tenant, jack, later.leave_id)
    assert status(early.leave_id) == ["Completed"]  # untouched

    # a paid-up-to date inside a pay period pays that whole period
    assert books.paid_up_to("2024-04-10").status_code == 200
    thursday = {**paid_day, "startDate": "2024-04-11", "endDate": "2024-04-11"}
    assert set(invalid_fields(books.raw("POST", path, thursday))) == {"_default"}

    # clearing it (no pay run posted) frees everything again
    assert books.paid_up_to(None).status_code == 200
    assert status(across.leave_id) == ["Approved", "Approved"]
    books.payroll.delete_employee_leave(books.tenant, jack, early.leave_id)


def test_paid_up_to_and_leave_survive_a_snapshot_and_bad_dates_are_refused(sim, monkeypatch):
    books = Books(sim, monkeypatch)
    jack = books.employees["Jack Allan"]
    made = books.leave("Jack Allan", **holiday(books, date(2024, 4, 2), date(2024, 4, 2)))
    books.paid_up_to("2024-04-07")
    snap = requests.get(sim.url + "/_sim/snapshot", timeout=5).json()
    books.paid_up_to(None)
    books.payroll.delete_employee_leave(books.tenant, jack, made.leave_id)
    assert requests.post(sim.url + "/_sim/restore", json=snap, timeout=5).ok

    got = books.payroll.get_employee_leave(books.tenant, jack, made.leave_id).leave
    assert [p.period_status for p in got.periods] == ["Completed"]
    stored = requests.get(
        f"{sim.url}/_sim/companies/{books.tenant}/objects/EmployeeLeave", timeout=5
    ).json()["objects"]
    assert [(o["leaveID"], o["employeeID"]) for o in stored] == [(made.leave_id, jack)]
    assert books.paid_up_to("not a date").status_code == 400
