"""Invoices and payments with Xero through the practice API and the real xero workers,
against the Xero simulator (issue 13): an invoice with two work types and a combined tax,
edit-and-resend in place, a lost reply, an unmapped tax rate, payments recorded in Xero
(partial, split, deleted) reaching the hub, and a hub payment reaching Xero once."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from booksync.engine.messages import Pull
from booksync.store import SyncErrorRow, links
from booksync.store.tenants import create_api_key, create_tenant
from local.pollers import sqs_event
from tests.conftest import Outbox, _stack_env, lambda_context, load_event, load_handler
from tests.integration.oauth_dance import Dance
from tests.integration.test_api import call

TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture(scope="module")
def stack_env(sims):
    limits = f"{sims['xero'].url}/_sim/ratelimits"
    with pytest.MonkeyPatch.context() as mp:
        for handle in sims.values():
            requests.post(f"{handle.url}/_sim/reset", timeout=10).raise_for_status()
        requests.put(limits, json={"enabled": False}, timeout=10).raise_for_status()
        try:
            yield from _stack_env(mp, {name: h.url for name, h in sims.items()})
        finally:
            requests.put(limits, json={"enabled": True, "reset": True}, timeout=10)


@pytest.fixture(scope="module")
def handlers(stack_env):
    with pytest.MonkeyPatch.context() as mp:
        yield {
            name: load_handler(name, mp).lambda_handler
            for name in ("api", "oauth", "xero_push", "xero_pull")
        }


class XeroFirm:
    """A tenant connected to a fresh Xero demo organisation, with a GST and a GST+PST rate
    made there and the tax and item mappings set; driven as the deployed stack would be."""

    def __init__(self, stack_env, handlers, sims, tax_types: dict[str, str] | None = None):
        self.stack = stack_env
        self.h = handlers
        self.sim = sims["xero"].url
        tenant = create_tenant("Harbour Accounting")
        self.tenant_id = tenant.tenant_id
        self.key = create_api_key(self.tenant_id).key
        self.outbox = Outbox(stack_env)
        requests.delete(f"{self.sim}/_sim/faults", timeout=10)
        reply = requests.post(
            f"{self.sim}/_sim/companies",
            json={"name": "Harbour books", "seed": "sandbox"},
            timeout=10,
        )
        reply.raise_for_status()
        self.company = str(reply.json()["id"])
        status, page = Dance(handlers["oauth"], self.key).connect("xero", sim_company=self.company)
        assert status == 200, page
        self.gst = self.in_xero("TaxRates", _rate("GST", ("GST", 5)))["TaxType"]
        self.combined = self.in_xero("TaxRates", _rate("GST+PST", ("GST", 5), ("PST", 7)))[
            "TaxType"
        ]
        mapping = (
            tax_types if tax_types is not None else {"GST": self.gst, "GST+PST": self.combined}
        )
        settings = {
            "tax_types": mapping,
            "work_type_items": {"Accounts": "DevD", "Tax": "Train-MS"},
            "payment_account_code": "090",
        }
        self.api("PUT", "/v1/connections/xero/settings", settings, ok=200)

    # -- the practice API

    def api(self, method, path, body=None, query="", ok=None):
        status, answer, _ = call(self.h["api"], method, path, self.key, body, query)
        if ok is not None:
            assert status == ok, answer
            return answer
        return status, answer

    def invoice(self, contact, number="INV-1001", **extra):
        body = {
            "number": number,
            "contact_id": contact["id"],
            "issue_date": TODAY,
            "due_date": TODAY,
            "currency": "GBP",
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
        return self.api("POST", "/v1/invoices", body, ok=201)

    def edit(self, path, record_id, **changes):
        """PATCH with the ETag just read, as a client that reads before it writes."""
        current = self.api("GET", f"/v1/{path}/{record_id}", ok=200)
        event = load_event("api/health.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = f"/v1/{path}/{record_id}"
        event["requestContext"]["http"]["method"] = "PATCH"
        event["headers"].update(
            {"authorization": f"Bearer {self.key}", "if-match": f'"{current["version"]}"'}
        )
        event["body"] = json.dumps(changes)
        answer = self.h["api"](event, lambda_context("api"))
        assert answer["statusCode"] == 200, answer["body"]
        return json.loads(answer["body"])

    def read(self, path, record_id):
        return self.api("GET", f"/v1/{path}/{record_id}", ok=200)

    def payments(self, contact):
        return self.api("GET", "/v1/payments", query=f"contact_id={contact['id']}", ok=200)["items"]

    # -- the stack's machinery

    def run(self, rounds: int = 12) -> None:
        """The outbox's stream and the Xero push queue until nothing is left."""
        sqs = self.stack.client("sqs")
        url = self.stack.queue_url("XeroPushQueue")
        for _ in range(rounds):
            self.outbox.flush()
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, AttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return
            answer = self.h["xero_push"](sqs_event(got, "arn"), lambda_context())
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            for m in got:
                if m["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                    )
                else:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def pull(self) -> None:
        """One poll of Xero, then the fan-out (payments move their invoices' balances)."""
        from booksync.store import connections as connection_rows

        conn = connection_rows.get(self.tenant_id, "xero")
        message = Pull(
            tenant_id=self.tenant_id,
            connection_id=conn.connection_id,
            provider="xero",
            reason="reconcile",
        )
        event = sqs_event(
            [{"MessageId": "poll", "ReceiptHandle": "poll", "Body": message.model_dump_json()}],
            "arn",
        )
        assert self.h["xero_pull"](event, lambda_context()) == {"batchItemFailures": []}
        self.run()

    # -- Xero

    def in_xero(self, kind, fields, method="POST", object_id=None):
        """A person enters (or removes) something in Xero's own screens."""
        url = f"{self.sim}/_sim/companies/{self.company}/objects/{kind}"
        reply = requests.request(
            method, f"{url}/{object_id}" if object_id else url, json=fields, timeout=10
        )
        reply.raise_for_status()
        return reply.json()

    def xero(self, kind) -> list[dict[str, Any]]:
        url = f"{self.sim}/_sim/companies/{self.company}/objects/{kind}"
        return list(requests.get(url, timeout=10).json()["objects"])

    def xero_invoices(self, number):
        return [i for i in self.xero("Invoices") if i.get("InvoiceNumber") == number]

    def fault(self, **rule):
        requests.post(f"{self.sim}/_sim/faults", json=rule, timeout=10).raise_for_status()

    def calls(self, method, path_part):
        counts = requests.get(f"{self.sim}/_sim/calls", timeout=10).json()["counts"]
        return sum(n for k, n in counts.items() if k.startswith(method) and path_part in k)

    def link(self, kind, hub_id):
        found = links.get_link(self.tenant_id, "xero", kind, hub_id)
        return found.provider_id if found is not None else None

    def errors(self):
        return {
            (r.record_id, r.code): r
            for r in SyncErrorRow.query(self.tenant_id)
            if r.status == "open"
        }


def _rate(name, *components):
    return {
        "Name": name,
        "ReportTaxType": "OUTPUT",
        "TaxComponents": [
            {"Name": n, "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}
            for n, rate in components
        ],
    }


@pytest.fixture
def firm(stack_env, handlers, sims):
    return XeroFirm(stack_env, handlers, sims)


def _sent(firm: XeroFirm, number="INV-1001", contact=None):
    """A contact and an invoice sent in the hub, both in Xero once the queue is run."""
    contact = contact or firm.api("POST", "/v1/contacts", {"name": "Acme Ltd"}, ok=201)
    invoice = firm.invoice(contact, number=number)
    firm.run()
    (xero,) = firm.xero_invoices(number)
    return contact, invoice, xero


# ----------------------------------------------------------------------- invoices


def test_an_invoice_with_two_work_types_and_combined_tax_reaches_xero_as_billed(firm):
    contact, invoice, xero = _sent(firm)

    assert (invoice["subtotal"], invoice["tax_total"], invoice["total"]) == (
        "560.00",
        "53.20",
        "613.20",
    )
    assert [(li["ItemCode"], li["TaxType"]) for li in xero["LineItems"]] == [
        ("DevD", firm.combined),
        ("Train-MS", firm.gst),
    ]
    assert (xero["SubTotal"], xero["TotalTax"], xero["Total"]) == (560, 53.2, 613.2)
    assert xero["Status"] == "AUTHORISED"
    assert xero["Type"] == "ACCREC"
    assert xero["Contact"]["ContactID"] == firm.link("contact", contact["id"])
    assert firm.link("invoice", invoice["id"]) == xero["InvoiceID"]


def test_an_invoice_edited_and_sent_again_is_updated_in_place(firm):
    _contact, invoice, xero = _sent(firm)
    firm.edit("invoices", invoice["id"], status="draft")
    firm.run()
    lines = firm.read("invoices", invoice["id"])["lines"]
    lines[1] = {**lines[1], "quantity": "3", "amount": None}
    firm.edit("invoices", invoice["id"], status="sent", lines=lines, subtotal=None,
              tax_total=None, total=None)  # fmt: skip
    firm.run()

    (again,) = firm.xero_invoices("INV-1001")
    assert again["InvoiceID"] == xero["InvoiceID"]
    assert again["Total"] == 613.2 + 105  # a third tax return: 100 + 5% GST
    assert [li["Quantity"] for li in again["LineItems"]] == [3, 3]


def test_an_invoice_voided_in_the_hub_is_voided_in_xero_and_a_void_draft_never_goes(firm):
    _contact, invoice, xero = _sent(firm)
    firm.edit("invoices", invoice["id"], status="void")
    firm.run()
    (voided,) = firm.xero_invoices("INV-1001")
    assert (voided["InvoiceID"], voided["Status"]) == (xero["InvoiceID"], "VOIDED")
    assert not firm.errors()
    posts = firm.calls("POST", "/Invoices")
    firm.run()  # nothing left to send: voided once
    assert firm.calls("POST", "/Invoices") == posts


def test_a_lost_reply_makes_one_invoice_linked_once(firm):
    firm.fault(action="drop_after_commit", method="PUT", path="/Invoices", count=1)

    requests.delete(f"{firm.sim}/_sim/calls", timeout=10)

    _contact, invoice, xero = _sent(firm)

    assert firm.link("invoice", invoice["id"]) == xero["InvoiceID"]
    # the retry looked the number up, found its invoice, and updated it (no second PUT)
    assert (firm.calls("PUT", "/Invoices"), firm.calls("POST", "/Invoices")) == (1, 1)
    assert not firm.errors()


def test_an_invocations_batches_read_the_items_for_unmapped_work_types_once(firm):
    """55 invoices of one client go in two writes (Xero's 50 a write) from one invocation;
    a work type with no mapping takes the item of its name or code, and Xero's items are
    listed for the first write only: each listing is a call of Xero's 60 a minute."""
    settings = firm.api("GET", "/v1/connections/xero/settings", ok=200)
    settings["work_type_items"] = {"Accounts": "DevD"}  # "Tax" now found by its name
    firm.api("PUT", "/v1/connections/xero/settings", settings, ok=200)
    firm.in_xero("Items", {"Code": "TAX-RET", "Name": "Tax"})
    contact = firm.api("POST", "/v1/contacts", {"name": "Acme Ltd"}, ok=201)
    firm.run()
    listed = firm.calls("GET", "/Items")
    for i in range(55):
        firm.invoice(contact, number=f"S-{i:02d}")
    firm.run()

    sent = [i for i in firm.xero("Invoices") if str(i.get("InvoiceNumber")).startswith("S-")]
    assert len(sent) == 55
    assert {tuple(li["ItemCode"] for li in i["LineItems"]) for i in sent} == {("DevD", "TAX-RET")}
    assert firm.calls("GET", "/Items") - listed == 1


def test_a_tax_rate_with_no_mapping_is_a_sync_error_before_any_call(stack_env, handlers, sims):
    firm = XeroFirm(stack_env, handlers, sims, tax_types={})
    contact = firm.api("POST", "/v1/contacts", {"name": "Acme Ltd"}, ok=201)
    invoice = firm.invoice(contact)
    firm.run()

    assert firm.xero_invoices("INV-1001") == []
    error = firm.errors()[(invoice["id"], "xero.tax_unmapped")]
    assert "GST+PST" in error.provider_message


# ----------------------------------------------------------------------- payments


def test_payments_recorded_in_xero_reach_the_hub_and_move_the_balances(firm):
    contact, first, first_x = _sent(firm, "INV-1001")
    _, second, second_x = _sent(firm, "INV-1002", contact)

    partial = firm.in_xero(
        "Payments",
        {"Invoice": {"InvoiceID": first_x["InvoiceID"]}, "Account": {"Code": "090"},
         "Date": TODAY, "Amount": 100},
    )  # fmt: skip
    firm.pull()
    (paid,) = firm.payments(contact)
    assert paid["amount"] == "100.00"
    assert paid["allocations"] == [{"invoice_id": first["id"], "amount": "100.00"}]
    now = firm.read("invoices", first["id"])
    assert (now["balance"], now["status"]) == ("513.20", "sent")

    firm.in_xero(
        "BatchPayments",
        {"Account": {"Code": "090"}, "Date": TODAY, "Reference": "BACS 77", "Payments": [
            {"Invoice": {"InvoiceID": first_x["InvoiceID"]}, "Amount": 513.2},
            {"Invoice": {"InvoiceID": second_x["InvoiceID"]}, "Amount": 613.2},
        ]},
    )  # fmt: skip
    firm.pull()
    split = [p for p in firm.payments(contact) if len(p["allocations"]) == 2]
    assert len(split) == 1
    assert split[0]["amount"] == "1126.40"
    assert split[0]["reference"] == "BACS 77"
    assert firm.read("invoices", first["id"])["status"] == "paid"
    assert firm.read("invoices", second["id"])["status"] == "paid"

    firm.in_xero("Payments", None, method="DELETE", object_id=partial["PaymentID"])
    firm.pull()
    assert [p["id"] for p in firm.payments(contact)] == [split[0]["id"]]
    now = firm.read("invoices", first["id"])
    assert (now["balance"], now["status"]) == ("100.00", "sent")


def test_a_hub_payment_reaches_xero_once_and_its_echo_changes_nothing(firm):
    contact, invoice, xero = _sent(firm)
    payment = firm.api(
        "POST",
        "/v1/payments",
        {"contact_id": contact["id"], "date": TODAY, "amount": "200.00", "currency": "GBP",
         "reference": "CHQ 1", "allocations": [{"invoice_id": invoice["id"], "amount": "200.00"}]},
        ok=201,
    )  # fmt: skip
    firm.run()
    ours = [p for p in firm.xero("Payments") if p["Invoice"]["InvoiceID"] == xero["InvoiceID"]]
    assert [(p["Amount"], p["Reference"]) for p in ours] == [(200, "CHQ 1")]
    assert firm.link("payment", payment["id"]) == ours[0]["PaymentID"]
    version = firm.read("payments", payment["id"])["version"]

    firm.pull()

    assert [p["id"] for p in firm.payments(contact)] == [payment["id"]]
    assert firm.read("payments", payment["id"])["version"] == version
    assert firm.read("invoices", invoice["id"])["balance"] == "413.20"

    firm.edit("payments", payment["id"], status="void")
    firm.run()
    (gone,) = [p for p in firm.xero("Payments") if p["PaymentID"] == ours[0]["PaymentID"]]
    assert gone["Status"] == "DELETED"
    firm.pull()
    assert firm.read("payments", payment["id"])["status"] == "void"
    assert not firm.errors()


def test_a_hub_payment_dated_in_a_locked_period_is_refused_before_any_write(firm):
    contact, invoice, xero = _sent(firm)
    firm.in_xero("Organisation", {"PeriodLockDate": TODAY}, method="PATCH", object_id="x")
    payment = firm.api(
        "POST",
        "/v1/payments",
        {"contact_id": contact["id"], "date": TODAY, "amount": "10.00", "currency": "GBP",
         "allocations": [{"invoice_id": invoice["id"], "amount": "10.00"}]},
        ok=201,
    )  # fmt: skip
    firm.run()

    assert (payment["id"], "xero.period_locked") in firm.errors()
    assert [
        p for p in firm.xero("Payments") if p["Invoice"]["InvoiceID"] == xero["InvoiceID"]
    ] == []


def test_a_page_of_split_payments_reads_its_batches_in_one_listing(firm):
    # Given three split payments entered in Xero, each a batch across the same two invoices
    contact, first, first_x = _sent(firm, "INV-1001")
    _, second, second_x = _sent(firm, "INV-1002", contact)
    for n in range(3):
        firm.in_xero(
            "BatchPayments",
            {"Account": {"Code": "090"}, "Date": TODAY, "Reference": f"BACS {n}", "Payments": [
                {"Invoice": {"InvoiceID": first_x["InvoiceID"]}, "Amount": 10},
                {"Invoice": {"InvoiceID": second_x["InvoiceID"]}, "Amount": 20},
            ]},
        )  # fmt: skip
    counts = requests.get(f"{firm.sim}/_sim/calls", timeout=10).json()["counts"]
    # When the hub pulls
    firm.pull()
    # Then each batch is one hub payment, and the batches were read in one listing, not a
    # read each (at 500 batches a page, reads one by one outlasted every invocation)
    split = sorted(p["reference"] for p in firm.payments(contact) if len(p["allocations"]) == 2)
    assert split == ["BACS 0", "BACS 1", "BACS 2"]
    after = requests.get(f"{firm.sim}/_sim/calls", timeout=10).json()["counts"]

    def made(key):
        return after.get(key, 0) - counts.get(key, 0)

    assert made("GET /api.xro/2.0/BatchPayments") == 1
    assert made("GET /api.xro/2.0/BatchPayments/{id}") == 0
    assert firm.read("invoices", first["id"])["balance"] == "583.20"
    assert firm.read("invoices", second["id"])["balance"] == "553.20"


def test_a_split_hub_payment_goes_as_one_batch_payment_and_comes_back_as_its_echo(firm):
    contact, first, _first_x = _sent(firm, "INV-1001")
    _, second, _second_x = _sent(firm, "INV-1002", contact)
    payment = firm.api(
        "POST",
        "/v1/payments",
        {"contact_id": contact["id"], "date": TODAY, "amount": "700.00", "currency": "GBP",
         "allocations": [{"invoice_id": first["id"], "amount": "613.20"},
                         {"invoice_id": second["id"], "amount": "86.80"}]},
        ok=201,
    )  # fmt: skip
    firm.run()

    (batch,) = firm.xero("BatchPayments")
    assert firm.link("payment", payment["id"]) == batch["BatchPaymentID"]
    assert sorted(p["Amount"] for p in firm.xero("Payments") if p.get("BatchPaymentID")) == [
        86.8,
        613.2,
    ]
    version = firm.read("payments", payment["id"])["version"]
    firm.pull()
    assert [p["id"] for p in firm.payments(contact)] == [payment["id"]]
    assert firm.read("payments", payment["id"])["version"] == version
    assert firm.read("invoices", first["id"])["status"] == "paid"
    assert not firm.errors()


# ---------------------------------------------------------------------------- drift


def test_drift_at_xero_finds_a_payment_made_there_one_deleted_there_and_a_rename(firm, capsys):
    from booksync.ops.cli import main as cli

    contact, invoice, xero = _sent(firm)
    ours = firm.api(
        "POST",
        "/v1/payments",
        {"contact_id": contact["id"], "date": TODAY, "amount": "100.00", "currency": "GBP",
         "allocations": [{"invoice_id": invoice["id"], "amount": "100.00"}]},
        ok=201,
    )  # fmt: skip
    firm.run()
    ours_x = firm.link("payment", ours["id"])
    assert ours_x, firm.errors()

    def report():
        return firm.api("GET", "/v1/connections/xero/drift", ok=200)

    def mine(items):  # the sandbox organisation's own contacts aside
        return [i for i in items if i["kind"] == "payment" or i.get("hub_id") == contact["id"]]

    before = report()
    assert "payment" in before["kinds"]
    assert [mine(before[k]) for k in ("differs", "not_linked", "gone", "unlinked")] == [[]] * 4

    # When, in Xero's own screens: our payment deleted, another recorded, the contact renamed
    firm.in_xero("Payments", None, method="DELETE", object_id=ours_x)
    theirs = firm.in_xero(
        "Payments",
        {"Invoice": {"InvoiceID": xero["InvoiceID"]}, "Account": {"Code": "090"},
         "Date": TODAY, "Amount": 200, "Reference": "BACS 9"},
    )  # fmt: skip
    contact_x = firm.link("contact", contact["id"])
    firm.in_xero("Contacts", {"Name": "Acme Limited"}, method="PATCH", object_id=contact_x)

    # Then the report names them
    found = report()
    assert mine(found["gone"]) == [
        {"kind": "payment", "hub_id": ours["id"], "provider_id": ours_x, "why": "deleted"}
    ]
    assert mine(found["unlinked"]) == [
        {"kind": "payment", "provider_id": theirs["PaymentID"], "name": "BACS 9"}
    ]
    (renamed,) = mine(found["differs"])
    assert (renamed["fields"], renamed["changed_since_linked"]) == (["name"], ["xero"])

    # When the operator repairs it; then the hub holds Xero's payment, not ours, the new
    # name, and the invoice owes what Xero says
    capsys.readouterr()
    assert cli(["reconcile", firm.tenant_id, "--provider", "xero"]) == 0
    firm.run()
    assert [(p["amount"], p["reference"]) for p in firm.payments(contact)] == [("200.00", "BACS 9")]
    assert firm.read("contacts", contact["id"])["name"] == "Acme Limited"
    assert firm.read("invoices", invoice["id"])["balance"] == "413.20"
    after = report()
    assert [mine(after[k]) for k in ("differs", "not_linked", "gone", "unlinked")] == [[]] * 4
