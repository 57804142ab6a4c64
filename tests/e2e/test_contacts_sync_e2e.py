"""Contacts across all three providers on the local stack, over HTTP, through the real
queues, workers, adapters and simulators."""

import time

import pytest
import requests

from local.person import connect
from tests.e2e.conftest import operator_cli

pytestmark = pytest.mark.e2e


def _wait(probe, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def firm(stack):
    tenant = operator_cli(stack, "tenants", "create", "Contacts Firm")
    key = operator_cli(stack, "api-keys", "create", tenant["tenant_id"])["key"]
    sims = stack.endpoints()["simulators"]
    companies = {}
    for provider in ("qbo", "qbt", "xero"):
        company = requests.post(
            f"{sims[provider]}/_sim/companies",
            json={"name": f"Firm {provider}", "seed": "empty"},
            timeout=30,
        ).json()["id"]
        companies[provider] = company
        result = connect(stack.gateway.url, key, provider, sim_company=str(company))
        assert result.status == 200, result.page
    stack.drain(timeout=60)
    return {
        "key": key,
        "auth": {"Authorization": f"Bearer {key}"},
        "companies": companies,
        "sims": sims,
    }


def _objects(firm, provider, kind):
    url = f"{firm['sims'][provider]}/_sim/companies/{firm['companies'][provider]}/objects/{kind}"
    return requests.get(url, timeout=30).json()["objects"]


def _object_url(firm, provider, kind, object_id):
    company = firm["companies"][provider]
    return f"{firm['sims'][provider]}/_sim/companies/{company}/objects/{kind}/{object_id}"


KINDS = {
    "qbo": ("Customer", "DisplayName"),
    "xero": ("Contacts", "Name"),
    "qbt": ("jobcodes", "name"),
}


def _names(firm, provider):
    kind, field = KINDS[provider]
    return {o.get(field) for o in _objects(firm, provider, kind)}


def test_a_new_contact_reaches_qbo_xero_and_qbt_and_a_rename_follows(stack, firm):
    api = stack.gateway.url
    created = requests.post(
        f"{api}/v1/contacts",
        headers=firm["auth"],
        timeout=30,
        json={"name": "Seaview Vets", "emails": [{"address": "hello@seaview.example"}]},
    )
    assert created.status_code == 201, created.text
    for provider in ("qbo", "xero", "qbt"):
        _wait(lambda p=provider: "Seaview Vets" in _names(firm, p))
    contact = created.json()
    renamed = requests.patch(
        f"{api}/v1/contacts/{contact['id']}",
        json={"name": "Seaview Veterinary"},
        headers={**firm["auth"], "If-Match": created.headers["ETag"]},
        timeout=30,
    )
    assert renamed.status_code == 200, renamed.text
    for provider in ("qbo", "xero", "qbt"):
        _wait(
            lambda p=provider: (
                "Seaview Veterinary" in _names(firm, p) and "Seaview Vets" not in _names(firm, p)
            )
        )


def test_an_edit_in_qbos_screens_reaches_the_hub_and_a_rename_in_qbt_does_not(stack, firm):
    api = stack.gateway.url
    created = requests.post(
        f"{api}/v1/contacts", headers=firm["auth"], timeout=30, json={"name": "Hilltop Farm"}
    )
    hub_id = created.json()["id"]
    customer = _wait(
        lambda: next(
            (c for c in _objects(firm, "qbo", "Customer") if c["DisplayName"] == "Hilltop Farm"),
            None,
        )
    )
    jobcode = _wait(
        lambda: next(
            (j for j in _objects(firm, "qbt", "jobcodes") if j["name"] == "Hilltop Farm"), None
        )
    )
    stack.drain(timeout=60)
    qbo = _object_url(firm, "qbo", "Customer", customer["Id"])
    requests.patch(qbo, json={"DisplayName": "Hilltop Farm Ltd"}, timeout=30).raise_for_status()
    qbt = _object_url(firm, "qbt", "jobcodes", jobcode["id"])
    requests.patch(qbt, json={"name": "Renamed In QBT"}, timeout=30).raise_for_status()
    requests.post(
        f"{api}/_local/schedules/Hourly", timeout=60
    )  # QBT has no webhooks: the hourly poll

    def hub_name():
        return requests.get(f"{api}/v1/contacts/{hub_id}", headers=firm["auth"], timeout=30).json()[
            "name"
        ]

    _wait(lambda: hub_name() == "Hilltop Farm Ltd")
    stack.drain(timeout=60)
    assert hub_name() == "Hilltop Farm Ltd"
    # the QBO edit went on to Xero
    _wait(lambda: "Hilltop Farm Ltd" in _names(firm, "xero"))
