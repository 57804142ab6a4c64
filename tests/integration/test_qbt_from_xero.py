"""Xero's items and tracking categories as QuickBooks Time custom fields (issue 15):
`POST /v1/connections/qbt/import-from-xero` with a dry run, the sold non-inventory items
as the "Item" field (required when the firm says so), each active tracking category as a
field of its options, the six-field cap said before any write, and a re-import that
renames, adds and deactivates what changed in Xero, idempotently. A firm with its books
in a fresh Xero organisation and its hours in a fresh QBT account, driven through the
practice API."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from booksync.store.tenants import create_api_key, create_tenant
from tests.conftest import load_handler
from tests.integration.oauth_dance import Dance
from tests.integration.test_api import call
from tests.integration.test_time_entries import stack_env  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def handlers(stack_env):  # noqa: F811 - the fixture imported above
    with pytest.MonkeyPatch.context() as mp:
        yield {name: load_handler(name, mp).lambda_handler for name in ("api", "oauth")}


class Firm:
    def __init__(
        self, handlers: dict[str, Any], sims: dict[str, Any], xero_seed: str = "empty"
    ) -> None:
        self.h = handlers
        self.sims = {p: sims[p].url for p in ("qbt", "xero")}
        self.tenant_id = create_tenant("Harbour Accounting").tenant_id
        self.key = create_api_key(self.tenant_id).key
        self.company: dict[str, str] = {}
        for provider in ("qbt", "xero"):
            reply = requests.post(
                f"{self.sims[provider]}/_sim/companies",
                json={
                    "name": f"{provider} books",
                    "seed": xero_seed if provider == "xero" else "empty",
                },
                timeout=10,
            )
            reply.raise_for_status()
            self.company[provider] = str(reply.json()["id"])
            status, page = Dance(handlers["oauth"], self.key).connect(
                provider, sim_company=self.company[provider]
            )
            assert status == 200, page

    def api(self, method: str, path: str, body: Any = None, ok: int | None = None) -> Any:
        path, _, query = path.partition("?")
        status, answer, _ = call(self.h["api"], method, path, self.key, body, query)
        if ok is not None:
            assert status == ok, answer
            return answer
        return status, answer

    def settings(self, **values: Any) -> None:
        self.api("PUT", "/v1/connections/qbt/settings", values, ok=200)

    def run_import(self, dry_run: bool = False) -> dict[str, Any]:
        return self.api(
            "POST", "/v1/connections/qbt/import-from-xero", {"dry_run": dry_run}, ok=200
        )

    def objects(self, provider: str, kind: str) -> list[dict[str, Any]]:
        url = f"{self.sims[provider]}/_sim/companies/{self.company[provider]}/objects/{kind}"
        return list(requests.get(url, timeout=10).json()["objects"])

    def in_xero(self, kind: str, fields: dict[str, Any], object_id: str | None = None) -> Any:
        """A person enters or changes something in Xero's own screens."""
        url = f"{self.sims['xero']}/_sim/companies/{self.company['xero']}/objects/{kind}"
        method = "PATCH" if object_id else "POST"
        reply = requests.request(method, f"{url}/{object_id}" if object_id else url, json=fields)
        reply.raise_for_status()
        return reply.json()

    def in_qbt(self, kind: str, fields: dict[str, Any]) -> Any:
        url = f"{self.sims['qbt']}/_sim/companies/{self.company['qbt']}/objects/{kind}"
        reply = requests.post(url, json=fields, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def fields(self) -> dict[str, dict[str, Any]]:
        """QBT's custom fields by name, each with its active values."""
        items = self.objects("qbt", "customfielditems")
        out = {}
        for f in self.objects("qbt", "customfields"):
            values = sorted(
                i["name"] for i in items if i["customfield_id"] == f["id"] and i["active"]
            )
            out[f["name"]] = {"active": f["active"], "required": f["required"], "values": values}
        return out


@pytest.fixture
def firm(handlers, sims):
    books = Firm(handlers, sims)
    for item in (
        {"Code": "BOOK", "Name": "Bookkeeping", "IsSold": True},
        {"Code": "PAYR", "Name": "Payroll", "IsSold": True},
        {"Code": "PAPER", "Name": "Paper", "IsSold": True, "IsTrackedAsInventory": True,
         "InventoryAssetAccountCode": "630", "PurchaseDetails": {"COGSAccountCode": "310"}},
        {"Code": "RENT", "Name": "Rent", "IsSold": False, "IsPurchased": True},
    ):  # fmt: skip
        books.in_xero("Items", item)
    books.in_xero(
        "TrackingCategories",
        {"Name": "Region", "Options": [{"Name": "North"}, {"Name": "South"}]},
    )
    books.in_xero("TrackingCategories", {"Name": "Office", "Options": [{"Name": "Leeds"}]})
    return books


def test_a_dry_run_says_what_the_import_makes_and_writes_nothing(firm):
    firm.settings(xero_items=True, require_item=True, xero_tracking=True)
    plan = firm.run_import(dry_run=True)
    assert plan["dry_run"] is True
    assert sorted((f["field"], f["action"], f["added"]) for f in plan["fields"]) == [
        ("Item", "create", ["Bookkeeping", "Payroll"]),  # sold, not inventory
        ("Office", "create", ["Leeds"]),
        ("Region", "create", ["North", "South"]),
    ]
    assert firm.objects("qbt", "customfields") == []


def test_items_and_tracking_become_custom_fields_and_a_reimport_follows_xero(firm):
    firm.settings(xero_items=True, require_item=True, xero_tracking=True)
    done = firm.run_import()
    assert done["dry_run"] is False
    fields = firm.fields()
    assert fields["Item"] == {
        "active": True,
        "required": True,
        "values": ["Bookkeeping", "Payroll"],
    }
    assert fields["Region"]["values"] == ["North", "South"]
    assert fields["Office"]["values"] == ["Leeds"]

    # a second run with nothing changed in Xero writes nothing
    again = firm.run_import()
    assert {f["action"] for f in again["fields"]} == {"keep"}
    assert all(not (f["added"] or f["renamed"] or f["archived"]) for f in again["fields"])

    # When, in Xero: an item renamed, one added, one no longer sold; a category archived
    (payroll,) = [i for i in firm.objects("xero", "Items") if i["Code"] == "PAYR"]
    firm.in_xero("Items", {"Name": "Payroll services"}, payroll["ItemID"])
    firm.in_xero("Items", {"Code": "TAX", "Name": "Tax returns", "IsSold": True})
    (book,) = [i for i in firm.objects("xero", "Items") if i["Code"] == "BOOK"]
    firm.in_xero("Items", {"IsSold": False, "IsPurchased": True}, book["ItemID"])
    (office,) = [c for c in firm.objects("xero", "TrackingCategories") if c["Name"] == "Office"]
    firm.in_xero("TrackingCategories", {"Status": "ARCHIVED"}, office["TrackingCategoryID"])
    before = {f["name"]: f["id"] for f in firm.objects("qbt", "customfields")}

    # Then the re-import renames the value (the same QBT item), adds and deactivates, and
    # the archived category's field is deactivated, not deleted
    redo = firm.run_import()
    item = next(f for f in redo["fields"] if f["field"] == "Item")
    assert item["renamed"] == [{"from": "Payroll", "to": "Payroll services"}]
    assert (item["added"], item["archived"]) == (["Tax returns"], ["Bookkeeping"])
    fields = firm.fields()
    assert fields["Item"]["values"] == ["Payroll services", "Tax returns"]
    assert fields["Office"]["active"] is False
    assert {f["name"]: f["id"] for f in firm.objects("qbt", "customfields")} == before
    renamed = [i for i in firm.objects("qbt", "customfielditems") if i["name"] == "Payroll"]
    assert renamed == []  # renamed in place, not made again


def test_fields_that_do_not_fit_are_refused_before_any_write_naming_what_to_deactivate(firm):
    for name in ("Mileage", "Vehicle", "Site", "Weather"):
        firm.in_qbt("customfields", {"name": name, "type": "free-form"})
    firm.settings(xero_items=True, xero_tracking=True)  # three more: one too many
    status, answer = firm.api("POST", "/v1/connections/qbt/import-from-xero", {})
    assert status == 409, answer
    assert "6 active custom fields" in answer["detail"]
    assert "'Mileage'" in answer["detail"]
    assert len(firm.objects("qbt", "customfields")) == 4


def test_the_import_needs_a_setting_and_xero_connected(handlers, sims):
    books = Firm(handlers, sims)
    status, answer = books.api("POST", "/v1/connections/qbt/import-from-xero", {})
    assert status == 400, answer
    assert "xero_items" in answer["detail"]


# ------------------------------------------------------------------- time off and leave


def test_time_off_codes_are_mapped_to_xero_leave_types_each_id_checked(handlers, sims):
    books = Firm(handlers, sims, xero_seed="sandbox")  # Payroll UK's leave types
    books.in_qbt("jobcodes", {"name": "Acme Ltd", "type": "regular"})  # not time off
    lists = books.api("GET", "/v1/connections/xero/leave-mapping", ok=200)
    # a new QuickBooks Time account's own time-off codes
    assert [c["name"] for c in lists["time_off_codes"]] == ["Holiday", "Sick", "Vacation"]
    holiday, sick, _ = lists["time_off_codes"]
    types = {t["name"]: t for t in lists["leave_types"]}
    paid = next(t for t in types.values() if t["paid"])
    unpaid = next(t for t in types.values() if not t["paid"])
    assert lists["mapping"] == []

    # an unknown code and an unknown leave type are refused, naming each; nothing saved
    status, answer = books.api(
        "PUT",
        "/v1/connections/xero/leave-mapping",
        {"mapping": {"999": paid["id"], str(holiday["id"]): "no-such-type"}},
    )
    assert status == 400, answer
    assert "999: not a QuickBooks Time time-off code" in answer["detail"]
    assert "no-such-type is not a Xero leave type" in answer["detail"]
    assert books.api("GET", "/v1/connections/xero/leave-mapping", ok=200)["mapping"] == []

    # then a good mapping is saved; the unpaid one says it is never exported
    saved = books.api(
        "PUT",
        "/v1/connections/xero/leave-mapping",
        {"mapping": {str(holiday["id"]): paid["id"], str(sick["id"]): unpaid["id"]}},
        ok=200,
    )
    rows = {m["time_off_name"]: m for m in saved["mapping"]}
    assert (rows["Holiday"]["leave_type_name"], rows["Holiday"]["paid"]) == (paid["name"], True)
    assert "never exported" in rows["Sick"]["note"]
    again = books.api("GET", "/v1/connections/xero/leave-mapping", ok=200)
    assert again["mapping"] == saved["mapping"]
    # and a null removes one code's mapping, keeping the other
    books.api(
        "PUT", "/v1/connections/xero/leave-mapping", {"mapping": {str(sick["id"]): None}}, ok=200
    )
    left = books.api("GET", "/v1/connections/xero/leave-mapping", ok=200)["mapping"]
    assert [m["time_off_name"] for m in left] == ["Holiday"]


# ------------------------------------------------------------------------------ staff


def test_qbt_users_of_a_xero_firm_link_only_when_first_last_name_and_email_agree(handlers, sims):
    from booksync.boot import boot
    from booksync.engine.pull import pull
    from booksync.settings import get_settings
    from booksync.store import connections as connection_rows
    from booksync.store import links

    books = Firm(handlers, sims)  # books in Xero, hours in QuickBooks Time
    hub = {
        who: books.api(
            "POST",
            "/v1/users",
            {"first_name": first, "last_name": last, "email": f"{who}@harbour.example"},
            ok=201,
        )["id"]
        for who, first, last in (("ann", "Ann", "Lee"), ("bob", "Bob", "Hart"))
    }
    ann = books.in_qbt(
        "users",
        {
            "username": "ann",
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@harbour.example",
        },
    )
    rob = books.in_qbt(
        "users",
        {"username": "rob", "first_name": "Robert", "last_name": "Hart",
         "email": "bob@harbour.example"},
    )  # fmt: skip
    session = boot(get_settings()).session(connection_rows.get(books.tenant_id, "qbt"))
    pull(session, lambda record, provider: None)

    def linked(hub_id):
        found = links.get_link(books.tenant_id, "qbt", "user", hub_id)
        return found.provider_id if found is not None else None

    # all three agree: linked; the email alone (QBT's own rule would link it): a review
    assert linked(hub["ann"]) == str(ann["id"])
    assert linked(hub["bob"]) is None
    page = books.api("GET", "/v1/duplicates?kind=user", ok=200)
    (review,) = [d for d in page["items"] if d["provider_user"]["id"] == str(rob["id"])]
    assert review["candidates"][0]["hub_id"] == hub["bob"]
    assert review["candidates"][0]["reasons"] == ["same email"]


# ---------------------------------------------------------------- unmatched customers


def test_unmatched_qbt_customers_are_archived_after_a_dry_run_unless_they_have_time(handlers, sims):
    from datetime import date, timedelta

    from booksync.store import links

    books = Firm(handlers, sims)
    # a customer the hub links (imported), one with a job that has recent time, one idle
    linked = books.in_qbt("jobcodes", {"name": "Acme Ltd"})
    busy = books.in_qbt("jobcodes", {"name": "Old Client"})
    job = books.in_qbt("jobcodes", {"name": "Audit", "parent_id": busy["id"]})
    idle = books.in_qbt("jobcodes", {"name": "Gone Ltd"})
    owner = books.objects("qbt", "users")[0]
    books.in_qbt(
        "timesheets",
        {"user_id": owner["id"], "jobcode_id": job["id"], "type": "manual",
         "date": (date.today() - timedelta(days=20)).isoformat(), "duration": 3600},
    )  # fmt: skip
    contact = books.api("POST", "/v1/contacts", {"name": "Acme Ltd"}, ok=201)
    links.save_link(
        books.tenant_id, "qbt", "contact", contact["id"], "jobcode", str(linked["id"]),
        provider_version=None, content_hash=None, synced_version=1,
    )  # fmt: skip

    plan = books.api("POST", "/v1/connections/qbt/archive-unmatched", {"dry_run": True}, ok=200)
    assert plan["to_archive"] == [{"id": str(idle["id"]), "name": "Gone Ltd"}]
    assert plan["kept"] == [
        {"id": str(busy["id"]), "name": "Old Client", "why": "has time in the last six months"}
    ]
    assert all(j["active"] for j in books.objects("qbt", "jobcodes"))  # a dry run

    done = books.api("POST", "/v1/connections/qbt/archive-unmatched", {}, ok=200)
    assert done["archived"] == [{"id": str(idle["id"]), "name": "Gone Ltd"}]
    active = {j["name"]: j["active"] for j in books.objects("qbt", "jobcodes")}
    assert (active["Gone Ltd"], active["Old Client"], active["Acme Ltd"]) == (False, True, True)
    assert active["Holiday"] is True  # time-off codes are not customers
    again = books.api("POST", "/v1/connections/qbt/archive-unmatched", {}, ok=200)
    assert again["archived"] == []
