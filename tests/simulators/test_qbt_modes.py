"""QuickBooks Time behaviours a kind simulator would hide: any 2xx for a write, the Custom
Fields add-on, custom field defaults, and users sharing an email. Each test sets its mode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.simulators import start

from .test_qbt import connect, new_company


@pytest.fixture
def qbt() -> Iterator[str]:
    handles = start(providers=["qbt"])
    try:
        yield handles["qbt"].url
    finally:
        handles["qbt"].stop()


def set_modes(base: str, company_id: str, **modes: Any) -> dict[str, Any]:
    resp = requests.put(f"{base}/_sim/companies/{company_id}/modes", json=modes, timeout=10)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def rows(resp: requests.Response, endpoint: str) -> dict[str, Any]:
    found: dict[str, Any] = resp.json()["results"][endpoint]
    return found


# -- any 2xx for a write -----------------------------------------------------------------------


def test_write_in_207_mode_answers_multi_status_with_each_items_own_status(qbt: str) -> None:
    # Given a company whose writes answer 207
    conn = connect(qbt, new_company(qbt))
    set_modes(qbt, conn.company_id, write_status="207")

    # When two jobcodes are created, one of them a duplicate of the other
    resp = conn.post("jobcodes", [{"name": "Audit"}, {"name": "Audit"}])

    # Then the request answers 207 and each item keeps its own status
    assert resp.status_code == 207
    assert [r["_status_code"] for r in rows(resp, "jobcodes").values()] == [200, 202]


def test_write_in_201_mode_answers_201_for_updates_and_deletes_too(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    set_modes(qbt, conn.company_id, write_status="201")
    created = conn.post("jobcodes", [{"name": "Payroll Run"}])
    jid = rows(created, "jobcodes")["1"]["id"]

    updated = conn.put("jobcodes", [{"id": jid, "name": "Payroll Runs"}])

    assert created.status_code == 201
    assert updated.status_code == 201
    assert rows(updated, "jobcodes")["1"]["name"] == "Payroll Runs"


def test_write_status_mode_rejects_a_status_the_service_does_not_send(qbt: str) -> None:
    cid = new_company(qbt)

    resp = requests.put(
        f"{qbt}/_sim/companies/{cid}/modes", json={"write_status": "204"}, timeout=10
    )

    assert resp.status_code == 400
    assert "write_status" in resp.json()["message"]


# -- custom fields ---------------------------------------------------------------------------


def test_custom_field_in_false_defaults_mode_is_optional_and_not_shown_to_all(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    set_modes(qbt, conn.company_id, customfield_defaults="false")

    resp = conn.post("customfields", [{"name": "Vehicle", "type": "free-form"}])

    field = rows(resp, "customfields")["1"]
    assert (field["required"], field["show_to_all"]) == (False, False)


def test_custom_field_in_true_defaults_mode_is_required_and_shown_to_all(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    set_modes(qbt, conn.company_id, customfield_defaults="true")

    resp = conn.post("customfields", [{"name": "Vehicle", "type": "free-form"}])

    field = rows(resp, "customfields")["1"]
    assert (field["required"], field["show_to_all"]) == (True, True)


def test_without_the_custom_fields_addon_creating_a_field_fails_its_item(qbt: str) -> None:
    # Given an account without the Custom Fields add-on
    conn = connect(qbt, new_company(qbt))
    set_modes(qbt, conn.company_id, customfields_addon="not_installed")

    # When a custom field is created
    resp = conn.post("customfields", [{"name": "Vehicle", "type": "free-form"}])

    # Then the request succeeds but its item fails with 417, and no field is listed
    assert resp.status_code == 200
    item = rows(resp, "customfields")["1"]
    assert item["_status_code"] == 417
    assert "add-on" in item["_status_extra"]
    assert rows(conn.get("customfields"), "customfields") == {}


def test_without_the_custom_fields_addon_users_have_no_customfields_property(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    set_modes(qbt, conn.company_id, customfields_addon="not_installed")

    users = rows(conn.get("users"), "users")

    assert users
    assert not [u for u in users.values() if "customfields" in u]


def test_fields_made_with_the_addon_disappear_when_it_is_uninstalled(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    conn.post("customfields", [{"name": "Vehicle", "type": "free-form"}])

    set_modes(qbt, conn.company_id, customfields_addon="not_installed")

    assert rows(conn.get("customfields"), "customfields") == {}


# -- users -------------------------------------------------------------------------------------


def test_two_users_may_share_one_email_but_not_one_payroll_id(qbt: str) -> None:
    # Given a user with an email and a payroll id
    conn = connect(qbt, new_company(qbt))
    first = {"username": "ann1", "first_name": "Ann", "last_name": "Lee"}
    conn.post("users", [{**first, "email": "shared@example.com", "payroll_id": "P-1"}])

    # When two more users come with the same email, one also with the same payroll id
    resp = conn.post(
        "users",
        [
            {
                "username": "ann2",
                "first_name": "Ann",
                "last_name": "Lee",
                "email": "shared@example.com",
            },
            {
                "username": "ann3",
                "first_name": "Ann",
                "last_name": "Lee",
                "email": "shared@example.com",
                "payroll_id": "P-1",
            },
        ],
    )

    # Then the shared email is fine; the shared payroll id is not
    statuses = [r["_status_code"] for r in rows(resp, "users").values()]
    assert statuses == [200, 417]
    assert "payroll id" in rows(resp, "users")["2"]["_status_extra"]
