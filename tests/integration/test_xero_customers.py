"""Customers only (issue 15, "Import customers"): a firm with its books in Xero and its
hours in QuickBooks Time takes in only Xero's customers (IsCustomer: they have had a sales
invoice), which go on to QBT as jobcodes; the contacts never invoiced are listed by
`GET /v1/connections/xero/non-customers` and added on request; a contact invoiced later
(IsCustomer turns true without moving its UpdatedDateUTC) is taken in by the re-import.
Driven as the deployed stack would be, against a Xero demo organisation and a fresh QBT
account."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from booksync.store.tenants import create_api_key, create_tenant
from tests.conftest import lambda_context, load_handler
from tests.integration.oauth_dance import oauth_event
from tests.integration.test_time_entries import (
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


class XeroQbtFirm(Firm):
    push_queues = {"qbt": "QbtPushQueue", "xero": "XeroPushQueue"}

    def contacts(self) -> list[str]:
        page, _ = self.api("GET", "/v1/contacts", query="limit=200", ok=200)
        return sorted(c["name"] for c in page["items"])

    def xero_contacts(self, customer: bool) -> dict[str, str]:
        return {
            c["Name"]: c["ContactID"]
            for c in self.objects("xero", "Contacts")
            if c["ContactStatus"] == "ACTIVE" and bool(c["IsCustomer"]) is customer
        }


@pytest.fixture
def firm(stack_env, handlers, sims):  # noqa: F811
    # the import option is chosen as Xero is connected: it holds from the first import
    books = XeroQbtFirm(
        stack_env,
        handlers,
        sims,
        connect=("qbt", "xero"),
        seeds={"xero": "sandbox"},
        connect_query={"xero": {"settings": json.dumps({"customers_only": True})}},
    )
    settings, _ = books.api("GET", "/v1/connections/xero/settings", ok=200)
    assert settings["customers_only"] is True
    return books


def test_settings_given_at_connect_are_checked_first(handlers):
    tenant = create_tenant("Harbour Accounting")
    key = create_api_key(tenant.tenant_id).key
    for bad, field in (('{"customers_onl": true}', "customers_onl"), ("[1]", "settings")):
        answer = handlers["oauth"](
            oauth_event("GET", "/oauth/xero/connect", {"settings": bad}, key), lambda_context()
        )
        assert answer["statusCode"] == 400, answer
        assert field in answer["body"]


def test_only_customers_come_in_and_the_others_are_added_on_request(firm):
    customers, others = firm.xero_contacts(True), firm.xero_contacts(False)
    assert customers  # the demo organisation has both
    assert others
    firm.pull("xero")  # the first pull reads every contact
    assert firm.contacts() == sorted(customers)
    firm.api("POST", "/v1/connections/qbt/sync", ok=200)
    firm.run()
    jobcodes = [j["name"] for j in firm.objects("qbt", "jobcodes") if j["type"] == "regular"]
    assert sorted(jobcodes) == sorted(customers)

    listed, _ = firm.api("GET", "/v1/connections/xero/non-customers", ok=200)
    assert sorted(i["name"] for i in listed["items"]) == sorted(others)
    chosen = sorted(others)[0]
    added, _ = firm.api(
        "POST",
        "/v1/connections/xero/non-customers/add",
        {"contact_ids": [others[chosen], "00000000-0000-0000-0000-000000000000"]},
        ok=200,
    )
    assert (added["created"], added["not_found"]) == (1, ["00000000-0000-0000-0000-000000000000"])
    firm.run()
    assert chosen in firm.contacts()
    assert chosen in [j["name"] for j in firm.objects("qbt", "jobcodes")]
    listed, _ = firm.api("GET", "/v1/connections/xero/non-customers", ok=200)
    assert chosen not in [i["name"] for i in listed["items"]]


def test_a_contact_invoiced_later_comes_in_with_the_reimport(firm):
    firm.pull("xero")
    others = firm.xero_contacts(False)
    late = sorted(others)[-1]
    firm.in_provider(
        "xero",
        "Invoices",
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": others[late]},
            "Date": date.today().isoformat(),
            "DueDate": date.today().isoformat(),
            "Status": "AUTHORISED",
            "LineItems": [
                {"Description": "Advice", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200"}
            ],
        },
    )
    assert late not in firm.contacts()  # (a pull may not see it: nothing it reads moved)
    plan: Any
    plan, _ = firm.api("POST", "/v1/connections/qbt/import-from-xero", {"dry_run": True}, ok=200)
    assert plan["customers"] == {"to_import": [late]}
    done, _ = firm.api("POST", "/v1/connections/qbt/import-from-xero", {}, ok=200)
    assert done["customers"]["created"] == 1
    assert late in firm.contacts()
    again, _ = firm.api("POST", "/v1/connections/qbt/import-from-xero", {}, ok=200)
    assert again["customers"]["created"] == 0  # idempotent


def test_a_contacts_address_is_its_jobcodes_location(stack_env, handlers, sims):  # noqa: F811
    firm = Firm(stack_env, handlers, sims, connect=("qbt",))
    firm.api("PUT", "/v1/connections/qbt/settings", {"addresses_as_locations": True}, ok=200)
    address = {"line1": "1 Quay St", "city": "Bristol", "postal_code": "BS1 4DJ", "country": "GB"}
    acme = firm.create("contacts", {"name": "Acme Ltd", "physical_address": address})
    firm.create("contacts", {"name": "No Address Co"})
    firm.api("POST", "/v1/connections/qbt/sync", ok=200)
    firm.run()
    jobcode = int(firm.link("qbt", "contact", acme["id"]))
    (place,) = firm.objects("qbt", "locations")
    assert (place["addr1"], place["city"], place["zip"], place["label"]) == (
        "1 Quay St",
        "Bristol",
        "BS1 4DJ",
        "Acme Ltd",
    )
    assert place["linked_objects"] == {"jobcodes": [jobcode]}
    job = next(j for j in firm.objects("qbt", "jobcodes") if j["id"] == jobcode)
    assert job["locations"] == [place["id"]]

    firm.forget_calls("qbt")
    firm.edit("contacts", acme, physical_address={**address, "line1": "2 Quay St"})
    firm.run()
    (moved,) = firm.objects("qbt", "locations")
    assert (moved["id"], moved["addr1"]) == (place["id"], "2 Quay St")  # updated, not added
    firm.forget_calls("qbt")
    current, _ = firm.api("GET", f"/v1/contacts/{acme['id']}", ok=200)
    # an edit that leaves the name (the label) and the address as they were
    firm.edit("contacts", current, emails=[{"address": "accounts@acme.example"}])
    firm.run()
    writes = [c for c in firm.calls("qbt") if c["method"] != "GET" and "locations" in c["endpoint"]]
    assert writes == []
