"""Xero invoices and payments: the pure mappers, the fingerprints a push stores and the
round trip that makes our own payment an echo on the next pull (issue 13)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.invoices import Invoice
from booksync.hub.kinds.payments import Payment
from booksync.providers.xero.client import classify
from booksync.providers.xero.invoices import (
    Invoices,
    billing_gaps_of,
    fingerprint,
    xero_invoice_from,
)
from booksync.providers.xero.payments import (
    MANAGED,
    Payments,
    payment_from_xero,
    view_hash,
    xero_batch_from,
    xero_payment_from,
    xero_view,
)

SETTINGS = {
    "work_type_items": {"Accounts": "ACC", "Tax": "TAX"},
    "default_item_code": None,
    "sales_account_code": "200",
    "tax_types": {"GST": "OUTPUT2", "GST+PST": "TAX001"},
    "tax_types_by_country": {"Canada": {"GST+PST": "TAX002"}},
}


def _invoice(**extra) -> Invoice:
    body = {
        "number": "INV-1001",
        "contact_id": "c1",
        "issue_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "CAD",
        "status": "sent",
        "lines": [
            {
                "description": "Year-end accounts",
                "work_type": "Accounts",
                "quantity": "3",
                "rate": "120.00",
                "tax_rate": "GST",
                "tax_percent": "5",
                "secondary_tax_rate": "PST",
                "secondary_tax_percent": "7",
            },
            {
                "description": "Tax return",
                "work_type": "Tax",
                "quantity": "2",
                "rate": "100",
                "tax_rate": "GST",
                "tax_percent": "5",
            },
        ],
        **extra,
    }
    return Invoice.model_validate(body)


# ----------------------------------------------------------------------- invoices


def test_invoice_lines_carry_the_item_and_tax_type_of_their_work_type_and_rate():
    body = xero_invoice_from(_invoice(), "xc-1", SETTINGS)

    assert body["Type"] == "ACCREC"
    assert body["Status"] == "AUTHORISED"
    assert body["Contact"] == {"ContactID": "xc-1"}
    assert (body["InvoiceNumber"], body["Date"], body["DueDate"]) == (
        "INV-1001",
        "2026-11-02",
        "2026-12-02",
    )
    assert body["LineAmountTypes"] == "Exclusive"
    assert body["CurrencyCode"] == "CAD"
    assert [(li["ItemCode"], li["TaxType"]) for li in body["LineItems"]] == [
        ("ACC", "TAX001"),
        ("TAX", "OUTPUT2"),
    ]
    assert all(li["AccountCode"] == "200" for li in body["LineItems"])
    assert body["LineItems"][0]["Quantity"] == 3
    assert body["LineItems"][0]["UnitAmount"] == 120


def test_the_contacts_country_picks_its_own_tax_type():
    body = xero_invoice_from(_invoice(), "xc-1", SETTINGS, country="canada")
    assert [li["TaxType"] for li in body["LineItems"]] == ["TAX002", "OUTPUT2"]


def test_an_unmapped_work_type_takes_an_item_named_as_it_or_the_default():
    settings = {**SETTINGS, "work_type_items": {}, "default_item_code": "GEN"}
    body = xero_invoice_from(_invoice(), "xc-1", settings, items_by_name={"tax": "T-1"})
    assert [li["ItemCode"] for li in body["LineItems"]] == ["GEN", "T-1"]


def test_a_tax_rate_without_a_mapping_is_a_sync_error_naming_the_rate():
    settings = {**SETTINGS, "tax_types": {"GST": "OUTPUT2"}}
    with pytest.raises(SyncFailure) as caught:
        xero_invoice_from(_invoice(), "xc-1", settings)
    assert caught.value.code == "xero.tax_unmapped"
    assert "GST+PST" in caught.value.provider_message


def test_the_invoice_fingerprint_is_what_was_sent_whatever_the_invoice_id():
    body = xero_invoice_from(_invoice(), "xc-1", SETTINGS)
    assert fingerprint(body) == fingerprint({"InvoiceID": "x-1", **body})
    paid = _invoice(payments={"p1": "100.00"})  # the hub's balance moved: nothing Xero holds
    assert fingerprint(xero_invoice_from(paid, "xc-1", SETTINGS)) == fingerprint(body)
    edited = _invoice(number="INV-1001", due_date="2026-12-31")
    assert fingerprint(xero_invoice_from(edited, "xc-1", SETTINGS)) != fingerprint(body)


def test_invoices_go_once_issued_and_from_the_sync_start_date():
    family = Invoices()
    data = _invoice().model_dump(mode="json")
    assert family.wants({}, data)
    assert not family.wants({}, {**data, "status": "approved"})
    assert not family.wants({}, {**data, "status": "draft"})
    assert family.wants({"invoice_sync_start": date(2026, 11, 2)}, data)
    assert not family.wants({"invoice_sync_start": "2026-11-03"}, data)


def test_billing_gaps_name_the_setting_and_xeros_choices():
    items = [{"Code": "ACC", "Name": "Accounts"}, {"Code": "BK", "Name": "Bookkeeping"}]
    rates = [{"TaxType": "OUTPUT2", "Name": "20% (VAT on Income)", "Status": "ACTIVE"}]
    accounts = [
        {"Code": "200", "Name": "Sales", "Type": "SALES", "Class": "REVENUE"},
        {"Code": "090", "Name": "Bank", "Type": "BANK", "Class": "ASSET"},
    ]
    settings = {"work_type_items": {}, "tax_types": {"GST": "OUTPUT2"}, "sales_account_code": "201"}

    gaps = billing_gaps_of(
        settings, {"Accounts", "Bookkeeping", "Payroll"}, {"GST", "GST+PST"}, items, rates, accounts
    )

    by = {(g.what, g.name): g for g in gaps}
    assert set(by) == {
        ("work_type", "Payroll"),
        ("tax_rate", "GST+PST"),
        ("income_account", "sales_account_code"),
        ("payment_account", "payment_account_code"),
    }
    assert "work_type_items" in by[("work_type", "Payroll")].fix
    assert "OUTPUT2" in by[("tax_rate", "GST+PST")].fix
    assert "200 (Sales)" in by[("income_account", "sales_account_code")].fix
    assert "090 (Bank)" in by[("payment_account", "payment_account_code")].fix


# ----------------------------------------------------------------------- payments


def _payment(allocations, reference="CHQ 1001", **extra) -> Payment:
    total = sum((Decimal(a) for _, a in allocations), Decimal(0))
    return Payment.model_validate(
        {
            "contact_id": "c1",
            "date": "2026-11-20",
            "amount": str(total),
            "currency": "CAD",
            "method": "cheque",
            "reference": reference,
            "allocations": [{"invoice_id": i, "amount": a} for i, a in allocations],
            **extra,
        }
    )


HUB = {"contact_id": "c1", "invoices": {"xi-1": "i1", "xi-2": "i2"}, "currency": "CAD"}


def _pull_hash(current: dict, raw: dict) -> str:
    """What engine/pull.py `_apply` compares with the link's content_hash."""
    merged = {**current, **{k: v for k, v in Payments().from_provider(raw).items() if k in MANAGED}}
    dumped = Payment.model_validate(merged).model_dump(mode="json")
    return content_hash({k: dumped.get(k) for k in MANAGED})


def test_a_pushed_payment_comes_back_from_xero_as_its_own_echo():
    payment = _payment([("i1", "100.50")])
    current = payment.model_dump(mode="json")
    stored = view_hash(current, xero_view(payment, {"i1": "xi-1"}, HUB))
    # as Xero answers GET /Payments (PROVIDERS.md 3.3; /Date()/, a JSON number)
    read_back = {
        "PaymentID": "xp-1",
        "Date": "/Date(1795132800000+0000)/",  # 2026-11-20
        "Amount": 100.5,
        "Reference": "CHQ 1001",
        "Status": "AUTHORISED",
        "PaymentType": "ACCRECPAYMENT",
        "UpdatedDateUTC": "/Date(1795180000000+0000)/",
        "Invoice": {
            "InvoiceID": "xi-1",
            "InvoiceNumber": "INV-1001",
            "CurrencyCode": "CAD",
            "Contact": {"ContactID": "xc-1"},
        },
        "_hub": HUB,
    }
    assert _pull_hash(current, read_back) == stored
    mapped = payment_from_xero(read_back)
    assert mapped is not None
    assert {k: mapped[k] for k in MANAGED} == {k: current[k] for k in MANAGED}


def test_a_batch_payment_round_trips_as_one_split_payment():
    payment = _payment([("i1", "60.00"), ("i2", "40.25")], reference=None)
    current = payment.model_dump(mode="json")
    ids = {"i1": "xi-1", "i2": "xi-2"}
    stored = view_hash(current, xero_view(payment, ids, HUB))
    batch = {
        "BatchPaymentID": "xb-1",
        "Date": "/Date(1795132800000+0000)/",
        "Reference": "",
        "Payments": [
            {"Amount": 60.0, "Date": "/Date(1795132800000+0000)/", "Status": "AUTHORISED",
             "Invoice": {"InvoiceID": "xi-1", "CurrencyCode": "CAD"}},
            {"Amount": 40.25, "Date": "/Date(1795132800000+0000)/", "Status": "AUTHORISED",
             "Invoice": {"InvoiceID": "xi-2", "CurrencyCode": "CAD"}},
        ],
        "_hub": HUB,
    }  # fmt: skip
    assert _pull_hash(current, batch) == stored
    body = xero_batch_from(payment, ids, "090")
    assert [p["Invoice"]["InvoiceID"] for p in body["Payments"]] == ["xi-1", "xi-2"]
    assert "Reference" not in body
    assert body["Account"] == {"Code": "090"}


def test_a_payment_from_xero_names_the_hub_invoice_and_contact():
    raw = {
        "Date": "/Date(1795132800000+0000)/",
        "Amount": 75,
        "Reference": "A reference longer than twenty-one characters",
        "Invoice": {"InvoiceID": "xi-2", "CurrencyCode": "CAD"},
        "_hub": HUB,
    }
    mapped = payment_from_xero(raw)
    assert mapped is not None
    assert mapped["allocations"] == [{"invoice_id": "i2", "amount": "75.00"}]
    assert (mapped["contact_id"], mapped["date"], mapped["amount"]) == ("c1", "2026-11-20", "75.00")
    assert len(mapped["reference"]) == 21
    assert payment_from_xero({**raw, "Invoice": {"InvoiceID": "elsewhere"}}) is None


def test_a_single_payment_body_and_deletions():
    payment = _payment([("i1", "100.50")])
    body = xero_payment_from(payment, "xi-1", "090")
    assert body == {
        "Invoice": {"InvoiceID": "xi-1"},
        "Account": {"Code": "090"},
        "Date": "2026-11-20",
        "Amount": 100.5,
        "Reference": "CHQ 1001",
    }
    family = Payments()
    current = payment.model_dump(mode="json")
    assert family.deleted_content(current) is None  # deleted in Xero: the hub one goes
    void = {**current, "status": "void"}
    assert family.deleted_content(void) == void  # our own removal coming back


# ----------------------------------------------------------------------- Xero's words


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Invoice # must be unique.", "xero.duplicate_invoice_number"),
        (
            "The document date cannot be before the period lock date, currently set at 31-Mar-2024",
            "xero.period_locked",
        ),
        (
            "The document date cannot be before the end of year lock date, currently set at "
            "31-Jul-2013",
            "xero.period_locked",
        ),
        (
            "This document cannot be edited as it has a payment or credit note allocated to it.",
            "xero.invoice_paid",
        ),
        (
            "Payment amount exceeds the amount outstanding on this document",
            "xero.payment_overpays",
        ),
        ("The payment date cannot be in the future.", "xero.payment_date_future"),
        ("Something else", "xero.validation"),
    ],
)
def test_xeros_billing_refusals_are_classified_once(message, code):
    element = {"ValidationErrors": [{"Message": message}], "StatusAttributeString": "ERROR"}
    failure = classify(400, element, {})
    assert failure.code == code
    assert failure.provider_message == message
