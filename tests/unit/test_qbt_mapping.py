"""QuickBooks Time mappers and error classification: pure functions, no HTTP."""

from __future__ import annotations

import pytest

from booksync.errors import Kind
from booksync.hub import content as hub
from booksync.providers.qbt import jobcodes, users
from booksync.providers.qbt.client import classify, item_failure


def test_contact_becomes_a_top_level_regular_jobcode():
    jobcode = jobcodes.jobcode_from_contact(hub.Contact(name="Acme Corp"))
    assert jobcode == {"name": "Acme Corp", "parent_id": 0, "type": "regular", "active": True}


def test_long_contact_name_is_cut_to_qbts_64_characters():
    jobcode = jobcodes.jobcode_from_contact(hub.Contact(name="A" * 60 + " Holdings Limited"))
    assert jobcode["name"] == "A" * 60 + " Hol"
    assert len(jobcode["name"]) == 64


def test_inactive_contact_maps_to_an_archived_jobcode():
    assert jobcodes.jobcode_from_contact(hub.Contact(name="Old", active=False))["active"] is False


def test_work_item_becomes_a_child_of_its_contacts_jobcode():
    item = hub.WorkItem(contact_id="c1", name="Year-end accounts")
    jobcode = jobcodes.jobcode_from_work_item(item, 1000123)
    assert jobcode["parent_id"] == 1000123
    assert jobcode["name"] == "Year-end accounts"
    assert jobcode["active"] is True


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_finished_work_item_maps_to_an_archived_jobcode(status):
    item = hub.WorkItem(contact_id="c1", name="Payroll", status=status)
    assert jobcodes.jobcode_from_work_item(item, 7)["active"] is False


def test_update_of_an_archived_jobcode_restores_it_in_the_same_edit():
    # Given the hub record is active again and its jobcode is archived in QBT
    wanted = jobcodes.jobcode_from_contact(hub.Contact(name="Acme Group"))
    # When the update is built
    body = jobcodes.jobcode_update(55, wanted, current_active=False)
    # Then it renames and restores at once (QBT refuses edits of archived jobcodes)
    assert body == {"id": 55, "name": "Acme Group", "parent_id": 0, "active": True}


def test_deactivating_a_contact_archives_its_jobcode():
    wanted = jobcodes.jobcode_from_contact(hub.Contact(name="Acme", active=False))
    assert jobcodes.jobcode_update(55, wanted, current_active=True)["active"] is False


def test_jobcode_names_match_regardless_of_case_and_surrounding_spaces():
    assert jobcodes.same_name("  ACME corp ", "Acme Corp")
    assert not jobcodes.same_name("Acme Corp", "Acme Corporation")


def test_new_qbt_user_has_time_tracking_on_and_the_email_as_username():
    user = hub.User(first_name="Blair", last_name="Keeper", email="Blair@Firm.example")
    body = users.user_from_hub(user)
    assert body["permissions"] == {"time_tracking": True}
    assert body["username"] == "blair@firm.example"
    assert body["email"] == "Blair@Firm.example"
    assert (body["first_name"], body["last_name"]) == ("Blair", "Keeper")


def test_username_taken_by_someone_else_gets_a_suffix():
    taken = {"blair@firm.example", "blair+2@firm.example"}
    assert users.username_for("blair@firm.example", taken) == "blair+3@firm.example"


def test_user_update_leaves_username_and_permissions_alone():
    user = hub.User(first_name="B", last_name="K", email="b@firm.example", active=False)
    body = users.user_update(42, user)
    assert body == {
        "id": 42,
        "email": "b@firm.example",
        "first_name": "B",
        "last_name": "K",
        "active": False,
    }


def test_qbt_user_maps_to_the_hub_fields_qbt_knows():
    raw = {"id": 9, "first_name": "Casey", "last_name": "Payne", "email": "c@x.example"}
    content = users.hub_user_from_qbt({**raw, "active": False, "username": "cpayne"})
    assert content == {
        "first_name": "Casey",
        "last_name": "Payne",
        "email": "c@x.example",
        "active": False,
    }


def test_qbt_user_without_email_cannot_be_a_hub_user():
    assert users.hub_user_from_qbt({"first_name": "A", "last_name": "B", "email": ""}) is None


# ------------------------------------------------------------------------ classification


def test_429_is_throttled_with_a_wait_because_qbt_sends_no_retry_after():
    failure = classify(429, {"error": {"code": 429, "message": "Too Many Requests"}}, {})
    assert failure.code == "qbt.throttled"
    assert failure.kind is Kind.RATE_LIMITED
    assert failure.retry_after == 60


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(status):
    failure = classify(status, {"error": {"code": status, "message": "Service Unavailable"}}, {})
    assert failure.code == "qbt.unavailable"
    assert failure.kind is Kind.TRANSIENT


@pytest.mark.parametrize("status", [413, 417])
def test_rejected_requests_need_a_fix_and_keep_qbts_message(status):
    message = "Expectation Failed: limit must be an integer greater than 0"
    failure = classify(status, {"error": {"code": status, "message": message}}, {})
    assert failure.code == "qbt.validation"
    assert failure.provider_message == message


def test_ts_1006_means_the_user_cannot_track_time():
    # docs Users/_create.md.erb: "403: Forbidden. TS-1006: User is not allowed to track time"
    body = {
        "error": {"code": 403, "message": "Forbidden. TS-1006: User is not allowed to track time"}
    }
    assert classify(403, body, {}).code == "qbt.time_tracking_disabled"


def test_failed_item_of_a_batch_is_classified_with_its_own_words():
    # docs Jobcodes/Examples/_create-response.md.erb
    result = {
        "_status_code": 417,
        "_status_message": "Expectation Failed",
        "_status_extra": "Oops! That Short Code is already in use",
    }
    failure = item_failure(result)
    assert failure is not None
    assert failure.code == "qbt.validation"
    assert failure.provider_message == "Oops! That Short Code is already in use"


@pytest.mark.parametrize("code", [200, 202])
def test_accepted_items_are_no_failure(code):
    assert item_failure({"_status_code": code, "_status_message": "Created", "id": 1}) is None
