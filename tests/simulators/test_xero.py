"""The Xero simulator, driven the way booksync drives real Xero.

xero-python is used unchanged except for its hosts: each API class takes `base_url`
(`AccountingApi(api_client, base_url=...)`, `IdentityApi`, `PayrollUkApi`), and the token
endpoints are `TokenApi.refresh_token_url` / `revoke_token_url` class attributes
(xero_python/api_client/oauth2.py), patched with monkeypatch.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from xero_python.accounting import (
    Account,
    AccountingApi,
    Contact,
    Contacts,
    Invoice,
    Invoices,
    LineItem,
    Payment,
)
from xero_python.api_client import ApiClient
from xero_python.api_client.configuration import Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import AccountingBadRequestException
from xero_python.identity import IdentityApi
from xero_python.payrolluk import Address as UkAddress
from xero_python.payrolluk import Employee as UkEmployee
from xero_python.payrolluk import PayrollUkApi

from local.simulators.core import Clock, pkce_challenge, serve
from local.simulators.xero import make_provider
from local.simulators.xero.dates import ms_date, parse_date, parse_datetime
from local.simulators.xero.where import QueryParseError, apply_order, compile_where

CLIENT_ID = "booksync-dev"
SECRET = "booksync-dev-secret"
REDIRECT = "http://127.0.0.1:9/callback"
SCOPE = (
    "openid profile email offline_access accounting.contacts accounting.settings "
    "accounting.transactions payroll.employees payroll.settings"
)


@pytest.fixture
def sim():
    server = serve(make_provider(Clock()))
    try:
        yield server
    finally:
        server.stop()


def authorize(sim, scope: str = SCOPE, sim_company: str | None = None, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "xyz",
        **extra,
    }
    if sim_company:
        params["sim_company"] = sim_company
    r = requests.get(
        sim.url + "/identity/connect/authorize", params=params, allow_redirects=False, timeout=5
    )
    assert r.status_code == 302, r.text
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def exchange(sim, code: str) -> dict[str, Any]:
    r = requests.post(
        sim.url + "/connect/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert r.status_code == 200, r.text
    return r.json()


def refresh(sim, rt: str) -> requests.Response:
    return requests.post(
        sim.url + "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": rt},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )


def login(sim, sim_company: str | None = None) -> tuple[dict[str, Any], str]:
    tokens = exchange(sim, authorize(sim, sim_company=sim_company))
    conns = requests.get(
        sim.url + "/connections",
        headers={"Authorization": "Bearer " + tokens["access_token"]},
        timeout=5,
    ).json()
    return tokens, conns[0]["tenantId"]


def api(sim, tokens: dict[str, Any], tenant: str, method: str, path: str, **kw: Any):
    headers = {
        "Authorization": "Bearer " + tokens["access_token"],
        "xero-tenant-id": tenant,
        "Accept": "application/json",
        **kw.pop("headers", {}),
    }
    return requests.request(
        method, sim.url + "/api.xro/2.0" + path, headers=headers, timeout=5, **kw
    )


def xero_client(sim, tokens: dict[str, Any], monkeypatch) -> ApiClient:
    monkeypatch.setattr(TokenApi, "refresh_token_url", sim.url + "/connect/token")
    monkeypatch.setattr(TokenApi, "revoke_token_url", sim.url + "/connect/revocation")
    store = {"token": dict(tokens, scope=tokens["scope"].split())}
    config = Configuration(oauth2_token=OAuth2Token(client_id=CLIENT_ID, client_secret=SECRET))
    return ApiClient(
        config,
        pool_threads=1,
        oauth2_token_getter=lambda: store["token"],
        oauth2_token_saver=lambda t: store.update(token=t),
    )


# -- pure parts -----------------------------------------------------------------------------


def test_ms_date_round_trips_and_accepts_iso_and_offset_forms():
    when = parse_datetime("2018-02-15T00:00:00")
    assert ms_date(when) == "/Date(1518652800000+0000)/"
    assert parse_datetime("/Date(1518652800000+0000)/") == when
    assert parse_datetime("/Date(1518652800000)/") == when
    assert parse_date("2018-02-15") == date(2018, 2, 15)
    # an offset names the local calendar day
    assert parse_date("/Date(1518652800000-0500)/") == date(2018, 2, 14)


def test_where_supports_xero_operators_guid_datetime_and_string_methods():
    rows = [
        {
            "Name": "Peter Pan",
            "Status": "ACTIVE",
            "AmountDue": 10,
            "Contact": {"ContactID": "A1"},
            "Date": "/Date(1420070400000+0000)/",
            "EmailAddress": None,
        },
        {
            "Name": "Wendy",
            "Status": "ARCHIVED",
            "AmountDue": 0,
            "Contact": {"ContactID": "b2"},
            "Date": "/Date(1451606400000+0000)/",
            "EmailAddress": "w@boom.example",
        },
    ]
    fields = {"name", "status", "amountdue", "contact", "date", "emailaddress"}

    def names(expr: str) -> list[str]:
        pred = compile_where(expr, "Contact", fields)
        return [r["Name"] for r in rows if pred(r)]

    assert names('Status=="ACTIVE" AND AmountDue > 0') == ["Peter Pan"]
    assert names('Status=="ACTIVE" || Name.StartsWith("We")') == ["Peter Pan", "Wendy"]
    assert names('Contact.ContactID==Guid("B2")') == ["Wendy"]
    assert names("Date >= DateTime(2015, 06, 01)") == ["Wendy"]
    assert names('EmailAddress!=null&&EmailAddress.Contains("boom")') == ["Wendy"]
    assert names('Name.Contains("pan")') == ["Peter Pan"]
    assert names('Name = "Wendy"') == ["Wendy"]
    with pytest.raises(QueryParseError, match="No property or field 'Nmae'"):
        compile_where('Nmae=="x"', "Contact", fields)
    with pytest.raises(QueryParseError):
        compile_where('Name=="x" AND', "Contact", fields)
    assert [r["Name"] for r in apply_order(rows, "AmountDue ASC", "Contact")] == [
        "Wendy",
        "Peter Pan",
    ]


# -- identity -------------------------------------------------------------------------------


def test_oauth_dance_gives_xero_token_reply_and_xero_python_sees_connections(sim, monkeypatch):
    tokens = exchange(sim, authorize(sim, sim_company="Maple Florist,Oak Bakery"))
    assert tokens["expires_in"] == 1800
    assert tokens["token_type"] == "Bearer"
    assert {"id_token", "access_token", "refresh_token", "scope"} <= set(tokens)
    claims = json.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[1] + "=="))
    client = xero_client(sim, tokens, monkeypatch)
    conns = IdentityApi(client, base_url=sim.url).get_connections()
    assert sorted(c.tenant_name for c in conns) == ["Maple Florist", "Oak Bakery"]
    assert {str(c.auth_event_id) for c in conns} == {claims["authentication_event_id"]}
    assert all(c.tenant_type == "ORGANISATION" for c in conns)


def test_pkce_public_client_exchanges_code_with_verifier_only(sim):
    verifier = secrets.token_urlsafe(48)
    code = authorize(sim, code_challenge=pkce_challenge(verifier), code_challenge_method="S256")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
    }
    bad = requests.post(
        sim.url + "/connect/token", data={**form, "code_verifier": "nope"}, timeout=5
    )
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant"}
    code = authorize(sim, code_challenge=pkce_challenge(verifier), code_challenge_method="S256")
    ok = requests.post(
        sim.url + "/connect/token",
        data={**form, "code": code, "code_verifier": verifier},
        timeout=5,
    )
    assert ok.status_code == 200, ok.text


def test_superseded_refresh_token_replays_same_pair_for_30_minutes_then_fails(sim):
    tokens = exchange(sim, authorize(sim))
    first = refresh(sim, tokens["refresh_token"])
    assert first.status_code == 200
    sim.provider.clock.advance(29 * 60)
    again = refresh(sim, tokens["refresh_token"])
    assert again.status_code == 200
    assert again.json()["refresh_token"] == first.json()["refresh_token"]
    assert again.json()["access_token"] == first.json()["access_token"]
    sim.provider.clock.advance(2 * 60)
    late = refresh(sim, tokens["refresh_token"])
    assert late.status_code == 400
    assert late.json() == {"error": "invalid_grant"}
    assert refresh(sim, first.json()["refresh_token"]).status_code == 200


def test_unused_refresh_token_dies_after_60_days(sim):
    tokens = exchange(sim, authorize(sim))
    sim.provider.clock.advance(60 * 86400 + 1)
    r = refresh(sim, tokens["refresh_token"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_expired_token_and_wrong_tenant_answer_xero_problem_shapes(sim):
    tokens, tenant = login(sim)
    r = api(sim, tokens, str(uuid.uuid4()), "GET", "/Contacts")
    assert r.status_code == 403
    assert r.json()["Title"] == "Forbidden"
    assert r.json()["Detail"] == "AuthenticationUnsuccessful"
    r = api(sim, tokens, tenant, "GET", "/Contacts", headers={"xero-tenant-id": ""})
    assert r.status_code == 403
    sim.provider.clock.advance(1801)
    r = api(sim, tokens, tenant, "GET", "/Contacts")
    assert r.status_code == 401
    body = r.json()
    assert body["Type"] is None
    assert body["Title"] == "Unauthorized"
    assert body["Status"] == 401
    assert body["Detail"].startswith("TokenExpired: token expired at ")


def test_revocation_drops_the_grants_connections(sim):
    tokens, tenant = login(sim)
    r = requests.post(
        sim.url + "/connect/revocation",
        data={"token": tokens["refresh_token"]},
        auth=(CLIENT_ID, SECRET),
        timeout=5,
    )
    assert r.status_code == 200
    assert api(sim, tokens, tenant, "GET", "/Contacts").status_code == 401
    assert refresh(sim, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_delete_connection_removes_tenant_access(sim):
    tokens, tenant = login(sim)
    auth = {"Authorization": "Bearer " + tokens["access_token"]}
    conn = requests.get(sim.url + "/connections", headers=auth, timeout=5).json()[0]
    r = requests.delete(sim.url + f"/connections/{conn['id']}", headers=auth, timeout=5)
    assert r.status_code == 204
    assert requests.get(sim.url + "/connections", headers=auth, timeout=5).json() == []
    assert api(sim, tokens, tenant, "GET", "/Contacts").status_code == 403


# -- accounting via xero-python -------------------------------------------------------------


def test_create_contacts_with_one_invalid_element_and_summarize_errors_false(sim, monkeypatch):
    tokens, tenant = login(sim)
    acc = AccountingApi(xero_client(sim, tokens, monkeypatch), base_url=sim.url + "/api.xro/2.0")
    result = acc.create_contacts(
        tenant,
        Contacts(contacts=[Contact(name="Fresh Flowers Ltd"), Contact(name="Bayside Club")]),
        summarize_errors=False,
    )
    ok, bad = result.contacts
    assert ok.status_attribute_string == "OK"
    assert ok.contact_id
    assert bad.status_attribute_string == "ERROR"
    assert bad.validation_errors[0].message == (
        "The contact name Bayside Club is already assigned to another contact. "
        "The contact name must be unique across all active contacts."
    )


def test_summarized_errors_give_400_validation_exception_yet_save_valid_elements(sim, monkeypatch):
    tokens, tenant = login(sim)
    acc = AccountingApi(xero_client(sim, tokens, monkeypatch), base_url=sim.url + "/api.xro/2.0")
    with pytest.raises(AccountingBadRequestException) as info:
        acc.create_contacts(
            tenant, Contacts(contacts=[Contact(name="Saved Anyway"), Contact(name="Bayside Club")])
        )
    body = info.value.error_data
    assert body["Type"] == "ValidationException"
    assert body["ErrorNumber"] == 10
    assert len(body["Elements"]) == 1
    assert body["Elements"][0]["Name"] == "Bayside Club"
    found = acc.get_contacts(tenant, where='Name=="Saved Anyway"').contacts
    assert len(found) == 1


def test_if_modified_since_returns_only_contacts_changed_after(sim, monkeypatch):
    tokens, tenant = login(sim)
    acc = AccountingApi(xero_client(sim, tokens, monkeypatch), base_url=sim.url + "/api.xro/2.0")
    # (xero-python judges token expiry by real time, so the simulated jump stays short)
    sim.provider.clock.advance(60)
    cursor = sim.provider.clock.now().replace(microsecond=0)
    sim.provider.clock.advance(5)
    made = acc.create_contacts(tenant, Contacts(contacts=[Contact(name="Changed Later")]))
    changed = acc.get_contacts(tenant, if_modified_since=cursor).contacts
    assert [c.name for c in changed] == ["Changed Later"]
    assert changed[0].contact_id == made.contacts[0].contact_id
    assert len(acc.get_contacts(tenant).contacts) > 1


def test_invoice_then_payments_move_it_to_paid(sim, monkeypatch):
    tokens, tenant = login(sim)
    acc = AccountingApi(xero_client(sim, tokens, monkeypatch), base_url=sim.url + "/api.xro/2.0")
    contact = acc.create_contacts(tenant, Contacts(contacts=[Contact(name="Payer Co")]))
    cid = contact.contacts[0].contact_id
    today = date.today()
    inv = acc.create_invoices(
        tenant,
        Invoices(
            invoices=[
                Invoice(
                    type="ACCREC",
                    contact=Contact(contact_id=cid),
                    date=today,
                    due_date=today + timedelta(days=14),
                    status="AUTHORISED",
                    line_items=[
                        LineItem(
                            description="Bouquets",
                            quantity=2,
                            unit_amount=50,
                            account_code="200",
                            tax_type="OUTPUT2",
                        )
                    ],
                )
            ]
        ),
    ).invoices[0]
    assert float(inv.total) == 120.0
    assert float(inv.amount_due) == 120.0
    acc.create_payment(
        tenant,
        Payment(
            invoice=Invoice(invoice_id=inv.invoice_id),
            account=Account(code="090"),
            amount=20,
            date=today,
        ),
    )
    with pytest.raises(AccountingBadRequestException) as info:
        acc.create_payment(
            tenant,
            Payment(
                invoice=Invoice(invoice_id=inv.invoice_id),
                account=Account(code="090"),
                amount=101,
                date=today,
            ),
        )
    assert info.value.reason == "Payment amount exceeds the amount outstanding on this document"
    acc.create_payment(
        tenant,
        Payment(
            invoice=Invoice(invoice_id=inv.invoice_id),
            account=Account(code="090"),
            amount=100,
            date=today,
        ),
    )
    after = acc.get_invoice(tenant, inv.invoice_id).invoices[0]
    assert after.status == "PAID"
    assert float(after.amount_due) == 0
    assert float(after.amount_paid) == 120
    assert acc.get_contact(tenant, cid).contacts[0].is_customer is True


def test_duplicate_accrec_invoice_number_and_payment_on_draft_are_rejected(sim):
    tokens, tenant = login(sim)
    contact_id = api(sim, tokens, tenant, "GET", "/Contacts").json()["Contacts"][0]["ContactID"]
    inv = {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": "X-1",
        "LineItems": [{"Description": "a", "Quantity": 1, "UnitAmount": 5, "AccountCode": "200"}],
    }
    assert api(sim, tokens, tenant, "PUT", "/Invoices", json={"Invoices": [inv]}).ok
    dup = api(sim, tokens, tenant, "PUT", "/Invoices", json={"Invoices": [inv]})
    assert dup.status_code == 400
    errors = dup.json()["Elements"][0]["ValidationErrors"]
    assert errors == [{"Message": "Invoice # must be unique."}]
    draft_id = api(sim, tokens, tenant, "GET", "/Invoices/X-1").json()["Invoices"][0]["InvoiceID"]
    pay = api(
        sim,
        tokens,
        tenant,
        "PUT",
        "/Payments",
        json={
            "Payments": [
                {"Invoice": {"InvoiceID": draft_id}, "Account": {"Code": "090"}, "Amount": 1}
            ]
        },
    )
    assert pay.status_code == 400
    assert pay.json()["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "Payments can only be made against Authorised documents"
    )
    assert api(sim, tokens, tenant, "GET", f"/Invoices/{uuid.uuid4()}").status_code == 404


def test_json_envelope_dates_are_ms_dates(sim):
    tokens, tenant = login(sim)
    body = api(sim, tokens, tenant, "GET", "/Organisation").json()
    assert body["Status"] == "OK"
    assert body["DateTimeUTC"].startswith("/Date(")
    assert body["Organisations"][0]["CountryCode"] == "GB"
    page = api(sim, tokens, tenant, "GET", "/Contacts", params={"page": 1, "pageSize": 2}).json()
    assert page["pagination"] == {"page": 1, "pageSize": 2, "pageCount": 3, "itemCount": 5}


# -- idempotency, limits --------------------------------------------------------------------


def test_repeated_idempotency_key_replays_first_answer_without_writing_again(sim):
    tokens, tenant = login(sim)
    key = {"Idempotency-Key": "create-contact-42"}
    body = {"Contacts": [{"Name": "Once Only"}]}
    first = api(sim, tokens, tenant, "PUT", "/Contacts", json=body, headers=key)
    second = api(sim, tokens, tenant, "PUT", "/Contacts", json=body, headers=key)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    found = api(sim, tokens, tenant, "GET", "/Contacts", params={"where": 'Name=="Once Only"'})
    assert len(found.json()["Contacts"]) == 1


def test_burst_over_60_per_minute_gets_429_with_xero_headers(sim):
    tokens, tenant = login(sim)
    last = None
    for _ in range(61):
        last = api(sim, tokens, tenant, "GET", "/Organisation")
        if last.status_code == 429:
            break
    assert last is not None
    assert last.status_code == 429
    assert last.headers["X-Rate-Limit-Problem"] == "minute"
    assert int(last.headers["Retry-After"]) >= 1
    assert last.headers["X-MinLimit-Remaining"] == "0"
    sim.provider.clock.advance(61)
    ok = api(sim, tokens, tenant, "GET", "/Organisation")
    assert ok.status_code == 200
    assert int(ok.headers["X-DayLimit-Remaining"]) == 5000 - 61
    assert ok.headers["X-MinLimit-Remaining"] == "59"
    assert "X-AppMinLimit-Remaining" in ok.headers


# -- webhooks -------------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint that checks x-xero-signature like booksync must: 200 / 401."""

    def __init__(self, key: str, always_ok: bool = False) -> None:
        self.key = key
        self.always_ok = always_ok
        self.bodies: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mac = hmac.new(receiver.key.encode(), raw, hashlib.sha256).digest()
                good = hmac.compare_digest(
                    base64.b64encode(mac).decode(), self.headers.get("x-xero-signature", "")
                )
                if good:
                    receiver.bodies.append(json.loads(raw))
                self.send_response(200 if good or receiver.always_ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/xero"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    rec = Receiver("webhook-key-123")
    yield rec
    rec.close()


def test_contact_changes_are_delivered_signed_with_create_then_update(sim, receiver):
    tokens, tenant = login(sim)
    requests.put(
        sim.url + "/_sim/webhooks", json={"url": receiver.url, "key": receiver.key}, timeout=5
    )
    made = api(sim, tokens, tenant, "PUT", "/Contacts", json={"Contacts": [{"Name": "Hooked"}]})
    cid = made.json()["Contacts"][0]["ContactID"]
    archived = requests.delete(
        sim.url + f"/_sim/companies/{tenant}/objects/Contacts/{cid}?action=archive", timeout=5
    )
    assert archived.status_code == 200
    assert sim.provider.webhooks.flush(5)
    events = [e for b in receiver.bodies for e in b["events"]]
    assert [(e["eventCategory"], e["eventType"], e["resourceId"]) for e in events] == [
        ("CONTACT", "CREATE", cid),
        ("CONTACT", "UPDATE", cid),
    ]
    assert events[0]["tenantId"] == tenant
    assert events[0]["resourceUrl"].endswith(f"/api.xro/2.0/Contacts/{cid}")
    assert receiver.bodies[1]["firstEventSequence"] > receiver.bodies[0]["lastEventSequence"] - 1
    assert all(b["entropy"] for b in receiver.bodies)


def test_intent_to_receive_passes_a_checking_endpoint_and_fails_a_lax_one(sim, receiver):
    requests.put(
        sim.url + "/_sim/webhooks", json={"url": receiver.url, "key": receiver.key}, timeout=5
    )
    good = requests.post(sim.url + "/_sim/xero/intent-to-receive", timeout=10).json()
    assert good["passed"] is True
    assert {a["status"] for a in good["attempts"]} == {200, 401}
    lax = Receiver("webhook-key-123", always_ok=True)
    try:
        requests.put(sim.url + "/_sim/webhooks", json={"url": lax.url, "key": lax.key}, timeout=5)
        bad = requests.post(sim.url + "/_sim/xero/intent-to-receive", timeout=10).json()
    finally:
        lax.close()
    assert bad["passed"] is False


def test_failed_delivery_is_retried(sim):
    tokens, tenant = login(sim)
    flaky = Receiver("k")
    calls = {"n": 0}
    original = flaky.server.RequestHandlerClass.do_POST

    def first_fails(self) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        original(self)

    flaky.server.RequestHandlerClass.do_POST = first_fails
    try:
        requests.put(
            sim.url + "/_sim/webhooks",
            json={"url": flaky.url, "key": "k", "retry_scale": 0.001},
            timeout=5,
        )
        api(sim, tokens, tenant, "PUT", "/Contacts", json={"Contacts": [{"Name": "Retry Me"}]})
        assert sim.provider.webhooks.flush(5)
    finally:
        flaky.close()
    outcomes = [d["outcome"] for d in sim.provider.webhooks.deliveries()]
    assert outcomes == ["retry", "delivered"]
    assert flaky.bodies[0]["events"][0]["eventType"] == "CREATE"


# -- payroll UK -----------------------------------------------------------------------------


def test_payroll_uk_employees_via_xero_python(sim, monkeypatch):
    tokens, tenant = login(sim)
    payroll = PayrollUkApi(
        xero_client(sim, tokens, monkeypatch), base_url=sim.url + "/payroll.xro/2.0"
    )
    before = payroll.get_employees(tenant)
    assert before.pagination.item_count == 3
    made = payroll.create_employee(
        tenant,
        UkEmployee(
            title="Ms.",
            first_name="Ada",
            last_name="Byron",
            email="ada@example.com",
            date_of_birth=date(1990, 12, 10),
            gender="F",
            address=UkAddress(address_line1="1 Main St", city="London", post_code="N1 1AA"),
        ),
    ).employee
    assert made.first_name == "Ada"
    assert made.email == "ada@example.com"
    got = payroll.get_employee(tenant, made.employee_id).employee
    assert got.last_name == "Byron"
    assert len(payroll.get_leave_types(tenant).leave_types) >= 3
    r = requests.post(
        sim.url + "/payroll.xro/2.0/employees",
        json={"firstName": "No"},
        headers={"Authorization": "Bearer " + tokens["access_token"], "xero-tenant-id": tenant},
        timeout=5,
    )
    assert r.status_code == 400
    names = {f["name"] for f in r.json()["problem"]["invalidFields"]}
    assert {"Surname", "DateOfBirth", "AddressLine1"} <= names
