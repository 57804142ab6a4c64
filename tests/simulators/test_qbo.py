"""The QBO simulator driven by the real clients (intuit-oauth, python-quickbooks) with only
their base URLs pointed at it, plus raw HTTP checks of the wire details they do not cover."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from intuitlib.client import AuthClient
from intuitlib.enums import Scopes
from quickbooks import QuickBooks
from quickbooks import batch as qb_batch
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.customer import Customer

from local.simulators.core import Clock, serve
from local.simulators.qbo import make_provider

CLIENT_ID, CLIENT_SECRET = "booksync-dev", "booksync-dev-secret"
REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(autouse=True)
def _plain_http_oauth(monkeypatch):
    # requests-oauthlib refuses http:// unless told it is a local test (oauthlib's own switch)
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def sim():
    """A QBO simulator with its rate limits off: QBO allows 10 requests a second per realm,
    which a test's quick run of calls would hit; the limit tests turn them on."""
    server = serve(make_provider(Clock()), 0)
    requests.put(server.url + "/_sim/ratelimits", json={"enabled": False})
    try:
        yield server
    finally:
        server.stop()


def limits_on(sim) -> None:
    requests.put(sim.url + "/_sim/ratelimits", json={"enabled": True, "reset": True})


@pytest.fixture
def company(sim):
    return requests.post(sim.url + "/_sim/companies", json={"name": "Sandbox US"}).json()


def tokens_for(sim, realm: str) -> dict:
    return requests.post(sim.url + "/_sim/oauth/tokens", json={"company_id": realm}).json()


class Api:
    """Raw-HTTP helper: what booksync's own client sends on the wire."""

    def __init__(self, sim, realm: str, token: str) -> None:
        self.base = f"{sim.url}/v3/company/{realm}"
        self.s = requests.Session()
        self.s.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def post(self, path: str, body: dict | list | None = None, **params) -> requests.Response:
        params.setdefault("minorversion", "75")
        return self.s.post(self.base + path, json=body, params=params)

    def get(self, path: str, **params) -> requests.Response:
        params.setdefault("minorversion", "75")
        return self.s.get(self.base + path, params=params)

    def query(self, q: str) -> dict:
        r = self.s.post(
            self.base + "/query", data=q.encode(), headers={"Content-Type": "application/text"}
        )
        assert r.status_code == 200, r.text
        return r.json()["QueryResponse"]

    def create(self, kind: str, body: dict) -> dict:
        r = self.post("/" + kind.lower(), body)
        assert r.status_code == 200, r.text
        return r.json()[kind]


@pytest.fixture
def api(sim, company):
    return Api(sim, company["id"], tokens_for(sim, company["id"])["access_token"])


def fault_code(r: requests.Response) -> str:
    return r.json()["Fault"]["Error"][0]["code"]


def customer_id(api: Api, name: str) -> str:
    rows = api.query(f"select * from Customer where DisplayName = '{name}'")["Customer"]
    return rows[0]["Id"]


# ---------------------------------------------------------------- real clients


def connect_with_intuit_clients(sim, realm_hint: str | None = None):
    """The OAuth dance as intuitlib does it; only the discovery URL is ours."""
    auth = AuthClient(
        CLIENT_ID,
        CLIENT_SECRET,
        REDIRECT,
        sim.url + "/.well-known/openid_sandbox_configuration/",
    )
    url = auth.get_authorization_url([Scopes.ACCOUNTING, Scopes.OPENID], state_token="st8")
    if realm_hint:
        url += "&sim_company=" + realm_hint
    r = requests.get(url, allow_redirects=False)
    assert r.status_code == 302
    cb = parse_qs(urlsplit(r.headers["Location"]).query)
    assert cb["state"] == ["st8"]
    auth.get_bearer_token(cb["code"][0], realm_id=cb["realmId"][0])
    return auth, cb["realmId"][0]


def quickbooks_client(sim, auth, realm: str) -> QuickBooks:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        qb = QuickBooks(
            auth_client=auth, refresh_token=auth.refresh_token, company_id=realm, minorversion=75
        )
    qb.api_url_v3 = sim.url + "/v3"  # the only change: the API base URL
    return qb


def test_oauth_dance_with_intuitlib_gives_tokens_that_open_the_api(sim):
    auth, realm = connect_with_intuit_clients(sim)

    assert auth.access_token
    assert auth.refresh_token
    assert auth.expires_in == 3600
    assert auth.x_refresh_token_expires_in > 3600
    assert auth.id_token  # RS256, validated by intuitlib against our jwks_uri
    assert requests.get(sim.url + "/_sim/companies").json()["companies"][0]["id"] == realm
    info = auth.get_user_info().json()
    assert info["email"]


def test_refresh_rotates_and_the_superseded_refresh_token_is_refused(sim):
    auth, _realm = connect_with_intuit_clients(sim)
    first_rt = auth.refresh_token

    auth.refresh()

    assert auth.refresh_token != first_rt
    r = requests.post(
        sim.url + "/oauth2/v1/tokens/bearer",
        data={"grant_type": "refresh_token", "refresh_token": first_rt},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant"}


def test_revoke_with_intuitlib_kills_the_access_token(sim):
    auth, realm = connect_with_intuit_clients(sim)
    api = Api(sim, realm, auth.access_token)
    assert api.get("/companyinfo/" + realm).status_code == 200

    assert auth.revoke(token=auth.refresh_token)

    assert api.get("/companyinfo/" + realm).status_code == 401


def test_authorize_with_unknown_client_shows_an_error_page_not_a_redirect(sim):
    r = requests.get(
        sim.url + "/connect/oauth2",
        params={
            "client_id": "nope",
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting",
            "redirect_uri": REDIRECT,
            "state": "x",
        },
        allow_redirects=False,
    )
    assert r.status_code == 400
    assert "Location" not in r.headers
    assert "text/html" in r.headers["Content-Type"]


def test_sim_company_parameter_picks_the_company_to_connect(sim):
    requests.post(sim.url + "/_sim/companies", json={"name": "First"})
    second = requests.post(sim.url + "/_sim/companies", json={"name": "Second"}).json()

    _auth, realm = connect_with_intuit_clients(sim, realm_hint="Second")

    assert realm == second["id"]


def test_python_quickbooks_create_query_sparse_update_and_stale_synctoken(sim):
    auth, realm = connect_with_intuit_clients(sim)
    qb = quickbooks_client(sim, auth, realm)

    c = Customer()
    c.DisplayName = "O'Brien Landscaping"
    c.GivenName = "Pat"
    created = c.save(qb=qb)
    assert created.Id
    assert created.SyncToken == "0"

    found = Customer.filter(DisplayName="O'Brien Landscaping", qb=qb)
    assert [x.Id for x in found] == [created.Id]

    r = qb.update_object(
        "Customer",
        json.dumps({"Id": created.Id, "SyncToken": "0", "sparse": True, "CompanyName": "OBL Ltd"}),
    )
    updated = r["Customer"]
    assert updated["SyncToken"] == "1"
    assert updated["GivenName"] == "Pat"  # sparse kept the untouched field
    assert updated["CompanyName"] == "OBL Ltd"

    with pytest.raises(QuickbooksException) as exc:
        created.save(qb=qb)  # still holds SyncToken 0
    assert exc.value.error_code == 5010


def test_python_quickbooks_duplicate_display_name_across_vendor_gives_6240(sim):
    auth, realm = connect_with_intuit_clients(sim)
    qb = quickbooks_client(sim, auth, realm)
    c = Customer()
    c.DisplayName = "Books by Bessie"  # a sandbox vendor

    with pytest.raises(QuickbooksException) as exc:
        c.save(qb=qb)

    assert exc.value.error_code == 6240
    assert "Another customer, vendor or employee" in exc.value.detail


def test_python_quickbooks_batch_create_reports_successes_and_faults(sim):
    auth, realm = connect_with_intuit_clients(sim)
    qb = quickbooks_client(sim, auth, realm)
    good, dup = Customer(), Customer()
    good.DisplayName = "Batch Good"
    dup.DisplayName = "Amy's Bird Sanctuary"

    result = qb_batch.batch_create([good, dup], qb=qb)

    assert [s.DisplayName for s in result.successes] == ["Batch Good"]
    assert len(result.faults) == 1
    assert result.faults[0].Error[0].code == "6240"


# ---------------------------------------------------------------- raw wire details


def test_missing_token_gets_the_lowercase_gateway_fault(sim, company):
    r = requests.get(f"{sim.url}/v3/company/{company['id']}/companyinfo/{company['id']}")

    assert r.status_code == 401
    err = r.json()["fault"]["error"][0]
    assert err["code"] == "3200"
    assert err["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert r.json()["fault"]["type"] == "AUTHENTICATION"


def test_token_for_another_realm_gets_403_3100(sim, company):
    other = requests.post(sim.url + "/_sim/companies", json={"name": "Other"}).json()
    token = tokens_for(sim, other["id"])["access_token"]

    r = Api(sim, company["id"], token).get("/customer/1")

    assert r.status_code == 403
    assert r.json()["fault"]["error"][0]["code"] == "3100"


def test_expired_access_token_is_refused(sim, api, company):
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 3601})

    r = api.get("/customer/1")

    assert r.status_code == 401


def test_query_envelope_paging_count_and_empty(api):
    page = api.query("SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION 2 MAXRESULTS 2")
    assert page["startPosition"] == 2
    assert page["maxResults"] == 2
    assert [c["DisplayName"] for c in page["Customer"]] == ["55 Twin Lane", "Amy's Bird Sanctuary"]

    assert api.query("select count(*) from Customer") == {"totalCount": 8}
    assert api.query("select * from Customer where DisplayName = 'Nobody'") == {}
    like = api.query("select * from Customer where DisplayName LIKE 'Amy%'")["Customer"]
    assert [c["DisplayName"] for c in like] == ["Amy's Bird Sanctuary"]
    esc = api.query("select * from Customer where DisplayName = 'Amy\\'s Bird Sanctuary'")
    assert len(esc["Customer"]) == 1
    ins = api.query("select * from Customer where Id IN ('1', '2')")["Customer"]
    assert {c["Id"] for c in ins} == {"1", "2"}


def test_query_with_or_or_bad_syntax_is_a_4000_parser_error(api):
    r = api.get("/query", query="select * from Customer where Id = '1' OR Id = '2'")
    assert r.status_code == 400
    assert fault_code(r) == "4000"
    assert "QueryParserError" in r.json()["Fault"]["Error"][0]["Detail"]
    r = api.get("/query", query="select * from Customer where DisplayName = \u2018x\u2019")
    assert fault_code(r) == "4000"


def test_query_hides_inactive_names_unless_active_is_named(api):
    cust = api.create("Customer", {"DisplayName": "Gone Soon"})
    api.create("Customer", {**cust, "Active": False, "sparse": True})

    assert api.query("select * from Customer where DisplayName = 'Gone Soon'") == {}
    both = api.query(
        "select * from Customer where DisplayName = 'Gone Soon' and Active IN (true, false)"
    )
    assert both["Customer"][0]["Active"] is False


def test_inactive_customer_name_still_blocks_reuse(api):
    cust = api.create("Customer", {"DisplayName": "Old Name"})
    api.create("Customer", {**cust, "Active": False, "sparse": True})

    r = api.post("/customer", {"DisplayName": "Old Name"})

    assert r.status_code == 400
    assert fault_code(r) == "6240"


def test_sub_customers_get_level_and_qualified_name_and_stop_at_five_levels(api):
    parent = api.create("Customer", {"DisplayName": "L0"})
    for level in range(1, 6):
        parent = api.create(
            "Customer", {"DisplayName": f"L{level}", "ParentRef": {"value": parent["Id"]}}
        )
        assert parent["Level"] == level
        assert parent["Job"] is True
    assert parent["FullyQualifiedName"] == "L0:L1:L2:L3:L4:L5"

    r = api.post("/customer", {"DisplayName": "L6", "ParentRef": {"value": parent["Id"]}})

    assert r.status_code == 400
    assert fault_code(r) == "6180"


def test_display_name_is_built_from_name_parts(api):
    cust = api.create("Customer", {"Title": "Dr", "GivenName": "Ada", "FamilyName": "Byron"})
    assert cust["DisplayName"] == "Dr Ada Byron"
    r = api.post("/customer", {"CompanyName": "No Person"})
    assert r.status_code == 400
    assert fault_code(r) == "6080"


def invoice(api: Api, customer: str, amount: float, **extra) -> dict:
    body = {
        "CustomerRef": {"value": customer},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": amount,
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": amount},
            }
        ],
        **extra,
    }
    return api.create("Invoice", body)


def test_invoice_totals_subtotal_line_amount_check_and_duplicate_docnumber(api):
    inv = invoice(api, "1", 100.0, DocNumber="A-1")
    assert inv["TotalAmt"] == 100.0
    assert inv["Balance"] == 100.0
    assert inv["Line"][-1]["DetailType"] == "SubTotalLineDetail"

    r = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "1"},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 10,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 2, "UnitPrice": 6},
                }
            ],
        },
    )
    assert fault_code(r) == "6070"

    r = api.post(
        "/invoice", {"CustomerRef": {"value": "1"}, "DocNumber": "A-1", "Line": inv["Line"]}
    )
    assert fault_code(r) == "6140"
    assert api.post("/invoice", {"Line": inv["Line"]}).status_code == 400  # CustomerRef required


def test_us_invoice_line_tax_code_must_be_tax_or_non(api):
    line = {
        "DetailType": "SalesItemLineDetail",
        "Amount": 50,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": "3"}},
    }
    r = api.post("/invoice", {"CustomerRef": {"value": "1"}, "Line": [line]})
    assert fault_code(r) == "6100"

    codes = {c["Name"]: c["Id"] for c in api.query("select * from TaxCode")["TaxCode"]}
    line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": "TAX"}
    inv = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": "1"},
            "Line": [line],
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": codes["California"]}},  # 8%
        },
    )
    assert inv["TxnTaxDetail"]["TotalTax"] == 4.0
    assert inv["TotalAmt"] == 54.0


def test_gb_company_takes_a_tax_code_per_line(sim):
    gb = requests.post(sim.url + "/_sim/qbo/companies", json={"name": "UK", "country": "GB"})
    realm = gb.json()["id"]
    api = Api(sim, realm, tokens_for(sim, realm)["access_token"])
    codes = {c["Name"]: c["Id"] for c in api.query("select * from TaxCode")["TaxCode"]}

    def line(amount, code):
        return {
            "DetailType": "SalesItemLineDetail",
            "Amount": amount,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"value": code}},
        }

    inv = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": "1"},
            "Line": [line(100, codes["20.0% S"]), line(100, codes["5.0% R"])],
        },
    )
    assert inv["TxnTaxDetail"]["TotalTax"] == 25.0
    assert inv["TotalAmt"] == 225.0


def test_invoice_send_sets_email_status_and_delivery_info(api):
    inv = invoice(api, "1", 20.0)

    r = api.s.post(
        f"{api.base}/invoice/{inv['Id']}/send",
        params={"sendTo": "ap@example.com", "minorversion": 75},
        headers={"Content-Type": "application/octet-stream"},
    )

    sent = r.json()["Invoice"]
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["BillEmail"]["Address"] == "ap@example.com"
    assert sent["DeliveryInfo"]["DeliveryType"] == "Email"


def test_payment_partial_split_overpay_unapplied_and_void(api):
    a = invoice(api, "1", 100.0)
    b = invoice(api, "1", 50.0)

    def pay(total, *lines):
        return api.post(
            "/payment",
            {
                "CustomerRef": {"value": "1"},
                "TotalAmt": total,
                "Line": [
                    {"Amount": amt, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}
                    for inv, amt in lines
                ],
            },
        )

    partial = pay(30, (a, 30)).json()["Payment"]
    assert api.get(f"/invoice/{a['Id']}").json()["Invoice"]["Balance"] == 70.0

    split = pay(100, (a, 40), (b, 50)).json()["Payment"]
    assert split["UnappliedAmt"] == 10.0
    inv_a = api.get(f"/invoice/{a['Id']}").json()["Invoice"]
    assert inv_a["Balance"] == 30.0
    assert {lt["TxnId"] for lt in inv_a["LinkedTxn"]} == {partial["Id"], split["Id"]}
    assert api.get(f"/invoice/{b['Id']}").json()["Invoice"]["Balance"] == 0.0

    over = pay(31, (a, 31))
    assert over.status_code == 400
    assert over.json()["Fault"]["type"] == "ValidationFault"
    assert api.get(f"/invoice/{a['Id']}").json()["Invoice"]["Balance"] == 30.0

    voided = api.post(
        "/payment",
        {"Id": partial["Id"], "SyncToken": partial["SyncToken"], "sparse": True},
        operation="update",
        include="void",
    )
    assert voided.json()["Payment"]["TotalAmt"] == 0.0
    assert api.get(f"/invoice/{a['Id']}").json()["Invoice"]["Balance"] == 60.0


def test_book_close_date_closes_the_period(api):
    prefs = api.get("/preferences").json()["Preferences"]
    r = api.post(
        "/preferences",
        {
            "SyncToken": prefs["SyncToken"],
            "sparse": True,
            "AccountingInfoPrefs": {"BookCloseDate": "2024-12-31"},
        },
    )
    assert r.status_code == 200

    r = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": "1"},
            "TxnDate": "2024-12-31",
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 5,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert r.status_code == 400
    assert fault_code(r) == "6200"
    assert "Account Period Closed" in r.json()["Fault"]["Error"][0]["Message"]
    assert invoice(api, "1", 5.0, TxnDate="2025-01-01")["TxnDate"] == "2025-01-01"


def test_time_activity_rules(api):
    base = {"NameOf": "Employee", "EmployeeRef": {"value": "1"}, "Hours": 2, "Minutes": 0}
    assert api.create("TimeActivity", base)["Hours"] == 2
    cases = [
        ({**base, "VendorRef": {"value": "1"}}, "6290"),
        ({**base, "NameOf": "Other"}, "6300"),
        ({**base, "BillableStatus": "Billable", "HourlyRate": 50}, "6310"),
        ({**base, "BillableStatus": "Billable", "CustomerRef": {"value": "1"}}, "6330"),
        (
            {
                **base,
                "StartTime": "2025-01-01T09:00:00-08:00",
                "EndTime": "2025-01-01T10:00:00-08:00",
            },
            "6390",
        ),
    ]
    for body, code in cases:
        r = api.post("/timeactivity", body)
        assert fault_code(r) == code, (body, r.text)
    timed = {k: v for k, v in base.items() if k not in ("Hours", "Minutes")}
    r = api.post(
        "/timeactivity",
        {**timed, "StartTime": "2025-01-01T11:00:00-08:00", "EndTime": "2025-01-01T10:00:00-08:00"},
    )
    assert fault_code(r) == "6370"


def test_missing_and_inactive_references_are_610(api):
    r = api.post("/invoice", {"CustomerRef": {"value": "999"}, "Line": []})
    assert fault_code(r) == "610"
    cust = api.create("Customer", {"DisplayName": "Sleepy"})
    api.create("Customer", {**cust, "Active": False, "sparse": True})
    r = api.post(
        "/invoice",
        {
            "CustomerRef": {"value": cust["Id"]},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": 1,
                    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                }
            ],
        },
    )
    assert fault_code(r) == "610"
    assert fault_code(api.get("/customer/424242")) == "610"


def test_cdc_returns_changes_and_deletions_but_not_time_activity(sim, api):
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 2})  # past the seeding
    since = api.get("/companyinfo/1").json()["time"]
    cust = api.create("Customer", {"DisplayName": "Fresh"})
    inv = invoice(api, cust["Id"], 10.0)
    api.post("/invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"]}, operation="delete")
    api.create("TimeActivity", {"NameOf": "Employee", "EmployeeRef": {"value": "1"}, "Hours": 1})

    r = api.get("/cdc", entities="Customer,Invoice,TimeActivity", changedSince=since)

    assert r.status_code == 200
    responses = r.json()["CDCResponse"][0]["QueryResponse"]
    customers = next(q for q in responses if "Customer" in q)["Customer"]
    assert [c["DisplayName"] for c in customers] == ["Fresh"]
    invoices = next(q for q in responses if "Invoice" in q)["Invoice"]
    assert invoices == [{"Id": inv["Id"], "status": "Deleted", "MetaData": invoices[0]["MetaData"]}]
    assert not any("TimeActivity" in q for q in responses)

    old = api.get("/cdc", entities="Customer", changedSince="2000-01-01T00:00:00Z")
    assert old.status_code == 400


def test_requestid_replays_the_first_answer_without_running_again(api):
    first = api.post("/customer", {"DisplayName": "Once Only"}, requestid="rid-1")
    again = api.post("/customer", {"DisplayName": "Once Only"}, requestid="rid-1")

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert api.query("select count(*) from Customer where DisplayName = 'Once Only'") == {
        "totalCount": 1
    }
    too_long = api.post("/customer", {"DisplayName": "X"}, requestid="r" * 51)
    assert too_long.status_code == 400


def test_batch_over_thirty_items_is_1040_and_items_see_query_and_void(api):
    items = [{"bId": str(i), "Query": "select * from Term"} for i in range(31)]
    r = api.post("/batch", {"BatchItemRequest": items})
    assert r.status_code == 400
    assert fault_code(r) == "1040"

    inv = invoice(api, "1", 12.0)
    r = api.post(
        "/batch",
        {
            "BatchItemRequest": [
                {"bId": "q", "Query": "select * from Term where Name = 'Net 30'"},
                {
                    "bId": "v",
                    "operation": "update",
                    "optionsData": "void",
                    "Invoice": {"Id": inv["Id"], "SyncToken": inv["SyncToken"]},
                },
                {"bId": "bad", "operation": "create", "Customer": {"DisplayName": "Cool Cars"}},
            ]
        },
    )
    out = {i["bId"]: i for i in r.json()["BatchItemResponse"]}
    assert out["q"]["QueryResponse"]["Term"][0]["Name"] == "Net 30"
    assert out["v"]["Invoice"]["TotalAmt"] == 0.0
    assert out["bad"]["Fault"]["Error"][0]["code"] == "6240"


def test_burst_over_500_a_minute_gets_429_throttle_fault(sim, api):
    limits_on(sim)

    last = [time.monotonic()]

    def paced_get() -> int:
        # 0.11 s of the provider's clock between calls (under 10 a second, 501 within a
        # minute), counting the real time a busy machine spends between two calls
        spent = time.monotonic() - last[0]
        requests.post(sim.url + "/_sim/clock/advance", json={"seconds": max(0.0, 0.11 - spent)})
        last[0] = time.monotonic()
        return api.get("/term/1").status_code

    statuses = [paced_get() for _ in range(501)]

    assert statuses[:500] == [200] * 500
    assert statuses[500] == 429
    r = api.get("/term/1")
    assert r.status_code == 429
    assert "ThrottleExceeded" in r.text
    assert "3001" in r.text


class _Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[bytes, Any]] = []
        self.event = threading.Event()
        self.fail_first = 0  # answer 500 to this many deliveries first
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append((body, self.headers))
                failing = len(outer.got) <= outer.fail_first
                if not failing:
                    outer.event.set()
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


def test_webhook_is_signed_and_batches_changes_of_one_window(sim, api, company, receiver):
    requests.put(sim.url + "/_sim/webhooks", json={"url": receiver.url, "key": "verifier-123"})
    requests.put(sim.url + "/_sim/qbo/settings", json={"window": 0.3})

    api.create("Customer", {"DisplayName": "Hooked One"})
    api.create("Customer", {"DisplayName": "Hooked Two"})
    assert receiver.event.wait(5)

    body, headers = receiver.got[0]
    expected = base64.b64encode(hmac.new(b"verifier-123", body, hashlib.sha256).digest())
    assert headers["intuit-signature"].encode() == expected
    note = json.loads(body)["eventNotifications"][0]
    assert note["realmId"] == company["id"]
    assert [e["operation"] for e in note["dataChangeEvent"]["entities"]] == ["Create", "Create"]
    # python-quickbooks' own validator agrees
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        qb = QuickBooks()  # no session needed for the signature check
    assert qb.validate_webhook_signature(body.decode(), headers["intuit-signature"], "verifier-123")


def test_webhook_cloudevents_format_for_a_ui_change(sim, company, receiver):
    requests.put(sim.url + "/_sim/webhooks", json={"url": receiver.url, "key": "k"})
    requests.put(sim.url + "/_sim/qbo/webhook-format", json={"format": "cloudevents"})

    r = requests.patch(
        f"{sim.url}/_sim/companies/{company['id']}/objects/Customer/1", json={"Notes": "hi"}
    )
    assert r.json()["SyncToken"] == "1"
    assert receiver.event.wait(5)

    events = json.loads(receiver.got[0][0])
    assert isinstance(events, list)
    assert events[0]["type"] == "qbo.customer.updated.v1"
    assert events[0]["intuitentityid"] == "1"
    assert events[0]["intuitaccountid"] == company["id"]


def test_failed_webhook_delivery_is_retried_on_the_scaled_schedule(sim, api, receiver):
    receiver.fail_first = 2
    requests.put(
        sim.url + "/_sim/webhooks", json={"url": receiver.url, "key": "k", "retry_scale": 0.01}
    )

    api.create("Customer", {"DisplayName": "Retry Me"})

    assert receiver.event.wait(5)
    assert len(receiver.got) == 3
    assert receiver.got[0][0] == receiver.got[2][0]  # the same body each time
    # the receiver answers before the simulator logs the attempt: wait for the log
    assert requests.post(sim.url + "/_sim/webhooks/flush", json={"timeout": 5}).ok
    attempts = requests.get(sim.url + "/_sim/webhooks").json()["deliveries"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]


def test_full_update_clears_omitted_fields_but_sparse_keeps_them(api):
    cust = api.create("Customer", {"DisplayName": "Full", "Notes": "keep?", "GivenName": "F"})

    full = api.create(
        "Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "DisplayName": "Full"}
    )

    assert "Notes" not in full
    assert "GivenName" not in full
    assert full["SyncToken"] == "1"


def test_item_and_account_rules(api):
    r = api.post("/item", {"Name": "Consulting", "Type": "Service"})
    assert fault_code(r) == "2020"  # IncomeAccountRef
    income = api.query("select * from Account where AccountType = 'Income'")["Account"][0]
    item = api.create(
        "Item",
        {"Name": "Consulting", "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}},
    )
    assert item["FullyQualifiedName"] == "Consulting"
    dup = api.post(
        "/item", {"Name": "consulting", "Type": "Service", "IncomeAccountRef": {"value": "1"}}
    )
    assert fault_code(dup) == "6240"
    assert fault_code(api.post("/item", {"Name": "a:b", "Type": "Service"})) == "2170"
    assert fault_code(api.post("/account", {"Name": "No Type"})) == "6010"
    acct = api.create("Account", {"Name": "Petty Cash", "AccountType": "Bank"})
    assert acct["Classification"] == "Asset"


def test_snapshot_and_restore_bring_back_the_books(sim, api):
    snap = requests.get(sim.url + "/_sim/snapshot").json()
    api.create("Customer", {"DisplayName": "After Snapshot"})

    requests.post(sim.url + "/_sim/restore", json=snap)

    assert api.query("select * from Customer where DisplayName = 'After Snapshot'") == {}


def test_more_than_40_batch_calls_a_minute_are_throttled(sim, api):
    limits_on(sim)
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}

    def paced_batch() -> int:
        requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 0.11})
        return api.post("/batch", body).status_code

    statuses = [paced_batch() for _ in range(41)]

    assert statuses[:40] == [200] * 40
    assert statuses[40] == 429


def test_eleventh_concurrent_call_is_throttled(sim, api):
    # Each admitted call holds its slot for 4 s, and the eleven calls leave together, so
    # all eleven are in flight at once even on a loaded two-core CI machine.
    limits_on(sim)
    requests.post(
        sim.url + "/_sim/faults", json={"action": "slow", "path": "/term/", "seconds": 4.0}
    )
    results: list[int] = []
    together = threading.Barrier(11)

    def call() -> None:
        together.wait()
        results.append(requests.get(api.base + "/term/1", headers=api.s.headers).status_code)

    threads = [threading.Thread(target=call) for _ in range(11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [200] * 10 + [429]
    calls = requests.get(sim.url + "/_sim/calls").json()["calls"]
    assert [c["limit"] for c in calls if c["status"] == 429] == ["concurrent"]


def test_eleventh_call_within_a_second_is_throttled_until_the_second_passes(sim, api):
    # Given the limits on and ten calls made within the same second of simulated time
    limits_on(sim)
    first_ten = [api.get("/term/1").status_code for _ in range(10)]

    # When an eleventh comes in the same second, and another once the second has passed
    eleventh = api.get("/term/1")
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 1.1})
    later = api.get("/term/1")

    # Then only the eleventh is refused, with QBO's throttle fault
    assert first_ten == [200] * 10
    assert eleventh.status_code == 429
    assert "ThrottleExceeded" in eleventh.text
    assert later.status_code == 200


# ---------------------------------------------------------------- pure parts, no server


def test_query_parser_reads_the_python_quickbooks_forms():
    from local.simulators.qbo import query as q

    parsed = q.parse("SELECT *, Sku FROM Item ORDER BY Name DESC STARTPOSITION 3 MAXRESULTS 5000")
    assert (parsed.entity, parsed.fields, parsed.order) == ("Item", [], [("Name", True)])
    assert (parsed.start, parsed.max_results) == (3, 1000)
    cond = q.parse("select * from Customer where DisplayName = 'It\\'s'").where[0]
    assert cond.values == ["It's"]


def test_query_evaluator_compares_timestamps_across_offsets():
    from local.simulators.qbo import query as q

    rows = [
        {"Id": "1", "MetaData": {"LastUpdatedTime": "2025-01-01T10:00:00-08:00"}},
        {"Id": "2", "MetaData": {"LastUpdatedTime": "2025-01-01T12:00:00-08:00"}},
    ]
    parsed = q.parse(
        "select * from Customer where MetaData.LastUpdatedTime > '2025-01-01T19:00:00Z'"
    )

    assert [r["Id"] for r in q.evaluate(parsed, rows, False)["Customer"]] == ["2"]
