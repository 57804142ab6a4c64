"""What booksync's invoice and payment sync needs from the QBO simulator: Service items found by
name, invoices with US and Canadian (combined GST/PST) tax codes, sparse line updates, sending,
duplicate document numbers, payments (partial, split, future-dated, of a job, over the balance,
in a closed period, voided, deleted) and how CDC and webhooks report them. Behaviours the public
record leaves open are the modes of `local/simulators/qbo/modes.py`; each test sets the one it
needs."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import Ref
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.payment import Payment, PaymentLine

from local.simulators.core import Clock, serve
from local.simulators.qbo import make_provider

from .test_qbo import Api, connect_with_intuit_clients, quickbooks_client
from .test_qbo_modes import Receiver, hook


@pytest.fixture(autouse=True)
def _plain_http_oauth(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def sim():
    server = serve(make_provider(Clock()), 0)
    requests.put(server.url + "/_sim/ratelimits", json={"enabled": False})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def company(sim):
    return requests.post(sim.url + "/_sim/companies", json={"name": "Sandbox US"}).json()


def api_for(sim, realm: str) -> Api:
    token = requests.post(sim.url + "/_sim/oauth/tokens", json={"company_id": realm})
    return Api(sim, realm, token.json()["access_token"])


@pytest.fixture
def api(sim, company):
    return api_for(sim, company["id"])


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def set_modes(sim, realm: str, **modes: Any) -> None:
    r = requests.put(f"{sim.url}/_sim/companies/{realm}/modes", json=modes)
    assert r.status_code == 200, r.text


def fault(r: requests.Response) -> dict:
    assert r.status_code == 400, r.text
    return r.json()["Fault"]["Error"][0]


def customer(api: Api, name: str) -> str:
    quoted = name.replace("'", "\\'")
    rows = api.query(f"select * from Customer where DisplayName = '{quoted}'")["Customer"]
    return rows[0]["Id"]


def line(amount: float, item: str = "1", **detail: Any) -> dict:
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "SalesItemLineDetail": {"ItemRef": {"value": item}, **detail},
    }


def new_invoice(api: Api, cust: str, *lines: dict, **extra: Any) -> dict:
    return api.create("Invoice", {"CustomerRef": {"value": cust}, "Line": list(lines), **extra})


def pay(api: Api, cust: str, total: float, *applied: tuple[dict, float], **extra: Any):
    return api.post(
        "/payment",
        {
            "CustomerRef": {"value": cust},
            "TotalAmt": total,
            "Line": [
                {"Amount": amt, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}
                for inv, amt in applied
            ],
            **extra,
        },
    )


def balance(api: Api, inv: dict) -> float:
    return float(api.get(f"/invoice/{inv['Id']}").json()["Invoice"]["Balance"])


def webhook_events(receiver: Receiver, until, timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """(entity, id, operation) of every event received, once `until(events)` holds."""
    deadline = time.monotonic() + timeout
    while True:
        with receiver.cond:
            events = [
                (e["name"], e["id"], e["operation"])
                for body in receiver.got
                for note in body["eventNotifications"]
                for e in note["dataChangeEvent"]["entities"]
            ]
            if until(events) or time.monotonic() > deadline:
                return events
            receiver.cond.wait(0.2)


def cdc(api: Api, since: str, entities: str = "Payment,Invoice") -> dict[str, list[dict]]:
    r = api.get("/cdc", entities=entities, changedSince=since)
    assert r.status_code == 200, r.text
    out: dict[str, list[dict]] = {}
    for q in r.json()["CDCResponse"][0]["QueryResponse"]:
        for k, v in q.items():
            if isinstance(v, list):
                out[k] = v
    return out


def now_marker(sim, api: Api) -> str:
    """A changedSince after the seeding: move the clock past it, then take the server time."""
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 2})
    return api.get("/companyinfo/1").json()["time"]


# ---------------------------------------------------------------- modes are listed


def test_billing_modes_are_listed_with_defaults_and_sources(sim, company):
    r = requests.get(f"{sim.url}/_sim/companies/{company['id']}/modes").json()
    available = {m["name"]: m for m in r["available"]}

    assert r["modes"]["duplicate_docnumber"] == "refuse"
    assert available["duplicate_docnumber"]["values"] == ["refuse", "allow"]
    assert "#175" in available["duplicate_docnumber"]["source"]
    assert available["send_without_email"]["values"] == ["refuse", "customer_email"]
    assert available["invoice_sparse_lines"]["values"] == ["replace", "merge"]
    assert "ALL or NONE" in available["invoice_sparse_lines"]["source"]
    assert available["payment_invoice_event"]["values"] == ["update", "none"]


# ---------------------------------------------------------------- items


def test_service_item_is_found_by_name_and_type_and_its_name_is_unique(api):
    made = api.create(
        "Item",
        {
            "Name": "Consulting - Partner's hour",
            "Type": "Service",
            "IncomeAccountRef": {"value": "1"},
        },
    )

    rows = api.query(
        "select * from Item where Name = 'Consulting - Partner\\'s hour' and Type = 'Service'"
    )["Item"]
    assert [i["Id"] for i in rows] == [made["Id"]]
    services = api.query("select * from Item where Type = 'Service' MAXRESULTS 1000")["Item"]
    assert {i["Type"] for i in services} == {"Service"}
    assert api.query("select * from Item where Name = 'No such work type'") == {}

    # the same name in another case is taken: 6240, in the QBO screens' words for items
    err = fault(
        api.post(
            "/item",
            {
                "Name": "CONSULTING - partner's hour",
                "Type": "Service",
                "IncomeAccountRef": {"value": "1"},
            },
        )
    )
    assert err["code"] == "6240"
    assert err["Message"] == "Duplicate Name Exists Error"
    assert "Another product or service is already using this name" in err["Detail"]


def test_inactive_item_keeps_its_name_and_cannot_go_on_an_invoice_line(api):
    item = api.create(
        "Item", {"Name": "Retired work type", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    )
    api.create("Item", {**item, "Active": False, "sparse": True})

    # hidden from a plain lookup, found when the query names Active
    assert api.query("select * from Item where Name = 'Retired work type'") == {}
    found = api.query("select * from Item where Name = 'Retired work type' and Active = false")[
        "Item"
    ]
    assert found[0]["Active"] is False
    # the name stays taken
    r = api.post(
        "/item",
        {"Name": "Retired work type", "Type": "Service", "IncomeAccountRef": {"value": "1"}},
    )
    assert fault(r)["code"] == "6240"
    # and an invoice line naming it is refused as an inactive reference
    r = api.post("/invoice", {"CustomerRef": {"value": "1"}, "Line": [line(10, item["Id"])]})
    err = fault(r)
    assert err["code"] == "610"
    assert "made inactive" in err["Detail"]


# ---------------------------------------------------------------- duplicate DocNumber


def test_duplicate_docnumber_is_refused_with_6140_unless_allowed_by_include(api):
    first = new_invoice(api, "1", line(10), DocNumber="HUB-42")

    err = fault(
        api.post(
            "/invoice", {"CustomerRef": {"value": "1"}, "Line": [line(5)], "DocNumber": "HUB-42"}
        )
    )
    assert err["code"] == "6140"
    assert err["Message"] == "Duplicate Document Number Error"
    assert f"TxnId={first['Id']}" in err["Detail"]

    r = api.post(
        "/invoice",
        {"CustomerRef": {"value": "1"}, "Line": [line(5)], "DocNumber": "HUB-42"},
        include="allowduplicatedocnum",
    )
    assert r.status_code == 200, r.text


def test_duplicate_docnumber_in_allow_mode_is_stored_twice(sim, api, company):
    # Given a company whose duplicate-number check is off
    set_modes(sim, company["id"], duplicate_docnumber="allow")
    first = new_invoice(api, "1", line(10), DocNumber="HUB-43")

    # When the same number is sent again (a retry booksync thought had failed)
    second = new_invoice(api, "1", line(10), DocNumber="HUB-43")

    # Then QuickBooks holds two invoices with that number: only a lookup finds the first
    assert second["Id"] != first["Id"]
    rows = api.query("select * from Invoice where DocNumber = 'HUB-43'")["Invoice"]
    assert sorted(i["Id"] for i in rows) == sorted([first["Id"], second["Id"]])


# ---------------------------------------------------------------- send


def send(api: Api, inv: dict, **params: Any) -> requests.Response:
    return api.s.post(
        f"{api.base}/invoice/{inv['Id']}/send",
        params={"minorversion": 75, **params},
        headers={"Content-Type": "application/octet-stream"},
    )


def test_send_uses_bill_email_and_send_to_overrides_it(api):
    inv = new_invoice(api, "1", line(20), BillEmail={"Address": "ap@birds.example"})

    sent = send(api, inv).json()["Invoice"]
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"]["Address"] == "ap@birds.example"
    assert sent["DeliveryInfo"]["DeliveryType"] == "Email"
    assert int(sent["SyncToken"]) == int(inv["SyncToken"]) + 1

    again = send(api, inv, sendTo="owner@birds.example").json()["Invoice"]
    assert again["BillEmail"]["Address"] == "owner@birds.example"


def test_send_without_any_address_is_refused_by_default(api):
    inv = new_invoice(api, "1", line(20))
    assert "BillEmail" not in inv  # not copied from the customer on create (Intuit's sample)

    err = fault(send(api, inv))

    assert err["code"] == "6000"
    assert "email address" in err["Detail"]
    assert api.get(f"/invoice/{inv['Id']}").json()["Invoice"]["EmailStatus"] == "NotSet"


def test_send_without_any_address_in_customer_email_mode_uses_the_customer(sim, api, company):
    set_modes(sim, company["id"], send_without_email="customer_email")
    inv = new_invoice(api, "1", line(20))  # Amy's Bird Sanctuary: Birds@Intuit.com

    sent = send(api, inv).json()["Invoice"]

    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"]["Address"] == "Birds@Intuit.com"
    # a customer with no email at all is still refused
    nomail = api.create("Customer", {"DisplayName": "No Mail Ltd"})
    assert fault(send(api, new_invoice(api, nomail["Id"], line(5))))["code"] == "6000"


def test_invoice_to_be_emailed_needs_a_bill_email(api):
    r = api.post(
        "/invoice", {"CustomerRef": {"value": "1"}, "Line": [line(5)], "EmailStatus": "NeedToSend"}
    )
    assert "You must enter the email address" in fault(r)["Detail"]


# ---------------------------------------------------------------- sparse update with Line


def two_line_invoice(api: Api) -> dict:
    return new_invoice(
        api,
        "1",
        line(100, "10", Qty=2, UnitPrice=50),
        line(30, "2", Qty=1, UnitPrice=30),
        PrivateNote="hub invoice 7",
    )


def item_lines(inv: dict) -> list[dict]:
    return [ln for ln in inv["Line"] if ln["DetailType"] == "SalesItemLineDetail"]


def test_sparse_update_with_line_replaces_every_line_by_default(api):
    inv = two_line_invoice(api)
    assert inv["TotalAmt"] == 130.0

    r = api.post(
        "/invoice",
        {
            "Id": inv["Id"],
            "SyncToken": inv["SyncToken"],
            "sparse": True,
            "Line": [line(45, "2", Qty=1, UnitPrice=45)],
        },
    )

    updated = r.json()["Invoice"]
    assert [ln["Amount"] for ln in item_lines(updated)] == [45.0]  # the first line is gone
    assert updated["TotalAmt"] == 45.0
    assert updated["Balance"] == 45.0
    assert updated["PrivateNote"] == "hub invoice 7"  # fields not sent are kept
    assert updated["Line"][-1]["DetailType"] == "SubTotalLineDetail"


def test_sparse_update_with_line_in_merge_mode_keeps_lines_not_sent(sim, api, company):
    set_modes(sim, company["id"], invoice_sparse_lines="merge")
    inv = two_line_invoice(api)
    first = item_lines(inv)[0]

    r = api.post(
        "/invoice",
        {
            "Id": inv["Id"],
            "SyncToken": inv["SyncToken"],
            "sparse": True,
            "Line": [
                {
                    **first,
                    "Amount": 150,
                    "SalesItemLineDetail": {**first["SalesItemLineDetail"], "Qty": 3},
                },
                line(10, "17", Qty=1, UnitPrice=10),
            ],
        },
    )

    updated = r.json()["Invoice"]
    assert [ln["Amount"] for ln in item_lines(updated)] == [150.0, 30.0, 10.0]
    assert updated["TotalAmt"] == 190.0


def test_payment_lines_are_all_or_none_and_an_empty_line_list_unapplies_it(api):
    inv = new_invoice(api, "1", line(80))
    p = pay(api, "1", 80, (inv, 80)).json()["Payment"]
    assert balance(api, inv) == 0.0

    r = api.post(
        "/payment", {"Id": p["Id"], "SyncToken": p["SyncToken"], "sparse": True, "Line": []}
    )

    unapplied = r.json()["Payment"]
    assert unapplied["Line"] == []
    assert unapplied["UnappliedAmt"] == 80.0
    assert balance(api, inv) == 80.0


# ---------------------------------------------------------------- payments


def test_partial_split_and_unapplied_payments(api):
    a = new_invoice(api, "1", line(100))
    b = new_invoice(api, "1", line(60))

    partial = pay(api, "1", 25, (a, 25)).json()["Payment"]
    assert partial["UnappliedAmt"] == 0.0
    assert balance(api, a) == 75.0

    split = pay(api, "1", 150, (a, 75), (b, 60)).json()["Payment"]
    assert split["UnappliedAmt"] == 15.0  # the rest is a credit for the customer
    assert (balance(api, a), balance(api, b)) == (0.0, 0.0)
    links = api.get(f"/invoice/{a['Id']}").json()["Invoice"]["LinkedTxn"]
    assert {lt["TxnId"] for lt in links} == {partial["Id"], split["Id"]}


def test_overpaying_a_line_or_applying_more_than_the_total_is_refused(api):
    inv = new_invoice(api, "1", line(50))

    err = fault(pay(api, "1", 60, (inv, 60)))
    assert err["code"] == "6000"
    assert "open balance" in err["Detail"]
    assert fault(pay(api, "1", 10, (inv, 20)))["code"] == "6000"
    assert balance(api, inv) == 50.0


def test_payment_dated_in_the_future_is_accepted(api):
    inv = new_invoice(api, "1", line(40))
    future = time.gmtime(time.time() + 40 * 86400)
    day = time.strftime("%Y-%m-%d", future)

    r = pay(api, "1", 40, (inv, 40), TxnDate=day)

    assert r.status_code == 200, r.text
    assert r.json()["Payment"]["TxnDate"] == day
    assert balance(api, inv) == 0.0


def test_payment_on_another_customers_invoice_is_620_but_a_parent_may_pay_its_job(api):
    amy_invoice = new_invoice(api, "1", line(30))
    bills = customer(api, "Bill's Windsurf Shop")

    err = fault(pay(api, bills, 30, (amy_invoice, 30)))
    assert err["code"] == "620"
    assert err["Message"] == "TxnID Cannot Be Linked"
    assert err["Detail"] == f"TxnID Cannot Be Linked : {amy_invoice['Id']}"
    assert err["element"] == "Payment.Line.LinkedTxn.TxnId"
    # a deleted (or never existing) invoice is the same error
    assert fault(pay(api, "1", 5, ({"Id": "99999"}, 5)))["code"] == "620"

    # a job billed with its parent: the parent's payment may be applied to the job's invoice
    freeman = customer(api, "Freeman Sporting Goods")
    job = customer(api, "0969 Ocean View Road")  # BillWithParent in the seed
    job_invoice = new_invoice(api, job, line(70))
    assert pay(api, freeman, 70, (job_invoice, 70)).status_code == 200
    assert balance(api, job_invoice) == 0.0
    # a job not billed with its parent is another customer
    own = api.create(
        "Customer",
        {"DisplayName": "Separate Job", "ParentRef": {"value": freeman}, "BillWithParent": False},
    )
    own_invoice = new_invoice(api, own["Id"], line(10))
    assert fault(pay(api, freeman, 10, (own_invoice, 10)))["code"] == "620"


def test_payment_in_a_closed_period_is_6200(api):
    prefs = api.get("/preferences").json()["Preferences"]
    api.post(
        "/preferences",
        {
            "SyncToken": prefs["SyncToken"],
            "sparse": True,
            "AccountingInfoPrefs": {"BookCloseDate": "2024-12-31"},
        },
    )
    inv = new_invoice(api, "1", line(40), TxnDate="2025-01-10")

    err = fault(pay(api, "1", 40, (inv, 40), TxnDate="2024-12-31"))
    assert err["code"] == "6200"
    assert err["Message"] == "Account Period Closed, Cannot Update Through Services API"
    assert pay(api, "1", 40, (inv, 40), TxnDate="2025-01-01").status_code == 200


def test_voided_payment_keeps_its_note_after_voided_and_gives_the_balance_back(api):
    inv = new_invoice(api, "1", line(40))
    p = pay(api, "1", 40, (inv, 40), PrivateNote="cheque 118").json()["Payment"]

    r = api.post(
        "/payment",
        {"Id": p["Id"], "SyncToken": p["SyncToken"], "sparse": True},
        operation="update",
        include="void",
    )

    voided = r.json()["Payment"]
    assert voided["TotalAmt"] == 0.0
    assert voided["PrivateNote"].startswith("Voided")
    assert voided["PrivateNote"].endswith("cheque 118")
    assert balance(api, inv) == 40.0


# ---------------------------------------------------------------- CDC and webhooks


def payment_lifecycle(api: Api) -> tuple[dict, dict]:
    """Create (partial), update (more), void one payment; create and delete another."""
    inv = new_invoice(api, "1", line(100))
    p = pay(api, "1", 30, (inv, 30)).json()["Payment"]
    p = api.post(
        "/payment",
        {
            "Id": p["Id"],
            "SyncToken": p["SyncToken"],
            "sparse": True,
            "TotalAmt": 50,
            "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    ).json()["Payment"]
    assert balance(api, inv) == 50.0
    api.post(
        "/payment",
        {"Id": p["Id"], "SyncToken": p["SyncToken"], "sparse": True},
        operation="update",
        include="void",
    )
    q = pay(api, "1", 20, (inv, 20)).json()["Payment"]
    r = api.post("/payment", {"Id": q["Id"], "SyncToken": q["SyncToken"]}, operation="delete")
    assert r.json()["Payment"]["status"] == "Deleted"
    assert balance(api, inv) == 100.0
    return inv, {"voided": p, "deleted": q}


def test_payment_create_update_void_delete_are_webhook_events_with_the_invoice(sim, api, receiver):
    hook(sim, receiver)
    inv, pays = payment_lifecycle(api)
    voided, deleted = pays["voided"]["Id"], pays["deleted"]["Id"]
    wanted = {
        ("Payment", voided, "Create"),
        ("Payment", voided, "Update"),
        ("Payment", voided, "Void"),
        ("Payment", deleted, "Create"),
        ("Payment", deleted, "Delete"),
        ("Invoice", inv["Id"], "Create"),
        ("Invoice", inv["Id"], "Update"),
    }

    events = webhook_events(receiver, lambda ev: wanted <= set(ev))

    assert wanted <= set(events)
    pay_ops = [op for name, oid, op in events if name == "Payment" and oid == voided]
    assert pay_ops == ["Create", "Update", "Void"]
    # each of the 5 payment writes changes the invoice's balance and is reported for it
    assert events.count(("Invoice", inv["Id"], "Update")) == 5


def test_payment_changes_and_invoice_balances_are_in_cdc(sim, api):
    since = now_marker(sim, api)
    inv, pays = payment_lifecycle(api)

    changed = cdc(api, since)

    payments = {p["Id"]: p for p in changed["Payment"]}
    voided = payments[pays["voided"]["Id"]]
    assert voided["TotalAmt"] == 0.0
    assert voided["PrivateNote"].startswith("Voided")
    assert payments[pays["deleted"]["Id"]]["status"] == "Deleted"
    invoices = {i["Id"]: i for i in changed["Invoice"]}
    assert invoices[inv["Id"]]["Balance"] == 100.0
    assert invoices[inv["Id"]]["LinkedTxn"] == []


def test_payment_invoice_event_none_mode_names_only_the_payment_but_cdc_sees_the_invoice(
    sim, api, company, receiver
):
    # Given an invoice, then a company whose payment webhooks name only the payment
    inv = new_invoice(api, "1", line(90))
    since = now_marker(sim, api)
    set_modes(sim, company["id"], payment_invoice_event="none")
    hook(sim, receiver)

    # When a payment is applied to it
    p = pay(api, "1", 90, (inv, 90)).json()["Payment"]

    # Then the webhook names the payment, not the invoice...
    events = webhook_events(receiver, lambda ev: ("Payment", p["Id"], "Create") in ev)
    assert ("Payment", p["Id"], "Create") in events
    time.sleep(0.3)
    events = webhook_events(receiver, lambda ev: False, timeout=0.1)
    assert not [e for e in events if e[0] == "Invoice"]
    # ...while CDC (and the invoice's SyncToken) show its new balance
    changed = cdc(api, since)
    assert changed["Invoice"][0]["Balance"] == 0.0
    assert int(changed["Invoice"][0]["SyncToken"]) == int(inv["SyncToken"]) + 1


def test_sending_an_invoice_is_an_emailed_webhook_event(sim, api, receiver):
    hook(sim, receiver)
    inv = new_invoice(api, "1", line(10), BillEmail={"Address": "x@example.com"})
    send(api, inv)

    want = ("Invoice", inv["Id"], "Emailed")
    assert want in webhook_events(receiver, lambda ev: want in ev)


# ---------------------------------------------------------------- tax codes


def test_us_seed_codes_tax_non_and_a_two_rate_group_compute_the_invoice_tax(api):
    codes = {c["Name"]: c for c in api.query("select * from TaxCode")["TaxCode"]}
    assert {"TAX", "NON", "California", "Tucson"} <= set(codes)
    tucson = codes["Tucson"]
    assert len(tucson["SalesTaxRateList"]["TaxRateDetail"]) == 2  # AZ State 7.1 + Tucson 2.0

    inv = new_invoice(
        api,
        "1",
        line(100, TaxCodeRef={"value": "TAX"}),
        line(50, TaxCodeRef={"value": "NON"}),
        TxnTaxDetail={"TxnTaxCodeRef": {"value": tucson["Id"]}},
    )

    tax = inv["TxnTaxDetail"]
    assert sorted(t["TaxLineDetail"]["TaxPercent"] for t in tax["TaxLine"]) == [2.0, 7.1]
    assert tax["TotalTax"] == 9.1  # 100 taxable x (7.1% + 2%)
    assert inv["TotalAmt"] == 159.1


@pytest.fixture
def ca_api(sim):
    ca = requests.post(
        sim.url + "/_sim/qbo/companies", json={"name": "Maple Ltd", "country": "CA"}
    ).json()
    return api_for(sim, ca["id"])


def test_canadian_combined_gst_pst_code_taxes_the_invoice_at_both_rates(ca_api):
    codes = {c["Name"]: c for c in ca_api.query("select * from TaxCode")["TaxCode"]}
    combined = codes["GST/PST BC"]
    rates = {r["Id"]: r for r in ca_api.query("select * from TaxRate")["TaxRate"]}
    details = combined["SalesTaxRateList"]["TaxRateDetail"]
    assert sorted(rates[d["TaxRateRef"]["value"]]["RateValue"] for d in details) == [5.0, 7.0]
    agencies = {rates[d["TaxRateRef"]["value"]]["AgencyRef"]["value"] for d in details}
    assert len(agencies) == 2  # GST to the CRA, PST to the province

    inv = new_invoice(
        ca_api,
        "1",
        line(200, TaxCodeRef={"value": combined["Id"]}),
        line(100, TaxCodeRef={"value": codes["GST"]["Id"]}),
        GlobalTaxCalculation="TaxExcluded",
    )

    lines = inv["TxnTaxDetail"]["TaxLine"]
    assert sorted((t["TaxLineDetail"]["TaxPercent"], t["Amount"]) for t in lines) == [
        (5.0, 5.0),
        (5.0, 10.0),
        (7.0, 14.0),
    ]
    assert inv["TxnTaxDetail"]["TotalTax"] == 29.0
    assert inv["TotalAmt"] == 329.0


def test_canadian_tax_inclusive_amount_is_split_by_both_rates(ca_api):
    codes = {c["Name"]: c["Id"] for c in ca_api.query("select * from TaxCode")["TaxCode"]}

    inv = new_invoice(
        ca_api,
        "1",
        line(112, TaxCodeRef={"value": codes["GST/PST BC"]}),
        GlobalTaxCalculation="TaxInclusive",
    )

    lines = inv["TxnTaxDetail"]["TaxLine"]
    assert {t["TaxLineDetail"]["NetAmountTaxable"] for t in lines} == {100.0}
    assert inv["TxnTaxDetail"]["TotalTax"] == 12.0
    assert inv["TotalAmt"] == 112.0


def test_taxservice_creates_a_two_rate_code_an_invoice_can_use(ca_api):
    rates = {r["Name"]: r for r in ca_api.query("select * from TaxRate")["TaxRate"]}
    agencies = {
        a["DisplayName"]: a["Id"] for a in ca_api.query("select * from TaxAgency")["TaxAgency"]
    }

    r = ca_api.post(
        "/taxservice/taxcode",
        {
            "TaxCode": "GST/PST MB",
            "TaxRateDetails": [
                {"TaxRateId": rates["GST"]["Id"]},
                {
                    "TaxRateName": "PST (MB) on sales",
                    "RateValue": 7,
                    "TaxAgencyId": agencies["Canada Revenue Agency"],
                    "TaxApplicableOn": "Sales",
                },
            ],
        },
    )
    assert r.status_code == 200, r.text
    made = r.json()
    assert [d["RateValue"] for d in made["TaxRateDetails"]] == [5, 7]

    code = ca_api.get(f"/taxcode/{made['TaxCodeId']}").json()["TaxCode"]
    assert len(code["SalesTaxRateList"]["TaxRateDetail"]) == 2
    inv = new_invoice(ca_api, "1", line(100, TaxCodeRef={"value": made["TaxCodeId"]}))
    assert inv["TxnTaxDetail"]["TotalTax"] == 12.0


# ---------------------------------------------------------------- python-quickbooks


def test_python_quickbooks_invoice_send_and_payment_flow(sim):
    auth, realm = connect_with_intuit_clients(sim)
    qb = quickbooks_client(sim, auth, realm)

    # a work type mapped to a Service item, found by name as booksync would
    service = Item()
    service.Name = "Bookkeeping hour"
    service.Type = "Service"
    service.IncomeAccountRef = Ref()
    service.IncomeAccountRef.value = "1"
    service.save(qb=qb)
    found = Item.filter(Name="Bookkeeping hour", Type="Service", qb=qb)
    assert [i.Id for i in found] == [service.Id]

    detail = SalesItemLineDetail()
    detail.ItemRef = found[0].to_ref()
    detail.Qty = 4
    detail.UnitPrice = 60
    ln = SalesItemLine()
    ln.Amount = 240
    ln.SalesItemLineDetail = detail
    inv = Invoice()
    inv.CustomerRef = Ref()
    inv.CustomerRef.value = "1"
    inv.DocNumber = "HUB-900"
    inv.Line = [ln]
    inv = inv.save(qb=qb)
    assert inv.TotalAmt == 240

    sent = inv.send(qb=qb, send_to="ap@birds.example")
    assert sent["Invoice"]["EmailStatus"] == "EmailSent"

    dup = Invoice()
    dup.CustomerRef = inv.CustomerRef
    dup.DocNumber = "HUB-900"
    dup.Line = [ln]
    with pytest.raises(QuickbooksException) as exc:
        dup.save(qb=qb)
    assert exc.value.error_code == 6140

    def payment(total: float, applied: float) -> Payment:
        p = Payment()
        p.CustomerRef = inv.CustomerRef
        p.TotalAmt = total
        pl = PaymentLine()
        pl.Amount = applied
        pl.LinkedTxn.append(inv.to_linked_txn())
        p.Line = [pl]
        return p.save(qb=qb)

    first = payment(100, 100)
    assert Invoice.get(inv.Id, qb=qb).Balance == 140
    second = payment(140, 140)
    assert Invoice.get(inv.Id, qb=qb).Balance == 0

    second.void(qb=qb)
    assert Invoice.get(inv.Id, qb=qb).Balance == 140
    first = Payment.get(first.Id, qb=qb)
    first.delete(qb=qb)
    assert Invoice.get(inv.Id, qb=qb).Balance == 240
    assert Payment.filter(Id=first.Id, qb=qb) == []
