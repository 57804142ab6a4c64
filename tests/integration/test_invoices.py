"""Hub invoices and payments through the practice API (issue 13): totals checked in the
currency's minor units, payments applied to one or several invoices, refused before
anything is written when they would overpay, name another contact's invoice or a date
too far ahead; every payment moves its invoices' balances, with a history line each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import lambda_context, load_event
from tests.integration.test_api import call


@pytest.fixture
def api(handler):
    return handler("api")


def _delete(api, key, path, version):
    event = load_event("api/health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = "DELETE"
    event["headers"].update({"authorization": f"Bearer {key}", "if-match": f'"{version}"'})
    return api(event, lambda_context("api"))["statusCode"]


def _contact(api, key, name="Harbour Marine"):
    status, body, _ = call(api, "POST", "/v1/contacts", key, {"name": name})
    assert status == 201, body
    return body["id"]


def _invoice(api, key, contact_id, number="INV-1001", **extra):
    body = {
        "number": number,
        "contact_id": contact_id,
        "issue_date": "2026-11-02",
        "due_date": "2026-12-02",
        "currency": "CAD",
        "status": "approved",
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
            {"description": "Tax return", "work_type": "Tax", "quantity": "1.5", "rate": "99.99"},
        ],
        **extra,
    }
    return call(api, "POST", "/v1/invoices", key, body)


def test_invoice_totals_are_filled_in_minor_units_and_checked(api, api_key):
    contact = _contact(api, api_key)
    status, invoice, _ = _invoice(api, api_key, contact)
    assert status == 201, invoice
    # 3 x 120 = 360.00 (+12% = 43.20); 1.5 x 99.99 = 149.985 -> 149.99 (half up)
    assert [line["amount"] for line in invoice["lines"]] == ["360.00", "149.99"]
    assert (invoice["subtotal"], invoice["tax_total"], invoice["total"]) == (
        "509.99",
        "43.20",
        "553.19",
    )
    assert (invoice["balance"], invoice["amount_paid"]) == ("553.19", "0.00")

    status, answer, _ = _invoice(api, api_key, contact, number="INV-1002", total="553.20")
    assert (status, answer["field"]) == (400, "total"), answer
    assert "553.19" in answer["detail"]
    status, answer, _ = _invoice(
        api, api_key, contact, number="INV-1003", currency="JPY", lines=[
            {"description": "Advice", "quantity": "1", "rate": "1000", "amount": "1000.50"}
        ]
    )  # fmt: skip
    assert (status, answer["field"]) == (400, "lines.0.amount"), answer
    status, answer, _ = _invoice(api, api_key, contact, number="INV-1004", status="paid")
    assert (status, answer["field"]) == (400, "status"), answer


def _pay(api, key, contact, allocations, amount, date=None, **extra):
    body = {
        "contact_id": contact,
        "date": date or datetime.now(UTC).date().isoformat(),
        "amount": amount,
        "currency": "CAD",
        "allocations": [{"invoice_id": i, "amount": a} for i, a in allocations],
        **extra,
    }
    return call(api, "POST", "/v1/payments", key, body)


def test_partial_and_split_payments_move_balances_and_mark_paid(api, api_key, outbox):
    contact = _contact(api, api_key)
    _, first, _ = _invoice(api, api_key, contact)
    _, second, _ = _invoice(api, api_key, contact, number="INV-1002")
    status, partial, _ = _pay(api, api_key, contact, [(first["id"], "100.00")], "100.00")
    assert status == 201, partial
    outbox.flush()  # the stream's fan-out moves the balances
    _, read, _ = call(api, "GET", f"/v1/invoices/{first['id']}", api_key)
    assert (read["amount_paid"], read["balance"], read["status"]) == (
        "100.00",
        "453.19",
        "approved",
    )

    status, split, _ = _pay(
        api, api_key, contact, [(first["id"], "453.19"), (second["id"], "53.19")], "506.38"
    )
    assert status == 201, split
    outbox.flush()
    # an invoice with payments is not deleted from under them
    _, paid_one, _ = call(api, "GET", f"/v1/invoices/{first['id']}", api_key)
    assert _delete(api, api_key, f"/v1/invoices/{first['id']}", paid_one["version"]) == 409
    _, first_now, _ = call(api, "GET", f"/v1/invoices/{first['id']}", api_key)
    _, second_now, _ = call(api, "GET", f"/v1/invoices/{second['id']}", api_key)
    assert (first_now["balance"], first_now["status"]) == ("0.00", "paid")
    assert (second_now["balance"], second_now["status"]) == ("500.00", "approved")
    _, history, _ = call(api, "GET", f"/v1/invoices/{first['id']}/history", api_key)
    notes = [e.get("note") for e in history["items"] if e.get("note")]
    assert len(notes) == 2, history
    assert any("balance 453.19 CAD -> 0.00 CAD" in n for n in notes), notes

    # the payment removed: the invoice owes again, and says so
    _, current, _ = call(api, "GET", f"/v1/payments/{split['id']}", api_key)
    assert _delete(api, api_key, f"/v1/payments/{split['id']}", current["version"]) == 204
    outbox.flush()
    _, first_after, _ = call(api, "GET", f"/v1/invoices/{first['id']}", api_key)
    assert (first_after["balance"], first_after["status"]) == ("453.19", "sent")
    outbox.flush()  # a second delivery of the same changes writes nothing
    _, again, _ = call(api, "GET", f"/v1/invoices/{first['id']}", api_key)
    assert again["version"] == first_after["version"]


def test_payments_refused_before_any_write(api, api_key, outbox):
    contact = _contact(api, api_key)
    other = _contact(api, api_key, "Other Client")
    _, invoice, _ = _invoice(api, api_key, contact)
    status, answer, _ = _pay(api, api_key, contact, [(invoice["id"], "600.00")], "600.00")
    assert status == 409, answer
    assert "overpay" in answer["detail"]
    status, answer, _ = _pay(api, api_key, other, [(invoice["id"], "10.00")], "10.00")
    assert status == 409, answer
    assert "another contact" in answer["detail"]
    ahead = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()
    status, answer, _ = _pay(api, api_key, contact, [(invoice["id"], "10.00")], "10.00", ahead)
    assert (status, answer["field"]) == (400, "date"), answer
    status, answer, _ = _pay(api, api_key, contact, [(invoice["id"], "20.00")], "10.00")
    assert (status, answer["field"]) == (400, "allocations"), answer
    _, page, _ = call(api, "GET", "/v1/payments", api_key)
    assert page["items"] == []


def test_a_books_payment_the_push_linked_meanwhile_is_never_a_second_hub_payment(
    api, api_key, outbox
):
    """The race a 1,000-invoice fault run met: a pull reads the books' payment (our own
    create, reply lost), the push's retry links it, then the pull adopts it. The invoice
    must be paid once, not twice."""
    from booksync.engine.seam import Change
    from booksync.hub import records
    from booksync.hub.entities import entity
    from booksync.store import connections as connection_rows
    from booksync.store import links
    from booksync.store import records as store
    from booksync.store.tenants import authenticate

    tenant = authenticate(f"Bearer {api_key}").tenant_id
    contact = _contact(api, api_key)
    _, invoice, _ = _invoice(api, api_key, contact)
    status, paid, _ = _pay(api, api_key, contact, [(invoice["id"], "100.00")], "100.00")
    assert status == 201, paid
    outbox.flush()
    conn = connection_rows.new(tenant, "qbo", "conn-race")
    content = {k: v for k, v in paid.items() if k in ("contact_id", "date", "amount", "currency")}
    content |= {
        "allocations": [{"invoice_id": invoice["id"], "amount": "100.00"}],
        "reference": paid.get("reference"),
    }
    seen = Change(
        "Payment", "77", "0", {"Id": "77"}, datetime.now(UTC), kind="payment", content=content
    )
    # the push's retry links it between the pull's look-up and its adoption
    links.save_link(
        tenant,
        "qbo",
        "payment",
        paid["id"],
        "Payment",
        "77",
        provider_version="0",
        content_hash=None,
        synced_version=1,
    )
    made = entity("payment").adopt(conn, [seen], records.save_record)
    assert made == []
    assert [r.record_id for r in store.all_of_kind(tenant, "payment")] == [paid["id"]]
    outbox.flush()
    _, read, _ = call(api, "GET", f"/v1/invoices/{invoice['id']}", api_key)
    assert read["amount_paid"] == "100.00"


@pytest.mark.parametrize("linked_meanwhile", [False, True])
def test_a_timesheet_that_is_our_own_create_is_never_a_second_time_entry(
    api, api_key, linked_meanwhile
):
    """The 2,000-entry fault run wrote 72 entries twice to QuickBooks Time: a poll met our
    own timesheet (its create's reply lost) and took it in as a new entry, whose link then
    hid it from the push's retry. The poll links it to the entry that made it instead."""
    from booksync.engine.seam import Change
    from booksync.hub import records
    from booksync.hub.entities import entity
    from booksync.store import connections as connection_rows
    from booksync.store import links
    from booksync.store import records as store
    from booksync.store.tenants import authenticate

    tenant = authenticate(f"Bearer {api_key}").tenant_id
    contact = _contact(api, api_key)
    status, user, _ = call(
        api,
        "POST",
        "/v1/users",
        api_key,
        {"first_name": "Ann", "last_name": "Lee", "email": "ann@harbour.example"},
    )
    assert status == 201, user
    body = {
        "user_id": user["id"],
        "contact_id": contact,
        "date": datetime.now(UTC).date().isoformat(),
        "duration_minutes": 90,
        "notes": "year-end pack",
    }
    status, entry, _ = call(api, "POST", "/v1/time-entries", api_key, body)
    assert status == 201, entry
    conn = connection_rows.new(tenant, "qbt", "conn-race")
    seen = Change(
        "timesheet", "5150", "1", {"id": 5150}, datetime.now(UTC), kind="time_entry", content=body
    )
    if linked_meanwhile:  # the push's retry found it first
        links.save_link(
            tenant,
            "qbt",
            "time_entry",
            entry["id"],
            "timesheet",
            "5150",
            provider_version="1",
            content_hash=None,
            synced_version=1,
        )
    made = entity("time_entry").adopt(conn, [seen], records.save_record)
    assert made == []
    assert [r.record_id for r in store.all_of_kind(tenant, "time_entry")] == [entry["id"]]
    link = links.get_link(tenant, "qbt", "time_entry", entry["id"])
    assert link is not None
    assert link.provider_id == "5150"
