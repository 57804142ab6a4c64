""" "Save and sync" through the practice API: QBT's custom fields, then every wanted record."""

import json

import pytest
import requests

from tests.integration.oauth_dance import Dance
from tests.integration.test_api import call


@pytest.fixture
def stack_env(sim_stack_env):
    return sim_stack_env


@pytest.fixture
def firm(stack_env, handler, api_key, sims):
    api = handler("api")
    dance = Dance(handler("oauth"), api_key)
    qbt = sims["qbt"].url
    company = requests.post(
        f"{qbt}/_sim/companies", json={"name": "Setup Co", "seed": "empty"}, timeout=10
    ).json()["id"]
    assert dance.connect("qbt", sim_company=str(company))[0] == 200
    return api, api_key, qbt, company


def _custom_fields(qbt, company):
    objects = requests.get(
        f"{qbt}/_sim/companies/{company}/objects/customfields", timeout=10
    ).json()["objects"]
    return [f for f in objects if f.get("active")]


def test_save_and_sync_creates_the_two_custom_fields_and_queues_every_wanted_record(
    firm, stack_env
):
    api, key, qbt, company = firm
    call(
        api,
        "POST",
        "/v1/users",
        key,
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@firm.example",
            "task_types": ["Audit", "Tax"],
            "roles": ["Partner"],
        },
    )
    for name in ("Alpha Ltd", "Beta Ltd"):
        call(api, "POST", "/v1/contacts", key, {"name": name})
    call(api, "POST", "/v1/contacts", key, {"name": "Maybe Later", "contact_type": "Prospect"})
    status, body, _ = call(api, "POST", "/v1/connections/qbt/sync", key)
    assert status == 200, body
    assert body["enqueued"]["contact"] == 2  # clients only: the settings' default contact types
    assert body["enqueued"]["user"] == 1
    names = sorted(f["name"] for f in _custom_fields(qbt, company))
    assert names == ["Role", "Task type"]
    # a second save-and-sync makes no new custom field
    call(api, "POST", "/v1/connections/qbt/sync", key)
    assert len(_custom_fields(qbt, company)) == 2


def test_with_too_few_free_custom_fields_save_and_sync_fails_with_a_clear_error(firm):
    api, key, qbt, company = firm
    for i in range(5):
        requests.post(
            f"{qbt}/_sim/companies/{company}/objects/customfields",
            timeout=10,
            json={
                "name": f"Field {i}",
                "applies_to": "timesheet",
                "type": "free-form",
                "active": True,
            },
        ).raise_for_status()
    status, problem, _ = call(api, "POST", "/v1/connections/qbt/sync", key)
    assert status == 409
    assert "Too many custom fields in QBT" in problem["detail"]
    assert "Field 0" in problem["detail"]
    _, errors, _ = call(api, "GET", "/v1/sync-errors", key, query="provider=qbt")
    (error,) = errors["items"]
    assert error["code"] == "qbt.too_many_custom_fields"
    assert "Deactivate" in error["what_to_do"]


def test_qbt_down_while_save_and_sync_sets_up_its_fields_is_a_wait_not_a_sync_error(firm):
    api, key, qbt, _company = firm
    fault = {"action": "error", "status": 503, "path": "/customfields", "count": 20}
    requests.post(f"{qbt}/_sim/faults", json=fault, timeout=10).raise_for_status()
    try:
        status, problem, headers = call(api, "POST", "/v1/connections/qbt/sync", key)
    finally:
        requests.delete(f"{qbt}/_sim/faults", timeout=10)
    assert status == 503
    assert int(headers["Retry-After"]) >= 1
    assert "try again" in problem["detail"]
    _, errors, _ = call(api, "GET", "/v1/sync-errors", key, query="provider=qbt")
    assert errors["items"] == []  # nothing for a person to fix
    status, _, _ = call(api, "POST", "/v1/connections/qbt/sync", key)  # QBT is back
    assert status == 200


def test_qbt_users_without_a_hub_match_are_listed_with_the_reason(firm):
    api, key, _qbt, _company = firm
    status, body, _ = call(api, "GET", "/v1/connections/qbt/unmatched-users", key)
    assert status == 200
    assert body["items"]
    assert all(row["reason"] in ("no_email", "archived", "no_hub_user") for row in body["items"])
    assert json.dumps(body).count("explanation") == len(body["items"])


def test_save_and_sync_needs_a_connection(handler, api_key, stack_env):
    api = handler("api")
    assert call(api, "POST", "/v1/connections/xero/sync", api_key)[0] == 404
