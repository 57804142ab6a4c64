"""Import on the local stack: a QBO company of 300 customers meets a hub of 30 contacts."""

import time

import pytest
import requests

from local.person import connect
from tests.e2e.conftest import operator_cli

pytestmark = pytest.mark.e2e


def _wait(probe, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("condition not met in time")


def _all(api, path, auth):
    items, cursor = [], None
    while True:
        query = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api}{path}", params=query, headers=auth, timeout=60).json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def test_first_pull_imports_300_customers_as_20_linked_10_to_review_and_270_new(stack):
    api = stack.gateway.url
    qbo = stack.endpoints()["simulators"]["qbo"]
    tenant = operator_cli(stack, "tenants", "create", "Import Firm")
    key = operator_cli(stack, "api-keys", "create", tenant["tenant_id"])["key"]
    auth = {"Authorization": f"Bearer {key}"}
    company = requests.post(
        f"{qbo}/_sim/companies", json={"name": "Big Books", "seed": "empty"}, timeout=30
    ).json()["id"]
    for i in range(300):
        body = {
            "DisplayName": f"Customer {i:03d}",
            "PrimaryEmailAddr": {"Address": f"c{i}@books.example"},
        }
        requests.post(
            f"{qbo}/_sim/companies/{company}/objects/Customer", json=body, timeout=30
        ).raise_for_status()
    for i in range(20):  # exact: same name and email
        requests.post(
            f"{api}/v1/contacts",
            headers=auth,
            timeout=30,
            json={"name": f"customer {i:03d}", "emails": [{"address": f"C{i}@books.example"}]},
        )
    for i in range(20, 30):  # partial: same name, another email
        requests.post(
            f"{api}/v1/contacts",
            headers=auth,
            timeout=30,
            json={
                "name": f"Customer {i:03d}",
                "emails": [{"address": f"old{i}@elsewhere.example"}],
            },
        )

    assert connect(api, key, "qbo", sim_company=str(company)).status == 200

    duplicates = _wait(
        lambda: (
            (d := requests.get(f"{api}/v1/duplicates", headers=auth, timeout=60).json()["items"])
            and len(d) == 10
            and d
        )
    )
    links = _wait(lambda: len(found := _all(api, "/v1/links", auth)) == 290 and found)
    contacts = _all(api, "/v1/contacts", auth)
    assert len(contacts) == 300
    assert sum(1 for c in contacts if c["origin"] == "qbo") == 270
    assert all(d["candidates"] for d in duplicates)

    again = requests.post(f"{api}/v1/connections/qbo/import", headers=auth, timeout=120)
    assert again.status_code == 200, again.text
    assert len(_all(api, "/v1/contacts", auth)) == 300  # nothing imported twice

    for duplicate in duplicates:
        hub_id = duplicate["candidates"][0]["hub_id"]
        resolved = requests.post(
            f"{api}/v1/duplicates/{duplicate['id']}/resolve",
            headers=auth,
            timeout=30,
            json={"action": "link", "hub_id": hub_id},
        )
        assert resolved.status_code == 200, resolved.text
    assert len(_all(api, "/v1/links", auth)) == 300
    assert links
