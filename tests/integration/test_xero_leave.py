"""Time off and leave (issue 15): time off entered in QuickBooks Time (a timesheet on a
time-off code) comes into the hub, and once approved there (its user's `approved_to`)
becomes a Xero Payroll UK leave application of the leave type the firm mapped the code
to; unpaid leave is never exported; an edit or deletion in QBT before the pay run
changes or removes the application; a paid pay period is a sync error with the reason.
Driven as the deployed stack would be, against fresh QBT and Xero (UK demo) companies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.conftest import load_handler
from tests.integration.test_time_entries import (
    MONDAY,
    Firm,
    stack_env,  # noqa: F401 - fixture
)


@pytest.fixture(scope="module")
def handlers(stack_env):  # noqa: F811 - the fixture imported above
    with pytest.MonkeyPatch.context() as mp:
        yield {
            name: load_handler(name, mp).lambda_handler
            for name in ("api", "oauth", "qbt_push", "qbt_pull", "xero_push", "xero_pull")
        }


class LeaveFirm(Firm):
    push_queues = {"qbt": "QbtPushQueue", "xero": "XeroPushQueue"}

    def leave(self) -> list[dict[str, Any]]:
        return list(self.objects("xero", "EmployeeLeave"))

    def time_off(self, code: int, minutes: int = 480, day=MONDAY, notes: str = "") -> Any:
        return self.in_provider(
            "qbt",
            "timesheets",
            {
                "user_id": self.user,
                "jobcode_id": code,
                "type": "manual",
                "date": day.isoformat(),
                "duration": minutes * 60,
                "notes": notes,
            },
        )

    def approve_to(self, day) -> None:
        self.edit_in_provider("qbt", "users", self.user, {"approved_to": day.isoformat()})

    def paid_up_to(self, day) -> None:
        url = f"{self.sims['xero']}/_sim/companies/{self.company['xero']}/objects/Organisation"
        reply = requests.patch(
            f"{url}/{self.company['xero']}", json={"PayrollPaidUpTo": day.isoformat()}, timeout=10
        )
        reply.raise_for_status()


@pytest.fixture
def firm(stack_env, handlers, sims):  # noqa: F811
    """Jack Allan, a hub user who is a Xero payroll employee and a QBT user; QBT time-off
    codes Holiday and Unpaid, mapped to Xero's Holiday and Unpaid Leave."""
    books = LeaveFirm(stack_env, handlers, sims, connect=("qbt", "xero"), seeds={"xero": "sandbox"})
    jack = books.create(
        "users", {"first_name": "Jack", "last_name": "Allan", "email": "jack.allan@example.com"}
    )
    books.pull("xero")  # links Jack to his payroll employee (first, last name and email)
    assert books.link("xero", "user", jack["id"])
    books.api("POST", "/v1/connections/qbt/sync", ok=200)
    books.run()
    books.user = int(books.link("qbt", "user", jack["id"]))
    books.jack = jack
    books.in_provider("qbt", "jobcodes", {"name": "Unpaid", "type": "pto"})
    books.codes = {  # a new account has Sick, Vacation and Holiday
        j["name"]: int(j["id"]) for j in books.objects("qbt", "jobcodes") if j["type"] == "pto"
    }
    choices, _ = books.api("GET", "/v1/connections/xero/leave-mapping", ok=200)
    types = {t["name"]: t["id"] for t in choices["leave_types"]}
    books.types = types
    books.api(
        "PUT",
        "/v1/connections/xero/leave-mapping",
        {
            "mapping": {
                str(books.codes["Holiday"]): types["Holiday"],
                str(books.codes["Unpaid"]): types["Unpaid Leave"],
            }
        },
        ok=200,
    )
    books.pull_qbt()  # the first poll reads what is there
    return books


def test_approved_time_off_becomes_a_leave_application_and_follows_qbt(firm):
    sheet = firm.time_off(firm.codes["Holiday"], 480, notes="Half term")
    firm.pull_qbt()
    page, _ = firm.api("GET", "/v1/time-off", ok=200)
    (away,) = page["items"]
    assert (away["code_name"], away["duration_minutes"], away["approved"]) == (
        "Holiday",
        480,
        False,
    )
    assert firm.leave() == []  # not approved yet: nothing in Xero
    firm.advance_clock("qbt", 60)
    firm.pull_qbt()  # QBT's clock moved on: the timesheets are settled, not read again
    firm.forget_calls("qbt")

    firm.approve_to(MONDAY + timedelta(days=6))
    firm.pull_qbt()  # the users read sees the approval move past it
    mine = [c for c in firm.calls("qbt") if c["company"] in (None, firm.company["qbt"])]
    reads = [c for c in mine if c["method"] == "GET" and c["endpoint"].endswith("/timesheets")]
    assert len(reads) == 1  # the waiting time off, by id
    (leave,) = firm.leave()
    assert leave["leaveTypeID"] == firm.types["Holiday"]
    assert leave["description"] == "Half term"
    assert str(leave["startDate"])[:10] == MONDAY.isoformat()
    assert [p["numberOfUnits"] for p in leave["periods"]] == [8.0]

    firm.edit_in_provider("qbt", "timesheets", sheet["id"], {"duration": 4 * 3600})
    firm.pull_qbt()
    (leave,) = firm.leave()
    assert [p["numberOfUnits"] for p in leave["periods"]] == [4.0]  # replaced in place

    firm.forget_calls("xero")
    firm.pull_qbt()  # nothing changed: nothing sent
    assert [c for c in firm.calls("xero") if c["method"] != "GET"] == []

    url = f"{firm.sims['qbt']}/_sim/companies/{firm.company['qbt']}/objects/timesheets"
    requests.delete(f"{url}/{sheet['id']}", timeout=10).raise_for_status()
    firm.pull_qbt()
    assert firm.leave() == []
    page, _ = firm.api("GET", "/v1/time-off", ok=200)
    assert page["items"] == []


def test_unpaid_leave_is_never_exported(firm):
    firm.approve_to(MONDAY + timedelta(days=6))
    firm.pull_qbt()
    firm.time_off(firm.codes["Unpaid"], 480)
    firm.time_off(firm.codes["Holiday"], 240, MONDAY + timedelta(days=1))
    firm.pull_qbt()
    page, _ = firm.api("GET", "/v1/time-off", query="approved=true", ok=200)
    assert sorted(t["code_name"] for t in page["items"]) == ["Holiday", "Unpaid"]
    (leave,) = firm.leave()
    assert leave["leaveTypeID"] == firm.types["Holiday"]


def test_time_off_in_a_paid_pay_period_is_a_sync_error_with_the_reason(firm):
    firm.paid_up_to(MONDAY + timedelta(days=6))
    firm.approve_to(MONDAY + timedelta(days=6))
    firm.pull_qbt()
    firm.time_off(firm.codes["Holiday"], 480)
    firm.pull_qbt()
    assert firm.leave() == []
    errors = {code for _, code in firm.errors()}
    assert "xero.leave_period_paid" in errors
    row = next(r for (_, code), r in firm.errors().items() if code == "xero.leave_period_paid")
    assert "already been paid" in row.provider_message
