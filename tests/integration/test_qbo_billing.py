"""Invoices and payments with QuickBooks Online through the practice API and the real
workers, against the QBO simulator (issue 13): services and combined tax mapped, an
invoice updated in place, never doubled by a lost reply, payments both ways with every
check before a write, send via QBO. Each test is a new firm with a fresh QBO company."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from booksync.store import links
from tests.conftest import load_handler
from tests.integration.test_time_entries import Firm, stack_env  # noqa: F401 - fixture

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def handlers(stack_env):  # noqa: F811 - the fixture imported above
    with pytest.MonkeyPatch.context() as mp:
        yield {
            name: load_handler(name, mp).lambda_handler
            for name in ("api", "oauth", "qbo_push", "qbo_pull", "qbt_push", "qbt_pull")
        }


class Books(Firm):
    """A firm with QuickBooks Online connected, its company's tax codes and accounts."""

    def code(self, name):
        return next(o["Id"] for o in self.objects("qbo", "TaxCode") if o["Name"] == name)

    def income_account(self):
        """The company's income account (an empty company has none: the bookkeeper adds
        "Services", as a new QuickBooks company's chart of accounts holds)."""
        found = [o for o in self.objects("qbo", "Account") if o.get("AccountType") == "Income"]
        if not found:
            found = [
                self.in_provider("qbo", "Account", {"Name": "Services", "AccountType": "Income"})
            ]
        return found[0]["Id"]

    def qbo(self, kind):
        return self.objects("qbo", kind)

    def invoice(self, contact, number="INV-1001", status="sent", **extra):
        lines = [
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
                "description": "Personal tax return",
                "work_type": "Tax",
                "quantity": "2",
                "rate": "80.00",
                "tax_rate": "GST",
                "tax_percent": "5",
            },
        ]
        body = {
            "number": number,
            "contact_id": contact["id"],
            "issue_date": (TODAY - timedelta(days=7)).isoformat(),
            "currency": "CAD",
            "status": status,
            "lines": lines,
        }
        return self.create("invoices", {**body, **extra})

    def pay_in_qbo(self, customer_id, lines, total=None):
        """A person records a payment in QuickBooks (as its own screens do)."""
        body = {
            "CustomerRef": {"value": customer_id},
            "TotalAmt": total if total is not None else sum(a for _, a in lines),
            "TxnDate": TODAY.isoformat(),
            "Line": [
                {"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in lines
            ],
        }
        return self.in_provider("qbo", "Payment", body)

    def hub(self, path, record_id):
        answer, _ = self.api("GET", f"/v1/{path}/{record_id}", ok=200)
        return answer


@pytest.fixture
def books(stack_env, handlers, sims):  # noqa: F811
    firm = Books(stack_env, handlers, sims, connect=("qbo",), country="CA")
    firm.api(
        "PUT",
        "/v1/connections/qbo/settings",
        {
            "default_income_account": firm.income_account(),
            "tax_codes": {"GST+PST": firm.code("GST/PST BC"), "GST": firm.code("GST")},
        },
        ok=200,
    )
    return firm


def test_an_invoice_with_two_work_types_and_combined_tax_reaches_qbo_once(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    books.run()
    qbo_id = books.link("qbo", "invoice", invoice["id"])
    assert qbo_id, books.errors()
    (sent,) = [i for i in books.qbo("Invoice") if i["Id"] == qbo_id]
    assert sent["DocNumber"] == "INV-1001"
    assert sent["CustomerRef"]["value"] == books.link("qbo", "contact", acme["id"])
    lines = [ln for ln in sent["Line"] if ln["DetailType"] == "SalesItemLineDetail"]
    items = {i["Id"]: i for i in books.qbo("Item")}
    # the two work types are services now, created with the default income account
    assert [items[ln["SalesItemLineDetail"]["ItemRef"]["value"]]["Name"] for ln in lines] == [
        "Accounts",
        "Tax",
    ]
    assert [ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] for ln in lines] == [
        books.code("GST/PST BC"),
        books.code("GST"),
    ]
    # 360 + 12% and 160 + 5%: the same total on both sides
    assert str(sent["TotalAmt"]) in ("571.2", "571.20")
    assert invoice["total"] == "571.20"

    # edited and sent again: updated in place, never a second invoice
    books.edit("invoices", books.hub("invoices", invoice["id"]), due_date=TODAY.isoformat())
    books.run()
    assert [i["Id"] for i in books.qbo("Invoice")] == [qbo_id]
    (updated,) = books.qbo("Invoice")
    assert updated["DueDate"] == TODAY.isoformat()


def test_a_lost_reply_makes_one_invoice_linked_once(books):
    acme = books.client("Acme Ltd")
    books.run()
    books.fault("qbo", action="drop_after_commit", method="POST", path="/invoice", count=1)
    invoice = books.invoice(acme)
    books.run()
    assert len(books.qbo("Invoice")) == 1
    assert books.link("qbo", "invoice", invoice["id"]) == books.qbo("Invoice")[0]["Id"]


def test_an_unmapped_tax_rate_is_a_sync_error_before_any_invoice_write(books):
    acme = books.client("Acme Ltd")
    books.run()
    setup, _ = books.api("GET", "/v1/connections/qbo/billing-setup", ok=200)
    assert setup["ready"] is True, setup
    invoice = books.invoice(
        acme,
        lines=[
            {
                "description": "Advice",
                "work_type": "Advice",
                "quantity": "1",
                "rate": "100",
                "tax_rate": "HST",
                "tax_percent": "13",
            }
        ],
    )
    books.forget_calls("qbo")
    books.run()
    assert (invoice["id"], "qbo.tax_unmapped") in books.errors()
    writes = [c for c in books.calls("qbo") if c["method"] == "POST" and "/invoice" in c["path"]]
    assert writes == []
    setup, _ = books.api("GET", "/v1/connections/qbo/billing-setup", ok=200)
    assert [(m["what"], m["name"]) for m in setup["missing"]] == [("tax_rate", "HST")]

    # mapped, then retried as any sync error is: the invoice goes, once
    settings, _ = books.api("GET", "/v1/connections/qbo/settings", ok=200)
    codes = {**settings["tax_codes"], "HST": books.code("GST")}
    books.api("PUT", "/v1/connections/qbo/settings", {**settings, "tax_codes": codes}, ok=200)
    error = books.errors()[(invoice["id"], "qbo.tax_unmapped")]
    books.api("POST", f"/v1/sync-errors/{str(error.error_key).replace('#', ':')}/retry", ok=200)
    books.run()
    assert len(books.qbo("Invoice")) == 1
    assert books.errors() == {}


def test_a_us_invoice_with_several_tax_rates_is_refused_with_the_reason(
    stack_env,  # noqa: F811
    handlers,
    sims,
):
    firm = Books(stack_env, handlers, sims, connect=("qbo",), country="US")
    firm.api(
        "PUT",
        "/v1/connections/qbo/settings",
        {
            "default_income_account": firm.income_account(),
            "tax_codes": {"GST+PST": "3", "GST": "2"},
        },
        ok=200,
    )
    acme = firm.client("Acme Ltd")
    invoice = firm.invoice(acme, currency="USD")
    firm.run()
    error = firm.errors()[(invoice["id"], "qbo.us_several_tax_rates")]
    assert "GST, GST+PST" in error.provider_message
    assert firm.qbo("Invoice") == []


def test_partial_and_split_payments_in_qbo_reach_the_hub_and_mark_invoices_paid(books):
    acme = books.client("Acme Ltd")
    first = books.invoice(acme)
    second = books.invoice(acme, number="INV-1002")
    books.run()
    customer = books.link("qbo", "contact", acme["id"])
    one, two = books.link("qbo", "invoice", first["id"]), books.link("qbo", "invoice", second["id"])
    books.pay_in_qbo(customer, [(one, 100.0)])
    books.pay_in_qbo(customer, [(one, 471.2), (two, 71.2)])
    books.pull("qbo")
    first_now, second_now = books.hub("invoices", first["id"]), books.hub("invoices", second["id"])
    assert (first_now["balance"], first_now["status"]) == ("0.00", "paid")
    assert (second_now["balance"], second_now["status"]) == ("500.00", "sent")
    page, _ = books.api("GET", "/v1/payments", query=f"invoice_id={first['id']}", ok=200)
    assert sorted(p["amount"] for p in page["items"]) == ["100.00", "542.40"]
    history, _ = books.api("GET", f"/v1/invoices/{first['id']}/history", ok=200)
    assert sum(1 for e in history["items"] if "payment" in (e.get("note") or "")) == 2

    # the split voided in QBO: the hub keeps it as void, and the invoices owe again
    split = next(p for p in books.qbo("Payment") if len(p["Line"]) == 2)
    books.edit_in_provider(  # voided as a person would, in QuickBooks' own screens
        "qbo", "Payment", split["Id"], {"TotalAmt": 0, "PrivateNote": "Voided", "Line": []}
    )
    books.pull("qbo")
    assert books.hub("invoices", first["id"])["balance"] == "471.20"
    assert books.hub("invoices", second["id"])["balance"] == "571.20"
    # a second pull changes nothing (echoes)
    versions = books.hub("invoices", first["id"])["version"]
    books.pull("qbo")
    assert books.hub("invoices", first["id"])["version"] == versions


def test_a_hub_payment_reaches_qbo_once_and_qbo_refusals_are_checked_first(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    books.run()
    paid, _ = books.api(
        "POST",
        "/v1/payments",
        {
            "contact_id": acme["id"],
            "date": TODAY.isoformat(),
            "amount": "200.00",
            "currency": "CAD",
            "reference": "CHQ 88",
            "allocations": [{"invoice_id": invoice["id"], "amount": "200.00"}],
        },
        ok=201,
    )
    books.run()
    books.run()
    (payment,) = books.qbo("Payment")
    assert payment["PaymentRefNum"] == "CHQ 88"
    assert books.link("qbo", "payment", paid["id"]) == payment["Id"]
    (held,) = books.qbo("Invoice")
    assert held["Balance"] == pytest.approx(371.2)

    # paid in QBO meanwhile (not read back yet): the hub's payment would overpay there
    books.pay_in_qbo(books.link("qbo", "contact", acme["id"]), [(held["Id"], 300.0)])
    late, _ = books.api(
        "POST",
        "/v1/payments",
        {
            "contact_id": acme["id"],
            "date": TODAY.isoformat(),
            "amount": "371.20",
            "currency": "CAD",
            "allocations": [{"invoice_id": invoice["id"], "amount": "371.20"}],
        },
        ok=201,
    )
    books.forget_calls("qbo")
    books.run()
    assert (late["id"], "qbo.payment_overpays") in books.errors()
    assert not [c for c in books.calls("qbo") if c["method"] == "POST" and "payment" in c["path"]]


def _pay_in_full(books, contact, invoice):
    paid, _ = books.api(
        "POST",
        "/v1/payments",
        {
            "contact_id": contact["id"],
            "date": TODAY.isoformat(),
            "amount": invoice["total"],
            "currency": "CAD",
            "reference": "CHQ 90",
            "allocations": [{"invoice_id": invoice["id"], "amount": invoice["total"]}],
        },
        ok=201,
    )
    return paid


def test_a_payment_in_full_whose_reply_was_lost_is_found_not_refused_as_overpaying(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    books.run()
    # QBO applies it (the invoice owes 0 now) but the reply never comes back: the retry
    # must find it, not hold it to the balance its own first try lowered
    books.fault("qbo", action="drop_after_commit", method="POST", path="/payment", count=1)
    paid = _pay_in_full(books, acme, invoice)
    books.run()
    (payment,) = books.qbo("Payment")
    assert books.link("qbo", "payment", paid["id"]) == payment["Id"]
    assert books.errors() == {}
    (held,) = books.qbo("Invoice")
    assert held["Balance"] == 0


def test_a_retried_payment_not_found_is_still_held_to_what_the_invoice_owes(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    books.run()
    books.fault("qbo", action="error", status=503, method="POST", path="/payment", count=1)
    paid = _pay_in_full(books, acme, invoice)
    books.run(rounds=1)  # refused by the 503: nothing applied
    (held,) = books.qbo("Invoice")
    books.pay_in_qbo(books.link("qbo", "contact", acme["id"]), [(held["Id"], 100.0)])
    books.forget_calls("qbo")
    books.run()
    assert (paid["id"], "qbo.payment_overpays") in books.errors()
    assert [p["TotalAmt"] for p in books.qbo("Payment")] == [100.0]
    assert not [c for c in books.calls("qbo") if c["method"] == "POST" and "payment" in c["path"]]


def test_a_payment_method_is_one_qbo_payment_method_both_ways(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    books.run()
    for amount, method in (("100.00", "Cheque"), ("50.00", "cheque")):
        _hub_payment(books, acme, invoice, amount, method=method)
    books.run()
    methods = {m["Id"]: m["Name"] for m in books.qbo("PaymentMethod")}
    # the hub's "Cheque" found or created once, whatever its case, and on both payments
    assert [n.casefold() for n in methods.values()].count("cheque") == 1
    assert {methods[p["PaymentMethodRef"]["value"]] for p in books.qbo("Payment")} == {"Cheque"}
    assert not books.errors()

    # a payment a person records in QuickBooks by card reaches the hub with its method
    card = books.in_provider("qbo", "PaymentMethod", {"Name": "Visa", "Type": "CREDIT_CARD"})
    held = books.qbo("Invoice")[0]
    books.in_provider(
        "qbo",
        "Payment",
        {
            "CustomerRef": {"value": books.link("qbo", "contact", acme["id"])},
            "TotalAmt": 20.0,
            "TxnDate": TODAY.isoformat(),
            "PaymentMethodRef": {"value": card["Id"]},
            "Line": [{"Amount": 20.0, "LinkedTxn": [{"TxnId": held["Id"], "TxnType": "Invoice"}]}],
        },
    )
    books.pull("qbo")
    page, _ = books.api("GET", "/v1/payments", query=f"invoice_id={invoice['id']}", ok=200)
    # (and the hub's "cheque" reads as the books spell it)
    assert sorted((p["amount"], p["method"]) for p in page["items"]) == [
        ("100.00", "Cheque"),
        ("20.00", "Visa"),
        ("50.00", "Cheque"),
    ]


def test_send_via_qbo_without_a_billing_email_copies_only_and_says_why(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme, status="approved")
    books.run()
    assert books.qbo("Invoice") == []  # approved: not in the books until copied or sent
    answer, headers = books.api("POST", f"/v1/invoices/{invoice['id']}/send", ok=202)
    assert answer["emailed"] is False
    assert "no billing email" in answer["reason"]
    books.run()
    (copied,) = books.qbo("Invoice")
    assert copied.get("EmailStatus") != "EmailSent"
    assert headers["Location"] == f"/v1/invoices/{invoice['id']}/sync"
    state, _ = books.api("GET", f"/v1/invoices/{invoice['id']}/sync", ok=200)
    assert state["providers"]["qbo"] == {"status": "in_books", "id": copied["Id"]}

    other = books.invoice(
        acme, number="INV-1002", status="approved", billing_email="accounts@acme.example"
    )
    answer, _ = books.api("POST", f"/v1/invoices/{other['id']}/send", ok=202)
    assert answer["emailed"] == "after the copy"
    books.run()
    emailed = next(i for i in books.qbo("Invoice") if i["DocNumber"] == "INV-1002")
    assert emailed["EmailStatus"] == "EmailSent"
    assert emailed["BillEmail"]["Address"] == "accounts@acme.example"
    assert books.hub("invoices", other["id"])["status"] == "sent"


def test_copy_refuses_a_draft_and_copies_an_approved_invoice_on_demand(books):
    acme = books.client("Acme Ltd")
    draft = books.invoice(acme, status="draft")
    status, answer = books.api("POST", f"/v1/invoices/{draft['id']}/copy")
    assert status == 409, answer
    approved = books.invoice(acme, number="INV-1002", status="approved")
    answer, _ = books.api("POST", f"/v1/invoices/{approved['id']}/copy", ok=202)
    books.run()
    assert [i["DocNumber"] for i in books.qbo("Invoice")] == ["INV-1002"]
    assert links.get_link(books.tenant_id, "qbo", "invoice", approved["id"]) is not None


def test_an_invoice_voided_in_the_hub_is_voided_in_qbo_keeping_its_number(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    never = books.invoice(acme, number="INV-1002", status="approved")
    books.run()
    qbo_id = books.link("qbo", "invoice", invoice["id"])
    books.edit("invoices", books.hub("invoices", invoice["id"]), status="void")
    books.edit("invoices", books.hub("invoices", never["id"]), status="void")
    books.run()
    (voided,) = books.qbo("Invoice")  # the approved one was never copied: nothing to void
    assert (voided["Id"], voided["DocNumber"]) == (qbo_id, "INV-1001")
    assert voided["TotalAmt"] == 0
    assert str(voided.get("PrivateNote", "")).startswith("Voided")
    assert not books.errors()
    assert books.link("qbo", "invoice", never["id"]) is None


def test_a_hub_payment_voided_is_deleted_in_qbo_and_the_invoice_owes_again(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    books.run()
    paid = books.create(
        "payments",
        {
            "contact_id": acme["id"],
            "date": TODAY.isoformat(),
            "amount": "571.20",
            "currency": "CAD",
            "allocations": [{"invoice_id": invoice["id"], "amount": "571.20"}],
        },
    )
    books.run()
    assert len(books.qbo("Payment")) == 1
    assert books.hub("invoices", invoice["id"])["status"] == "paid"
    books.edit("payments", books.hub("payments", paid["id"]), status="void")
    books.run()
    assert books.qbo("Payment") == []
    assert books.qbo("Invoice")[0]["Balance"] == pytest.approx(571.2)
    after = books.hub("invoices", invoice["id"])
    assert (after["balance"], after["status"]) == ("571.20", "sent")
    books.pull("qbo")  # the deletion read back: the hub payment stays void, nothing moves
    assert books.hub("payments", paid["id"])["status"] == "void"
    assert books.hub("invoices", invoice["id"])["version"] == after["version"]


# -------------------------------------------------------- each QBO refusal, reproduced


def _hub_payment(books, contact, invoice, amount, day=None, method=None):
    return books.create(
        "payments",
        {
            "contact_id": contact["id"],
            "date": (day or TODAY).isoformat(),
            "amount": amount,
            "currency": "CAD",
            "allocations": [{"invoice_id": invoice["id"], "amount": amount}],
            **({"method": method} if method else {}),
        },
    )


def test_a_payment_in_a_closed_period_is_refused_with_the_closing_date(books):
    acme = books.client("Acme Ltd")
    invoice = books.invoice(acme)
    books.run()
    closed = TODAY - timedelta(days=1)
    prefs = books.qbo("Preferences")[0]
    books.edit_in_provider(
        "qbo",
        "Preferences",
        prefs["Id"],
        {
            "AccountingInfoPrefs": {
                **prefs.get("AccountingInfoPrefs", {}),
                "BookCloseDate": closed.isoformat(),
            }
        },
    )
    paid = _hub_payment(books, acme, invoice, "50.00", day=closed)
    books.run()
    error = books.errors()[(paid["id"], "qbo.period_closed")]
    assert closed.isoformat() in error.provider_message
    assert books.qbo("Payment") == []


def test_a_payment_whose_invoice_is_another_customers_in_qbo_is_refused(books):
    acme, other = books.client("Acme Ltd"), books.client("Other Ltd")
    invoice = books.invoice(acme)
    books.run()
    # a bookkeeper moves the invoice to another customer in QuickBooks
    (held,) = books.qbo("Invoice")
    moved = {"CustomerRef": {"value": books.link("qbo", "contact", other["id"])}}
    books.edit_in_provider("qbo", "Invoice", held["Id"], moved)
    paid = _hub_payment(books, acme, invoice, "50.00")
    books.run()
    assert (paid["id"], "qbo.payment_customer_differs") in books.errors()
    assert books.qbo("Payment") == []


def test_a_duplicate_document_number_is_a_sync_error_naming_it(books):
    acme = books.client("Acme Ltd")
    books.run()
    books.modes("qbo", {"duplicate_docnumber": "refuse"})
    customer = books.link("qbo", "contact", acme["id"])
    service = books.in_provider(
        "qbo",
        "Item",
        {
            "Name": "Old work",
            "Type": "Service",
            "IncomeAccountRef": {"value": books.income_account()},
        },
    )
    books.in_provider(  # an invoice a bookkeeper made in QuickBooks with the same number
        "qbo",
        "Invoice",
        {
            "CustomerRef": {"value": customer},
            "DocNumber": "INV-1001",
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 10,
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": service["Id"]},
                        "TaxCodeRef": {"value": books.code("GST")},
                    },
                }
            ],
        },
    )
    invoice = books.invoice(acme)
    books.run()
    error = books.errors()[(invoice["id"], "qbo.duplicate_doc_number")]
    assert "Duplicate Document Number" in error.provider_message
    assert len(books.qbo("Invoice")) == 1


def test_an_invoice_whose_contact_is_not_in_qbo_says_how_to_sync_it(books):
    books.api(
        "PUT",
        "/v1/connections/qbo/settings",
        {
            **books.api("GET", "/v1/connections/qbo/settings", ok=200)[0],
            "contact_types": ["Client"],
        },
        ok=200,
    )
    prospect = books.create("contacts", {"name": "Maybe Ltd", "contact_type": "Prospect"})
    invoice = books.invoice(prospect)
    books.run()
    error = books.errors()[(invoice["id"], "qbo.customer_not_in_qbo")]
    assert "Send the contact" in error.fix
    assert books.qbo("Invoice") == []

    # as the fix says: the firm syncs prospects too; "save and sync" sends the contact, then
    # the invoice behind it (no retry needed), and the error is over
    settings, _ = books.api("GET", "/v1/connections/qbo/settings", ok=200)
    wanted = {**settings, "contact_types": ["Client", "Prospect"]}
    books.api("PUT", "/v1/connections/qbo/settings", wanted, ok=200)
    books.api("POST", "/v1/connections/qbo/sync", ok=200)
    books.run()
    assert books.link("qbo", "contact", prospect["id"])
    assert [i["DocNumber"] for i in books.qbo("Invoice")] == ["INV-1001"]
    assert (invoice["id"], "qbo.customer_not_in_qbo") not in books.errors()


def test_invoices_go_in_batches_and_a_payment_costs_no_invoice_write(books):
    """Counted at the simulator: 12 invoices of 3 clients are batch writes (QBO's 30 a
    batch), not a write each; the payments that then move their balances in the hub send
    the payments alone: an invoice whose content QBO already holds is not written again
    (each such write would also meet the SyncToken the payment moved: a 5010 and a read)."""
    clients = [books.client(f"Client {i}") for i in range(3)]
    books.run()
    books.forget_calls("qbo")
    invoices = [books.invoice(clients[i % 3], number=f"B-{i:02d}") for i in range(12)]
    books.run()
    writes = [c for c in books.calls("qbo") if c["method"] == "POST"]
    assert len(books.qbo("Invoice")) == 12
    assert all(c["endpoint"].endswith(("/batch", "/{entity}")) for c in writes)
    assert sum(1 for c in writes if c["endpoint"].endswith("/{entity}")) <= 2  # the 2 services
    books.forget_calls("qbo")
    for i, invoice in enumerate(invoices):
        _hub_payment(books, clients[i % 3], invoice, "10.00")
    books.run()
    assert len(books.qbo("Payment")) == 12
    calls = books.calls("qbo")
    assert [c for c in calls if "/invoice" in c["path"]] == []
    assert sum(1 for c in calls if c["method"] == "POST") <= 3  # a batch per shard at most


def test_an_invocations_chunks_look_up_the_work_types_services_once(books):
    """Counted at the simulator: 45 invoices of one client go in two batches (QBO's 30
    a batch) from one invocation; the services of their work types are looked for (and
    the missing ones made) for the first batch only, the second reuses them: each query
    takes a turn of QBO's 500 requests a minute, as a batch item does."""
    acme = books.client("Acme Ltd")
    books.run()
    books.forget_calls("qbo")
    for i in range(45):
        books.invoice(acme, number=f"S-{i:02d}")
    books.run()
    calls = books.calls("qbo")
    assert len([i for i in books.qbo("Invoice") if i["DocNumber"].startswith("S-")]) == 45
    assert sum(1 for c in calls if c["endpoint"].endswith("/batch")) == 2
    assert (
        sum(1 for c in calls if c["method"] == "POST" and c["endpoint"].endswith("/{entity}")) == 2
    )
    # the company's country, and the two services by name: once, not once per batch
    assert sum(1 for c in calls if c["endpoint"].endswith("/query")) == 2


# ------------------------------------------------------------------------------ drift


def test_billing_drift_is_found_and_repaired_payments_both_ways_and_an_unsent_invoice(
    books, capsys
):
    from booksync.ops.cli import main as cli

    # Given an invoice in QBO and a hub payment of it there, all in step
    acme = books.client("Acme Ltd")
    first = books.invoice(acme)
    books.run()
    paid = _hub_payment(books, acme, first, "100.00")
    books.run()
    customer = books.link("qbo", "contact", acme["id"])
    one, ours = books.link("qbo", "invoice", first["id"]), books.link("qbo", "payment", paid["id"])
    assert ours, books.errors()
    report, _ = books.api("GET", "/v1/connections/qbo/drift", ok=200)
    assert report["counts"] == {"differs": 0, "not_linked": 0, "gone": 0, "unlinked": 0}

    # When, behind booksync's back (no webhook, no pull): the hub's payment voided in
    # QuickBooks' screens, a payment recorded there, and an invoice sent in the hub whose
    # push has not run
    books.edit_in_provider(
        "qbo", "Payment", ours, {"TotalAmt": 0, "PrivateNote": "Voided", "Line": []}
    )
    theirs = books.pay_in_qbo(customer, [(one, 200.0)])
    second = books.invoice(acme, number="INV-1002")

    # Then the report names exactly those
    report, _ = books.api("GET", "/v1/connections/qbo/drift", ok=200)
    assert report["counts"] == {"differs": 0, "not_linked": 1, "gone": 1, "unlinked": 1}
    assert report["gone"] == [
        {"kind": "payment", "hub_id": paid["id"], "provider_id": ours, "why": "removed"}
    ]
    assert report["unlinked"] == [
        {"kind": "payment", "provider_id": theirs["Id"], "name": TODAY.isoformat()}
    ]
    assert report["not_linked"] == [{"kind": "invoice", "hub_id": second["id"], "name": "INV-1002"}]

    # When the operator repairs it
    capsys.readouterr()
    assert cli(["reconcile", books.tenant_id, "--provider", "qbo"]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    assert (answer["repaired"]["applied"], answer["repaired"]["created"]) == (1, 1)
    books.run()

    # Then the voided payment is void in the hub, QuickBooks' payment is a hub payment, the
    # invoice is in QBO once, the balance is QuickBooks' own, and a second report is empty
    assert books.hub("payments", paid["id"])["status"] == "void"
    page, _ = books.api("GET", "/v1/payments", query=f"invoice_id={first['id']}", ok=200)
    live = [p for p in page["items"] if p["status"] != "void"]
    assert [p["amount"] for p in live] == ["200.00"]
    assert books.hub("invoices", first["id"])["balance"] == "371.20"
    assert sorted(i["DocNumber"] for i in books.qbo("Invoice")) == ["INV-1001", "INV-1002"]
    report, _ = books.api("GET", "/v1/connections/qbo/drift", ok=200)
    assert report["counts"] == {"differs": 0, "not_linked": 0, "gone": 0, "unlinked": 0}
