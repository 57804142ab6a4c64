"""The Xero simulator for invoice and payment sync: lock dates, payments read by a poll,
INVOICE webhooks, edits of approved and paid invoices, tax rates with components, batch
payments, items by code, and the modes where Xero's behaviour is not published. Each test
that depends on a mode sets it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from xero_python.accounting import (
    Account,
    AccountingApi,
    BatchPayment,
    BatchPayments,
    Contact,
    Invoice,
    Invoices,
    LineItem,
    Payment,
    PaymentDelete,
    TaxComponent,
    TaxRate,
    TaxRates,
)
from xero_python.exceptions import AccountingBadRequestException

from local.simulators.core import Clock, serve
from local.simulators.xero import make_provider

from .test_xero import Receiver, api, login, xero_client

BASE = "/api.xro/2.0"
TODAY = date.today()


@pytest.fixture
def sim():
    server = serve(make_provider(Clock()))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver():
    rec = Receiver("billing-key")
    yield rec
    rec.close()


def set_modes(sim, tenant: str, **modes: Any) -> None:
    r = requests.put(f"{sim.url}/_sim/companies/{tenant}/modes", json=modes, timeout=5)
    assert r.status_code == 200, r.text


def set_lock_dates(sim, tenant: str, **dates: str | None) -> requests.Response:
    return requests.patch(
        f"{sim.url}/_sim/companies/{tenant}/objects/Organisation/{tenant}", json=dates, timeout=5
    )


def contact_id(sim, tokens, tenant) -> str:
    found = api(sim, tokens, tenant, "GET", "/Contacts", params={"where": 'Name=="Bayside Club"'})
    return str(found.json()["Contacts"][0]["ContactID"])


def invoice_body(cid: str, day: date, status: str = "AUTHORISED", **extra: Any) -> dict:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": cid},
        "Date": day.isoformat(),
        "DueDate": (day + timedelta(days=14)).isoformat(),
        "Status": status,
        "LineItems": [
            {
                "Description": "Consulting",
                "Quantity": 1,
                "UnitAmount": 100,
                "AccountCode": "200",
                "TaxType": "OUTPUT2",
            }
        ],
        **extra,
    }


def put_invoice(sim, tokens, tenant, body: dict) -> requests.Response:
    return api(sim, tokens, tenant, "PUT", "/Invoices", json={"Invoices": [body]})


def pay(sim, tokens, tenant, invoice_id: str, amount: float, day: date) -> requests.Response:
    return api(
        sim,
        tokens,
        tenant,
        "PUT",
        "/Payments",
        json={
            "Payments": [
                {
                    "Invoice": {"InvoiceID": invoice_id},
                    "Account": {"Code": "090"},
                    "Amount": amount,
                    "Date": day.isoformat(),
                }
            ]
        },
    )


def errors_of(resp: requests.Response) -> list[str]:
    assert resp.status_code == 400, resp.text
    return [e["Message"] for el in resp.json()["Elements"] for e in el["ValidationErrors"]]


def authorised_invoice(sim, tokens, tenant, day: date = TODAY, **extra: Any) -> dict:
    r = put_invoice(
        sim, tokens, tenant, invoice_body(contact_id(sim, tokens, tenant), day, **extra)
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["Invoices"][0])


# -- lock dates ---------------------------------------------------------------------------------


def test_lock_dates_show_on_the_organisation_and_refuse_posted_invoices_but_not_drafts(sim):
    # Given an adviser who locked the books up to 31 March 2024 (period lock date)
    tokens, tenant = login(sim)
    assert set_lock_dates(sim, tenant, PeriodLockDate="2024-03-31").status_code == 200

    # Then GET /Organisation shows the date in Xero's /Date()/ form, the other is absent
    org = api(sim, tokens, tenant, "GET", "/Organisation").json()["Organisations"][0]
    assert org["PeriodLockDate"].startswith("/Date(1711843200000")
    assert "EndOfYearLockDate" not in org

    # When an approved invoice dated on the lock date is sent, Xero refuses it
    cid = contact_id(sim, tokens, tenant)
    locked = put_invoice(sim, tokens, tenant, invoice_body(cid, date(2024, 3, 31)))
    assert errors_of(locked) == [
        "The document date cannot be before the period lock date, currently set at 31-Mar-2024"
    ]
    # but a draft in the locked period is saved, and an approved one the day after too
    draft = put_invoice(sim, tokens, tenant, invoice_body(cid, date(2024, 3, 1), "DRAFT"))
    assert draft.status_code == 200
    assert put_invoice(sim, tokens, tenant, invoice_body(cid, date(2024, 4, 1))).status_code == 200
    # and approving that draft is refused
    draft_id = draft.json()["Invoices"][0]["InvoiceID"]
    approve = api(
        sim, tokens, tenant, "POST", f"/Invoices/{draft_id}", json={"Status": "AUTHORISED"}
    )
    assert "period lock date" in errors_of(approve)[0]


def test_an_adviser_passes_the_period_lock_but_not_the_end_of_year_lock(sim):
    tokens, tenant = login(sim)
    cid = contact_id(sim, tokens, tenant)
    set_lock_dates(sim, tenant, PeriodLockDate="2024-06-30", EndOfYearLockDate="2024-03-31")
    set_modes(sim, tenant, lock_user_role="adviser")

    in_period = put_invoice(sim, tokens, tenant, invoice_body(cid, date(2024, 5, 1)))
    in_year = put_invoice(sim, tokens, tenant, invoice_body(cid, date(2024, 3, 31)))

    assert in_period.status_code == 200
    assert errors_of(in_year) == [
        "The document date cannot be before the end of year lock date, currently set at 31-Mar-2024"
    ]
    # a standard user is stopped by the period lock date too
    set_modes(sim, tenant, lock_user_role="standard")
    again = put_invoice(sim, tokens, tenant, invoice_body(cid, date(2024, 5, 2)))
    assert "period lock date, currently set at 30-Jun-2024" in errors_of(again)[0]
    # clearing the dates lifts the lock
    cleared = set_lock_dates(sim, tenant, PeriodLockDate=None, EndOfYearLockDate="")
    assert cleared.json()["PeriodLockDate"] is None
    assert put_invoice(sim, tokens, tenant, invoice_body(cid, date(2024, 5, 3))).ok


def test_payments_dated_in_a_locked_period_cannot_be_made_or_deleted_nor_invoices_voided(sim):
    tokens, tenant = login(sim)
    inv = authorised_invoice(sim, tokens, tenant, date(2024, 1, 10))
    paid = pay(sim, tokens, tenant, inv["InvoiceID"], 20, date(2024, 1, 15))
    payment_id = paid.json()["Payments"][0]["PaymentID"]
    other = authorised_invoice(sim, tokens, tenant, date(2024, 1, 11))
    set_lock_dates(sim, tenant, PeriodLockDate="2024-01-31")

    late = pay(sim, tokens, tenant, inv["InvoiceID"], 10, date(2024, 1, 20))
    delete = api(sim, tokens, tenant, "POST", f"/Payments/{payment_id}", json={"Status": "DELETED"})
    void = api(
        sim, tokens, tenant, "POST", f"/Invoices/{other['InvoiceID']}", json={"Status": "VOIDED"}
    )
    after_lock = pay(sim, tokens, tenant, inv["InvoiceID"], 10, date(2024, 2, 1))

    assert "period lock date" in errors_of(late)[0]
    assert "period lock date" in errors_of(delete)[0]
    assert "period lock date" in errors_of(void)[0]
    assert after_lock.status_code == 200  # paying an old invoice with today's money is fine


def test_lock_dates_survive_a_snapshot(sim):
    tokens, tenant = login(sim)
    set_lock_dates(sim, tenant, EndOfYearLockDate="2023-12-31")
    snap = requests.get(sim.url + "/_sim/snapshot", timeout=5).json()
    set_lock_dates(sim, tenant, EndOfYearLockDate=None)
    assert requests.post(sim.url + "/_sim/restore", json=snap, timeout=5).ok
    org = api(sim, tokens, tenant, "GET", "/Organisation").json()["Organisations"][0]
    assert org["EndOfYearLockDate"].startswith("/Date(1703980800000")
    bad = set_lock_dates(sim, tenant, PeriodLockDate="not a date")
    assert bad.status_code == 400


# -- payments read by a poll ----------------------------------------------------------------------


def test_payment_poll_sees_new_and_deleted_payments_and_the_invoice_follows(sim):
    tokens, tenant = login(sim)
    inv = authorised_invoice(sim, tokens, tenant)  # total 120.00
    sim.provider.clock.advance(60)
    cursor = sim.provider.clock.now().replace(microsecond=0).isoformat()
    sim.provider.clock.advance(5)
    first = pay(sim, tokens, tenant, inv["InvoiceID"], 50, TODAY).json()["Payments"][0]
    second = pay(sim, tokens, tenant, inv["InvoiceID"], 70, TODAY).json()["Payments"][0]

    # A poll of payments changed since the cursor, filtered and paged, sees both
    polled = api(
        sim,
        tokens,
        tenant,
        "GET",
        "/Payments",
        headers={"If-Modified-Since": cursor},
        params={"where": f'Invoice.InvoiceID==Guid("{inv["InvoiceID"]}")', "page": 1},
    ).json()
    assert {p["PaymentID"] for p in polled["Payments"]} == {
        first["PaymentID"],
        second["PaymentID"],
    }
    assert polled["pagination"]["itemCount"] == 2
    full = api(sim, tokens, tenant, "GET", f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert (full["Status"], full["AmountDue"], full["AmountPaid"]) == ("PAID", 0.0, 120.0)

    # When one payment is deleted, a later poll returns it with Status DELETED
    sim.provider.clock.advance(60)
    cursor2 = sim.provider.clock.now().replace(microsecond=0).isoformat()
    sim.provider.clock.advance(5)
    deleted = api(
        sim,
        tokens,
        tenant,
        "POST",
        f"/Payments/{second['PaymentID']}",
        json={"Status": "DELETED"},
    )
    assert deleted.status_code == 200
    again = api(
        sim, tokens, tenant, "GET", "/Payments", headers={"If-Modified-Since": cursor2}
    ).json()["Payments"]
    assert [(p["PaymentID"], p["Status"]) for p in again] == [(second["PaymentID"], "DELETED")]
    assert again[0]["UpdatedDateUTC"] != second["UpdatedDateUTC"]
    # and the invoice is part-paid again, with a moved UpdatedDateUTC (default mode)
    invs = api(
        sim, tokens, tenant, "GET", "/Invoices", headers={"If-Modified-Since": cursor2}
    ).json()["Invoices"]
    assert [(i["InvoiceID"], i["Status"], i["AmountDue"]) for i in invs] == [
        (inv["InvoiceID"], "AUTHORISED", 70.0)
    ]


def test_when_payments_do_not_touch_the_invoice_only_the_payment_poll_sees_them(sim):
    tokens, tenant = login(sim)
    set_modes(sim, tenant, payment_touches_invoice="no")
    inv = authorised_invoice(sim, tokens, tenant)
    sim.provider.clock.advance(60)
    cursor = sim.provider.clock.now().replace(microsecond=0).isoformat()
    sim.provider.clock.advance(5)

    pay(sim, tokens, tenant, inv["InvoiceID"], 120, TODAY)

    ims = {"If-Modified-Since": cursor}
    assert api(sim, tokens, tenant, "GET", "/Invoices", headers=ims).json()["Invoices"] == []
    assert len(api(sim, tokens, tenant, "GET", "/Payments", headers=ims).json()["Payments"]) == 1
    now = api(sim, tokens, tenant, "GET", f"/Invoices/{inv['InvoiceID']}").json()["Invoices"][0]
    assert now["Status"] == "PAID"
    assert now["UpdatedDateUTC"] == inv["UpdatedDateUTC"]


def test_future_dated_payment_is_allowed_or_refused_by_mode(sim):
    tokens, tenant = login(sim)
    inv = authorised_invoice(sim, tokens, tenant)
    today = datetime.now(UTC).date()  # not the module's TODAY: a run may pass midnight
    tomorrow = today + timedelta(days=1)
    assert pay(sim, tokens, tenant, inv["InvoiceID"], 10, tomorrow).status_code == 200
    set_modes(sim, tenant, future_payment="refuse")
    refused = pay(sim, tokens, tenant, inv["InvoiceID"], 10, tomorrow)
    assert errors_of(refused) == ["The payment date cannot be in the future."]
    assert pay(sim, tokens, tenant, inv["InvoiceID"], 10, today).status_code == 200


# -- webhooks -----------------------------------------------------------------------------------


def test_invoice_events_for_create_update_and_payments_and_no_payment_category(sim, receiver):
    tokens, tenant = login(sim)
    requests.put(
        sim.url + "/_sim/webhooks", json={"url": receiver.url, "key": receiver.key}, timeout=5
    )
    cid = contact_id(sim, tokens, tenant)
    draft = put_invoice(sim, tokens, tenant, invoice_body(cid, TODAY, "DRAFT")).json()
    iid = draft["Invoices"][0]["InvoiceID"]
    api(sim, tokens, tenant, "POST", f"/Invoices/{iid}", json={"Status": "AUTHORISED"})
    pay(sim, tokens, tenant, iid, 12, TODAY)

    assert sim.provider.webhooks.flush(5)
    events = [e for b in receiver.bodies for e in b["events"]]
    invoice_events = [(e["eventType"], e["resourceId"]) for e in events if e["resourceId"] == iid]
    assert invoice_events == [("CREATE", iid), ("UPDATE", iid), ("UPDATE", iid)]
    assert {e["eventCategory"] for e in events} <= {"INVOICE", "CONTACT"}
    assert all(e["resourceUrl"].endswith(f"/Invoices/{e['resourceId']}") for e in events[:1])


# -- editing approved and paid invoices ---------------------------------------------------------


def test_approved_invoice_lines_are_replaced_until_money_is_allocated(sim):
    tokens, tenant = login(sim)
    inv = authorised_invoice(sim, tokens, tenant)
    iid = inv["InvoiceID"]
    new_lines = [
        {"Description": "Workshop", "Quantity": 2, "UnitAmount": 40, "AccountCode": "200"},
        {"Description": "Travel", "Quantity": 1, "UnitAmount": 10, "AccountCode": "200"},
    ]

    # Without payments, POST with the InvoiceID replaces the lines in place
    edited = api(
        sim,
        tokens,
        tenant,
        "POST",
        "/Invoices",
        json={"Invoices": [{"InvoiceID": iid, "LineItems": new_lines}]},
    )
    assert edited.status_code == 200
    got = edited.json()["Invoices"][0]
    assert [line["Description"] for line in got["LineItems"]] == ["Workshop", "Travel"]
    assert (got["SubTotal"], got["Total"], got["Status"]) == (90.0, 108.0, "AUTHORISED")

    # Back to DRAFT is refused
    back = api(sim, tokens, tenant, "POST", f"/Invoices/{iid}", json={"Status": "DRAFT"})
    assert errors_of(back) == ["Invoice not of valid status for modification"]

    # Once part-paid, lines cannot change, nor the status
    pay(sim, tokens, tenant, iid, 8, TODAY)
    part = api(sim, tokens, tenant, "POST", f"/Invoices/{iid}", json={"LineItems": new_lines[:1]})
    assert errors_of(part) == [
        "This document cannot be edited as it has a payment or credit note allocated to it."
    ]
    void = api(sim, tokens, tenant, "POST", f"/Invoices/{iid}", json={"Status": "VOIDED"})
    assert errors_of(void) == [
        "The status VOIDED cannot be applied to the invoice because it has payments or credit "
        "notes allocated to it."
    ]
    # the reference may still change on a part-paid invoice
    ref = api(sim, tokens, tenant, "POST", f"/Invoices/{iid}", json={"Reference": "PO 7"})
    assert ref.status_code == 200

    # Paid in full, nothing can change
    pay(sim, tokens, tenant, iid, 100, TODAY)
    paid = api(sim, tokens, tenant, "POST", f"/Invoices/{iid}", json={"Reference": "PO 8"})
    assert errors_of(paid) == [
        "Invoice not of valid status for modification",
        "This document cannot be edited as it has a payment or credit note allocated to it.",
    ]


# -- tax ----------------------------------------------------------------------------------------


def test_combined_tax_rate_with_a_compound_component_sets_the_line_tax(sim):
    tokens, tenant = login(sim)
    made = api(
        sim,
        tokens,
        tenant,
        "PUT",
        "/TaxRates",
        json={
            "TaxRates": [
                {
                    "Name": "GST + QST",
                    "ReportTaxType": "OUTPUT",
                    "TaxComponents": [
                        {"Name": "GST", "Rate": 5, "IsCompound": False},
                        {"Name": "QST", "Rate": 9.975, "IsCompound": True},
                    ],
                }
            ]
        },
    )
    assert made.status_code == 200, made.text
    rate = made.json()["TaxRates"][0]
    assert rate["TaxType"].startswith("TAX")
    assert (rate["DisplayTaxRate"], rate["EffectiveRate"]) == (14.975, 15.4738)
    assert [c["Name"] for c in rate["TaxComponents"]] == ["GST", "QST"]
    listed = api(sim, tokens, tenant, "GET", "/TaxRates", params={"TaxType": rate["TaxType"]})
    assert listed.json()["TaxRates"][0]["Name"] == "GST + QST"

    body = invoice_body(contact_id(sim, tokens, tenant), TODAY)
    body["LineItems"][0]["TaxType"] = rate["TaxType"]
    inv = put_invoice(sim, tokens, tenant, body).json()["Invoices"][0]
    assert inv["LineItems"][0]["TaxAmount"] == 15.47
    assert inv["Total"] == 115.47

    # a deleted rate, and a purchases rate on a sales account, are refused
    gone = requests.delete(
        f"{sim.url}/_sim/companies/{tenant}/objects/TaxRates/{rate['TaxType']}", timeout=5
    )
    assert gone.json()["Status"] == "DELETED"
    stale = put_invoice(sim, tokens, tenant, body)
    assert errors_of(stale) == [
        f"The TaxType code '{rate['TaxType']}' does not exist or cannot be used for this type "
        "of transaction."
    ]
    body["LineItems"][0]["TaxType"] = "INPUT2"
    wrong = put_invoice(sim, tokens, tenant, body)
    assert errors_of(wrong) == ["The TaxType code 'INPUT2' cannot be used with account code '200'."]


def test_tax_rate_without_components_is_refused(sim):
    tokens, tenant = login(sim)
    r = api(sim, tokens, tenant, "PUT", "/TaxRates", json={"TaxRates": [{"Name": "Empty"}]})
    assert errors_of(r) == ["A tax rate must have at least one tax component."]


# -- batch payments ----------------------------------------------------------------------------


def test_batch_payment_splits_one_receipt_across_invoices_or_is_refused_whole(sim):
    tokens, tenant = login(sim)
    a = authorised_invoice(sim, tokens, tenant)
    b = authorised_invoice(sim, tokens, tenant)
    batch = {
        "Account": {"Code": "090"},
        "Date": TODAY.isoformat(),
        "Reference": "BACS 42",
        "Payments": [
            {"Invoice": {"InvoiceID": a["InvoiceID"]}, "Amount": 120},
            {"Invoice": {"InvoiceID": b["InvoiceID"]}, "Amount": 30},
        ],
    }
    # 30 + 100 to invoice b is more than its 120 outstanding: the whole batch is refused
    too_much = {
        **batch,
        "Payments": [*batch["Payments"], {"Invoice": {"InvoiceID": b["InvoiceID"]}, "Amount": 100}],
    }

    refused = api(sim, tokens, tenant, "PUT", "/BatchPayments", json={"BatchPayments": [too_much]})
    assert errors_of(refused) == ["Payment amount exceeds the amount outstanding on this document"]
    before = api(sim, tokens, tenant, "GET", "/Payments").json()["Payments"]
    assert all(p.get("BatchPaymentID") is None for p in before)

    made = api(sim, tokens, tenant, "PUT", "/BatchPayments", json={"BatchPayments": [batch]})
    assert made.status_code == 200, made.text
    got = made.json()["BatchPayments"][0]
    assert (got["Type"], got["TotalAmount"], len(got["Payments"])) == ("RECBATCH", 150.0, 2)
    bid = got["BatchPaymentID"]
    mine = api(
        sim, tokens, tenant, "GET", "/Payments", params={"where": f'BatchPaymentID==Guid("{bid}")'}
    ).json()["Payments"]
    assert sorted(p["Amount"] for p in mine) == [30.0, 120.0]
    status = {
        i["InvoiceID"]: (i["Status"], i["AmountDue"])
        for i in api(sim, tokens, tenant, "GET", "/Invoices").json()["Invoices"]
    }
    assert status[a["InvoiceID"]] == ("PAID", 0.0)
    assert status[b["InvoiceID"]] == ("AUTHORISED", 90.0)
    assert api(sim, tokens, tenant, "GET", f"/BatchPayments/{bid}").json()["BatchPayments"]


# -- items -------------------------------------------------------------------------------------


def test_items_by_code_and_a_line_that_names_only_the_item(sim):
    tokens, tenant = login(sim)
    item = api(sim, tokens, tenant, "GET", "/Items", params={"where": 'Code=="DevD"'}).json()
    assert len(item["Items"]) == 1
    devd = item["Items"][0]
    assert (devd["IsSold"], devd["IsTrackedAsInventory"]) == (True, False)
    assert devd["SalesDetails"]["UnitPrice"] == 500.0

    body = invoice_body(contact_id(sim, tokens, tenant), TODAY)
    body["LineItems"] = [{"ItemCode": "DevD", "Quantity": 2}]
    line = put_invoice(sim, tokens, tenant, body).json()["Invoices"][0]["LineItems"][0]
    assert (line["UnitAmount"], line["AccountCode"], line["TaxType"]) == (500.0, "200", "OUTPUT2")
    assert line["LineAmount"] == 1000.0
    unsold = api(sim, tokens, tenant, "GET", "/Items", params={"where": "IsSold==false"})
    assert unsold.json()["Items"] == []


# -- idempotency -------------------------------------------------------------------------------


def test_strict_idempotency_refuses_a_reused_key_with_another_body_and_expires(sim):
    tokens, tenant = login(sim)
    set_modes(sim, tenant, idempotency="strict")
    cid = contact_id(sim, tokens, tenant)
    key = {"Idempotency-Key": "hub-inv-1"}
    body = {"Invoices": [invoice_body(cid, TODAY, InvoiceNumber="HUB-1")]}
    first = api(sim, tokens, tenant, "PUT", "/Invoices", json=body, headers=key)
    again = api(sim, tokens, tenant, "PUT", "/Invoices", json=body, headers=key)
    other = {"Invoices": [invoice_body(cid, TODAY, InvoiceNumber="HUB-2")]}
    clash = api(sim, tokens, tenant, "PUT", "/Invoices", json=other, headers=key)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert clash.status_code == 400
    assert clash.json()["Message"] == "Idempotency Key: hub-inv-1 is used with a different request."
    # six minutes later the key is forgotten
    sim.provider.clock.advance(361)
    later = api(sim, tokens, tenant, "PUT", "/Invoices", json=other, headers=key)
    assert later.status_code == 200
    assert later.json()["Invoices"][0]["InvoiceNumber"] == "HUB-2"


def test_lenient_idempotency_replays_a_reused_key_whatever_the_body(sim):
    tokens, tenant = login(sim)
    cid = contact_id(sim, tokens, tenant)
    key = {"Idempotency-Key": "hub-inv-2"}
    first = put_invoice(sim, tokens, tenant, invoice_body(cid, TODAY, InvoiceNumber="L-1"))
    assert first.ok
    a = api(sim, tokens, tenant, "PUT", "/Invoices", json={"Invoices": []}, headers=key)
    b = api(
        sim,
        tokens,
        tenant,
        "PUT",
        "/Invoices",
        json={"Invoices": [invoice_body(cid, TODAY)]},
        headers=key,
    )
    assert a.json() == b.json()


# -- xero-python -------------------------------------------------------------------------------


def test_hub_invoice_flow_with_xero_python(sim, monkeypatch):
    # Given booksync's client: xero-python, hosts changed, nothing else
    tokens, tenant = login(sim)
    acc = AccountingApi(xero_client(sim, tokens, monkeypatch), base_url=sim.url + BASE)
    set_lock_dates(sim, tenant, PeriodLockDate="2024-03-31")
    org = acc.get_organisations(tenant).organisations[0]
    assert org.period_lock_date == date(2024, 3, 31)
    assert org.end_of_year_lock_date is None

    # A combined tax rate and an invoice with ItemCode and TaxType per line, numbered by the hub
    rate = acc.create_tax_rates(
        tenant,
        TaxRates(
            tax_rates=[
                TaxRate(
                    name="GST+PST",
                    report_tax_type="OUTPUT",
                    tax_components=[
                        TaxComponent(name="GST", rate=5, is_compound=False),
                        TaxComponent(name="PST", rate=7, is_compound=False),
                    ],
                )
            ]
        ),
    ).tax_rates[0]
    assert float(rate.effective_rate) == 12.0
    cid = contact_id(sim, tokens, tenant)
    invoice = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=cid),
        invoice_number="HUB-100",
        date=TODAY,
        due_date=TODAY + timedelta(days=30),
        status="AUTHORISED",
        line_items=[
            LineItem(item_code="Train-MS", quantity=1, tax_type=rate.tax_type),
            LineItem(item_code="DevD", quantity=1, tax_type="OUTPUT2"),
        ],
    )
    inv = acc.create_invoices(tenant, Invoices(invoices=[invoice]), idempotency_key="k-1").invoices[
        0
    ]
    assert (float(inv.total_tax), float(inv.total)) == (130.0, 880.0)
    # the retry with the same key replays, no second invoice
    again = acc.create_invoices(tenant, Invoices(invoices=[invoice]), idempotency_key="k-1")
    assert again.invoices[0].invoice_id == inv.invoice_id

    # An invoice dated in the locked period is refused with Xero's wording
    old = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=cid),
        date=date(2024, 3, 15),
        due_date=date(2024, 4, 15),
        status="AUTHORISED",
        line_items=[LineItem(item_code="DevD", quantity=1)],
    )
    with pytest.raises(AccountingBadRequestException) as info:
        acc.create_invoices(tenant, Invoices(invoices=[old]))
    assert (
        "period lock date" in info.value.error_data["Elements"][0]["ValidationErrors"][0]["Message"]
    )

    # Payments: partial, then a batch that settles it with another invoice, then a delete
    part = acc.create_payment(
        tenant,
        Payment(invoice=Invoice(invoice_id=inv.invoice_id), account=Account(code="090"), amount=80),
    )
    invoice.invoice_number = "HUB-101"
    other = acc.create_invoices(tenant, Invoices(invoices=[invoice])).invoices[0]
    batch = acc.create_batch_payment(
        tenant,
        BatchPayments(
            batch_payments=[
                BatchPayment(
                    account=Account(code="090"),
                    reference="Remittance 9",
                    date=TODAY,
                    payments=[
                        Payment(invoice=Invoice(invoice_id=inv.invoice_id), amount=800),
                        Payment(invoice=Invoice(invoice_id=other.invoice_id), amount=100),
                    ],
                )
            ]
        ),
    ).batch_payments[0]
    assert batch.type == "RECBATCH"
    assert acc.get_invoice(tenant, inv.invoice_id).invoices[0].status == "PAID"
    acc.delete_payment(tenant, part.payments[0].payment_id, PaymentDelete(status="DELETED"))
    after = acc.get_invoice(tenant, inv.invoice_id).invoices[0]
    assert (after.status, float(after.amount_due)) == ("AUTHORISED", 80.0)
    polled = acc.get_payments(tenant, where='Status=="DELETED"', page=1).payments
    assert [p.payment_id for p in polled] == [part.payments[0].payment_id]
