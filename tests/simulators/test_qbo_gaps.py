"""The QBO simulator's protocol gaps met by python-quickbooks' end-to-end tests, each covered
here on its own (raw HTTP as booksync's client sends it, python-quickbooks where its wire form
is the point), and the sandbox seed shaped like Intuit's sample company."""

from __future__ import annotations

import json
import warnings

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.objects.attachable import Attachable
from quickbooks.objects.base import AttachableRef, Ref

from local.simulators.core import Clock, serve
from local.simulators.qbo import make_provider


@pytest.fixture
def sim():
    """A QBO simulator with its rate limits off (QBO allows 10 requests a second per realm,
    which a test's quick run of calls would hit)."""
    server = serve(make_provider(Clock()), 0)
    requests.put(server.url + "/_sim/ratelimits", json={"enabled": False}, timeout=10)
    try:
        yield server
    finally:
        server.stop()


class Api:
    def __init__(self, sim, company: dict) -> None:
        self.sim = sim
        self.realm = company["id"]
        token = requests.post(
            sim.url + "/_sim/oauth/tokens", json={"company_id": self.realm}
        ).json()["access_token"]
        self.token = token
        self.base = f"{sim.url}/v3/company/{self.realm}"
        self.s = requests.Session()
        self.s.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def post(self, path: str, body=None, **params) -> requests.Response:
        return self.s.post(self.base + path, json=body, params={"minorversion": "75", **params})

    def get(self, path: str, **params) -> requests.Response:
        return self.s.get(self.base + path, params={"minorversion": "75", **params})

    def query(self, q: str) -> dict:
        r = self.get("/query", query=q)
        assert r.status_code == 200, r.text
        return r.json()["QueryResponse"]

    def ok(self, r: requests.Response) -> dict:
        assert r.status_code == 200, r.text
        return r.json()


def fault(r: requests.Response) -> str:
    assert r.status_code == 400, r.text
    return r.json()["Fault"]["Error"][0]["code"]


@pytest.fixture
def api(sim):
    company = requests.post(sim.url + "/_sim/companies", json={"name": "Sandbox US"}).json()
    return Api(sim, company)


def python_quickbooks(api: Api) -> QuickBooks:
    """python-quickbooks with a session on the simulator's token (no OAuth dance needed)."""
    from requests_oauthlib import OAuth2Session

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        qb = QuickBooks(company_id=api.realm, minorversion=75)
    qb.session = OAuth2Session("booksync-dev", token={"access_token": api.token})
    qb.api_url_v3 = api.sim.url + "/v3"
    return qb


# ---------------------------------------------------------------- query language


def test_query_not_equal_leaves_out_the_named_row(api):
    # Given the sandbox's asset accounts, A/R among them
    # When a query excludes A/R with != (as python-quickbooks' transfer test does)
    rows = api.query(
        "SELECT * FROM Account WHERE Classification = 'Asset' "
        "AND FullyQualifiedName != 'Accounts Receivable (A/R)'"
    )["Account"]

    # Then every other asset account comes back, and A/R does not
    names = {a["Name"] for a in rows}
    assert "Accounts Receivable (A/R)" not in names
    assert {"Checking", "Savings", "Undeposited Funds", "Inventory Asset"} <= names
    assert fault(api.get("/query", query="select * from Account where Name <> 'x'")) == "4000"


def test_query_string_equality_ignores_case(api):
    rows = api.query("select * from Account where Name = 'checking'")["Account"]

    assert [a["Name"] for a in rows] == ["Checking"]
    assert api.query("select * from Customer where DisplayName IN ('cool cars')")["Customer"]


def test_tax_code_query_lists_the_system_codes_first_and_on_top_of_maxresults(api):
    page = api.query("select * from TaxCode MAXRESULTS 1")

    assert [c["Id"] for c in page["TaxCode"]] == ["TAX", "NON", "CustomSalesTax", "2"]
    every = api.query("select * from TaxCode")["TaxCode"]
    assert [c["Name"] for c in every] == ["TAX", "NON", "CustomSalesTax", "California", "Tucson"]
    assert api.query("select count(*) from TaxCode") == {"totalCount": 5}


# ---------------------------------------------------------------- attachments


def multipart(parts: list[tuple[str, dict[str, str], bytes]], boundary: str = "b0und") -> bytes:
    out = b""
    for name, headers, data in parts:
        out += f"--{boundary}\r\n".encode()
        disp = f'form-data; name="{name}"' + (
            f'; filename="{headers.pop("filename")}"' if "filename" in headers else ""
        )
        out += f"Content-Disposition: {disp}\r\n".encode()
        for k, v in headers.items():
            out += f"{k}: {v}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_upload_stores_the_file_linked_to_an_invoice_and_download_gives_it_back(api):
    # Given an invoice and a receipt to attach to it
    pdf = b"%PDF-1.4 receipt \x00\xff bytes"
    meta = {
        "AttachableRef": [{"EntityRef": {"type": "Invoice", "value": "1"}}],
        "FileName": "receipt.pdf",
        "ContentType": "application/pdf",
    }
    body = multipart(
        [
            ("file_metadata_0", {"Content-Type": "application/json"}, json.dumps(meta).encode()),
            ("file_content_0", {"filename": "receipt.pdf", "Content-Type": "application/pdf"}, pdf),
        ]
    )

    # When it is uploaded as multipart/form-data
    r = api.s.post(
        api.base + "/upload",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b0und"},
    )

    # Then the answer lists one Attachable of the file's size, linked to the invoice
    att = api.ok(r)["AttachableResponse"][0]["Attachable"]
    assert (att["FileName"], att["Size"], att["ContentType"]) == (
        "receipt.pdf",
        len(pdf),
        "application/pdf",
    )
    assert att["AttachableRef"][0]["EntityRef"]["value"] == "1"
    assert att["FileAccessUri"] == f"/v3/company/{api.realm}/download/{att['Id']}"
    # and the download URL hands the same bytes back
    url = api.get(f"/download/{att['Id']}").text
    assert requests.get(url).content == pdf
    found = api.query(f"select * from Attachable where Id = '{att['Id']}'")["Attachable"]
    assert found[0]["FileName"] == "receipt.pdf"


def test_python_quickbooks_upload_with_base64_part_and_bare_newlines_is_understood(
    api, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # requests-oauthlib on plain http
    qb = python_quickbooks(api)
    att = Attachable()
    ref = AttachableRef()
    ref.EntityRef = Ref()
    ref.EntityRef.type, ref.EntityRef.value = "Vendor", "1"
    att.AttachableRef.append(ref)
    att.FileName = "notes.txt"
    att.ContentType = "text/plain"
    att._FileBytes = b"hello from python-quickbooks"

    saved = att.save(qb=qb)

    assert saved.Size == len(b"hello from python-quickbooks")
    url = api.get(f"/download/{saved.Id}").text
    assert requests.get(url).content == b"hello from python-quickbooks"


def test_upload_for_a_missing_entity_faults_in_its_slot_and_a_body_without_file_is_refused(api):
    meta = {"AttachableRef": [{"EntityRef": {"type": "Vendor", "value": "999"}}]}
    body = multipart(
        [
            ("file_metadata_01", {"Content-Type": "application/json"}, json.dumps(meta).encode()),
            ("file_content_01", {"filename": "a.txt", "Content-Type": "text/plain"}, b"a"),
        ]
    )
    headers = {"Content-Type": "multipart/form-data; boundary=b0und"}

    slot = api.ok(api.s.post(api.base + "/upload", data=body, headers=headers))

    assert slot["AttachableResponse"][0]["Fault"]["Error"][0]["code"] == "610"
    empty = api.s.post(api.base + "/upload", data=b"--b0und--\r\n", headers=headers)
    assert fault(empty) == "2020"


def test_note_attachable_round_trips_through_the_json_endpoint(api):
    note = api.ok(
        api.post(
            "/attachable",
            {
                "Note": "Call back",
                "AttachableRef": [{"EntityRef": {"type": "Customer", "value": "1"}}],
            },
        )
    )["Attachable"]

    assert note["AttachableRef"][0]["EntityRef"]["name"] == "Amy's Bird Sanctuary"
    assert api.ok(api.get(f"/attachable/{note['Id']}"))["Attachable"]["Note"] == "Call back"
    assert fault(api.post("/attachable", {"AttachableRef": []})) == "2020"


# ---------------------------------------------------------------- tax service


def test_taxservice_creates_a_tax_code_with_its_rate_that_an_invoice_can_use(api):
    # When a new code is created with a new 10% rate for agency 2
    r = api.post(
        "/taxservice/taxcode",
        {
            "TaxCode": "Seattle",
            "TaxRateDetails": [
                {
                    "TaxRateName": "Seattle City",
                    "RateValue": 10,
                    "TaxAgencyId": "2",
                    "TaxApplicableOn": "Sales",
                }
            ],
        },
    )

    # Then the answer is the tax service shape, not an entity envelope
    made = api.ok(r)
    assert made["TaxCode"] == "Seattle"
    detail = made["TaxRateDetails"][0]
    assert (detail["TaxRateName"], detail["RateValue"], detail["TaxAgencyId"]) == (
        "Seattle City",
        10,
        "2",
    )
    # and the code and its rate are there to query and to use
    code = api.ok(api.get(f"/taxcode/{made['TaxCodeId']}"))["TaxCode"]
    assert (
        code["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"] == detail["TaxRateId"]
    )
    rate = api.query("select * from TaxRate where Name = 'Seattle City'")["TaxRate"][0]
    assert (rate["RateValue"], rate["AgencyRef"]["value"]) == (10, "2")
    inv = api.ok(
        api.post(
            "/invoice",
            {
                "CustomerRef": {"value": "1"},
                "Line": [
                    {
                        "DetailType": "SalesItemLineDetail",
                        "Amount": 200,
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": "1"},
                            "TaxCodeRef": {"value": "TAX"},
                        },
                    }
                ],
                "TxnTaxDetail": {"TxnTaxCodeRef": {"value": made["TaxCodeId"]}},
            },
        )
    )["Invoice"]
    assert (inv["TxnTaxDetail"]["TotalTax"], inv["TotalAmt"]) == (20.0, 220.0)


def test_taxservice_refuses_a_taken_name_an_unknown_agency_and_a_missing_rate(api):
    def make(name, **detail):
        return api.post("/taxservice/taxcode", {"TaxCode": name, "TaxRateDetails": [detail]})

    assert fault(make("California", TaxRateName="X", RateValue=1, TaxAgencyId="1")) == "6240"
    assert fault(make("New", TaxRateName="X", RateValue=1, TaxAgencyId="77")) == "610"
    assert fault(make("New", TaxRateName="X", TaxAgencyId="1")) == "2020"
    assert fault(make("New", TaxRateName="X", RateValue=150, TaxAgencyId="1")) == "2010"
    reuse = api.ok(make("Reuse", TaxRateId="3"))
    assert reuse["TaxRateDetails"][0]["TaxRateName"] == "California"


# ---------------------------------------------------------------- invoices


def test_invoice_link_is_included_only_when_asked_and_payable_online_with_an_email(api):
    line = [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": 10,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
        }
    ]
    online = api.ok(
        api.post(
            "/invoice",
            {
                "CustomerRef": {"value": "2"},
                "Line": line,
                "AllowOnlineCreditCardPayment": True,
                "BillEmail": {"Address": "surf@example.com"},
            },
        )
    )["Invoice"]
    offline = api.ok(api.post("/invoice", {"CustomerRef": {"value": "2"}, "Line": line}))["Invoice"]

    linked = api.ok(api.get(f"/invoice/{online['Id']}", include="invoiceLink"))["Invoice"]

    assert linked["InvoiceLink"].startswith("https://")
    assert "InvoiceLink" not in api.ok(api.get(f"/invoice/{online['Id']}"))["Invoice"]
    plain = api.ok(api.get(f"/invoice/{offline['Id']}", include="invoiceLink"))["Invoice"]
    assert "InvoiceLink" not in plain


def test_sales_form_subtotal_line_stands_before_the_discount_line(api):
    est = api.ok(
        api.post(
            "/estimate",
            {
                "CustomerRef": {"value": "1"},
                "Line": [
                    {
                        "DetailType": "SalesItemLineDetail",
                        "Amount": 35,
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": "10"},
                            "Qty": 1,
                            "UnitPrice": 35,
                        },
                    },
                    {
                        "DetailType": "DiscountLineDetail",
                        "Amount": 3.5,
                        "DiscountLineDetail": {
                            "PercentBased": True,
                            "DiscountPercent": 10,
                            "DiscountAccountRef": {"value": "86"},
                        },
                    },
                ],
            },
        )
    )["Estimate"]

    kinds = [ln["DetailType"] for ln in est["Line"]]
    assert kinds == ["SalesItemLineDetail", "SubTotalLineDetail", "DiscountLineDetail"]
    assert est["TotalAmt"] == 31.5


# ---------------------------------------------------------------- preferences


def test_preferences_carry_every_section_of_intuits_sample(api):
    prefs = api.ok(api.get("/preferences"))["Preferences"]

    assert {
        "AccountingInfoPrefs",
        "ProductAndServicesPrefs",
        "SalesFormsPrefs",
        "EmailMessagesPrefs",
        "VendorAndPurchasesPrefs",
        "TimeTrackingPrefs",
        "TaxPrefs",
        "CurrencyPrefs",
        "ReportPrefs",
        "OtherPrefs",
    } <= set(prefs)
    assert prefs["AccountingInfoPrefs"]["TaxYearMonth"] == "January"
    assert "BookCloseDate" not in prefs["AccountingInfoPrefs"]  # books never closed yet
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is False
    net30 = api.query("select * from Term where Name = 'Net 30'")["Term"][0]
    assert prefs["SalesFormsPrefs"]["DefaultTerms"]["value"] == net30["Id"] == "3"
    assert prefs["TaxPrefs"]["UsingSalesTax"] is True
    assert prefs["TaxPrefs"]["TaxGroupCodeRef"]["value"] == "2"
    assert prefs["CurrencyPrefs"] == {
        "HomeCurrency": {"value": "USD"},
        "MultiCurrencyEnabled": False,
    }
    assert prefs["OtherPrefs"]["NameValue"][0]["Name"] == "SalesFormsPrefs.DefaultCustomerMessage"
    assert prefs["TimeTrackingPrefs"]["WorkWeekStartDate"] == "Monday"


def close_books(api: Api, day: str) -> None:
    prefs = api.ok(api.get("/preferences"))["Preferences"]
    api.ok(
        api.post(
            "/preferences",
            {
                "SyncToken": prefs["SyncToken"],
                "sparse": True,
                "AccountingInfoPrefs": {"BookCloseDate": day},
            },
        )
    )


def test_closed_books_refuse_updates_deletes_voids_payments_and_time_on_or_before_the_date(api):
    # Given an invoice and a payment dated in the period that then gets closed
    line = [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": 40,
            "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
        }
    ]
    inv = api.ok(
        api.post("/invoice", {"CustomerRef": {"value": "1"}, "TxnDate": "2024-06-30", "Line": line})
    )["Invoice"]
    pay = api.ok(
        api.post(
            "/payment", {"CustomerRef": {"value": "2"}, "TotalAmt": 5, "TxnDate": "2024-06-30"}
        )
    )["Payment"]
    close_books(api, "2024-06-30")

    # When anything dated on or before the closing date is written
    writes = [
        api.post("/invoice", {**inv, "sparse": True, "PrivateNote": "late edit"}),
        api.post("/invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"]}, operation="delete"),
        api.post("/invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"]}, operation="void"),
        api.post(
            "/payment",
            {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "sparse": True},
            operation="update",
            include="void",
        ),
        api.post(
            "/payment", {"CustomerRef": {"value": "2"}, "TotalAmt": 5, "TxnDate": "2024-06-01"}
        ),
        api.post(
            "/timeactivity",
            {
                "NameOf": "Employee",
                "EmployeeRef": {"value": "1"},
                "TxnDate": "2024-06-30",
                "Hours": 1,
            },
        ),
        # moving a later invoice into the closed period is a write dated in it too
        api.post(
            "/invoice", {"CustomerRef": {"value": "1"}, "TxnDate": "2024-05-01", "Line": line}
        ),
    ]

    # Then each is refused with 6200 "Account Period Closed", and the day after is open
    for r in writes:
        assert fault(r) == "6200", r.text
        assert r.json()["Fault"]["Error"][0]["Message"].startswith("Account Period Closed")
    ta = api.post(
        "/timeactivity",
        {"NameOf": "Employee", "EmployeeRef": {"value": "1"}, "TxnDate": "2024-07-01", "Hours": 1},
    )
    assert api.ok(ta)["TimeActivity"]["TxnDate"] == "2024-07-01"


def test_time_activity_with_start_and_end_round_trips_and_is_left_out_of_cdc(api):
    ta = api.ok(
        api.post(
            "/timeactivity",
            {
                "NameOf": "Vendor",
                "VendorRef": {"value": "2"},
                "CustomerRef": {"value": "3"},
                "StartTime": "2025-03-03T09:00:00-08:00",
                "EndTime": "2025-03-03T11:30:00-08:00",
                "BillableStatus": "Billable",
                "HourlyRate": 80,
                "ItemRef": {"value": "2"},
            },
        )
    )["TimeActivity"]

    assert (ta["NameOf"], ta["VendorRef"]["value"], ta["HourlyRate"]) == ("Vendor", "2", 80)
    assert "Hours" not in ta
    since = ta["MetaData"]["CreateTime"]
    cdc = api.ok(api.get("/cdc", entities="TimeActivity", changedSince=since))
    assert cdc["CDCResponse"][0]["QueryResponse"] == [{}]
    assert api.query(f"select * from TimeActivity where Id = '{ta['Id']}'")["TimeActivity"]


# ---------------------------------------------------------------- currencies


def test_company_currency_needs_multicurrency_and_brings_an_exchange_rate(api):
    # Given a company without multicurrency: no currency can be added, no rate read
    assert fault(api.post("/companycurrency", {"Code": "EUR"})) == "6000"
    assert fault(api.get("/exchangerate", sourcecurrencycode="EUR")) == "6000"

    # When multicurrency is turned on and the euro added
    prefs = api.ok(api.get("/preferences"))["Preferences"]
    api.ok(
        api.post(
            "/preferences",
            {
                "SyncToken": prefs["SyncToken"],
                "sparse": True,
                "CurrencyPrefs": {"MultiCurrencyEnabled": True},
            },
        )
    )
    eur = api.ok(api.post("/companycurrency", {"Code": "EUR"}))["CompanyCurrency"]

    # Then it is named, listed, and has today's rate to the home currency
    assert (eur["Code"], eur["Name"], eur["Active"]) == ("EUR", "Euro", True)
    assert api.query("select * from CompanyCurrency")["CompanyCurrency"][0]["Code"] == "EUR"
    rate = api.ok(api.get("/exchangerate", sourcecurrencycode="EUR"))["ExchangeRate"]
    assert (rate["SourceCurrencyCode"], rate["TargetCurrencyCode"]) == ("EUR", "USD")
    assert rate["Rate"] > 0
    assert "Id" not in rate
    # and the rate can be set, with the SyncToken guarding it
    new = api.ok(api.post("/exchangerate", {**rate, "Rate": 1.5}))["ExchangeRate"]
    assert (new["Rate"], new["SyncToken"]) == (1.5, "1")
    assert fault(api.post("/exchangerate", {**rate, "Rate": 1.6})) == "5010"
    queried = api.query("select * from ExchangeRate where SourceCurrencyCode = 'EUR'")
    assert queried["ExchangeRate"][0]["Rate"] == 1.5
    # the home currency, an unknown code and a second euro are refused; multicurrency stays on
    assert fault(api.post("/companycurrency", {"Code": "USD"})) == "6000"
    assert fault(api.post("/companycurrency", {"Code": "XXX"})) == "2010"
    assert fault(api.post("/companycurrency", {"Code": "EUR"})) == "6240"
    prefs = api.ok(api.get("/preferences"))["Preferences"]
    off = api.post(
        "/preferences",
        {
            "SyncToken": prefs["SyncToken"],
            "sparse": True,
            "CurrencyPrefs": {"MultiCurrencyEnabled": False},
        },
    )
    assert fault(off) == "6000"


# ---------------------------------------------------------------- transfers and card payments


def test_credit_card_payment_travels_as_credit_card_payment_txn_and_checks_its_accounts(api):
    body = {
        "Amount": 120,
        "BankAccountRef": {"value": "35"},
        "CreditCardAccountRef": {"value": "42"},
    }

    made = api.ok(api.post("/creditcardpayment", body))

    ccp = made["CreditCardPaymentTxn"]
    assert (ccp["Amount"], ccp["CreditCardAccountRef"]["name"]) == (120.0, "Visa")
    assert (
        api.ok(api.get(f"/creditcardpayment/{ccp['Id']}"))["CreditCardPaymentTxn"]["Id"]
        == ccp["Id"]
    )
    assert (
        api.query("select * from CreditCardPayment")["CreditCardPaymentTxn"][0]["Id"] == ccp["Id"]
    )
    assert fault(api.post("/creditcardpayment", {**body, "CreditCardAccountRef": None})) == "2020"
    assert (
        fault(api.post("/creditcardpayment", {**body, "CreditCardAccountRef": {"value": "36"}}))
        == "6000"
    )
    assert fault(api.post("/creditcardpayment", {**body, "Amount": 0})) == "6000"


def test_transfer_moves_an_amount_between_two_different_balance_sheet_accounts(api):
    body = {"Amount": 100, "FromAccountRef": {"value": "35"}, "ToAccountRef": {"value": "36"}}

    made = api.ok(api.post("/transfer", body))["Transfer"]

    assert (made["Amount"], made["FromAccountRef"]["name"], made["ToAccountRef"]["name"]) == (
        100.0,
        "Checking",
        "Savings",
    )
    assert fault(api.post("/transfer", {**body, "ToAccountRef": {"value": "35"}})) == "6000"
    assert (
        fault(api.post("/transfer", {**body, "ToAccountRef": {"value": "7"}})) == "6000"
    )  # expense
    assert fault(api.post("/transfer", {**body, "FromAccountRef": None})) == "2020"
    assert fault(api.post("/transfer", {**body, "ToAccountRef": {"value": "999"}})) == "610"


# ---------------------------------------------------------------- recurring templates


def test_recurring_template_is_created_read_queried_updated_and_deleted(api):
    tmpl = {
        "CustomerRef": {"value": "1"},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": 100,
                "SalesItemLineDetail": {"ItemRef": {"value": "6"}},
            }
        ],
        "RecurringInfo": {
            "Name": "Monthly gardening",
            "RecurType": "Automated",
            "ScheduleInfo": {
                "IntervalType": "Monthly",
                "NumInterval": 1,
                "DayOfMonth": 1,
                "StartDate": "2030-01-01",
            },
        },
    }
    made = api.ok(api.post("/recurringtransaction", {"Invoice": tmpl}))["RecurringTransaction"]
    inv = made["Invoice"]
    assert inv["RecurringInfo"]["ScheduleInfo"]["NextDate"] == "2030-01-01"

    read = api.ok(api.get(f"/recurringtransaction/{inv['Id']}"))["RecurringTransaction"]
    assert read["Invoice"]["TotalAmt"] == 100
    rows = api.query("select * from RecurringTransaction where Type = 'Invoice'")
    assert rows["RecurringTransaction"] == [{"Invoice": read["Invoice"]}]
    assert fault(api.post("/recurringtransaction", {"Invoice": tmpl})) == "6240"  # same name
    bad = {**tmpl, "RecurringInfo": {**tmpl["RecurringInfo"], "Name": "x", "ScheduleInfo": {}}}
    assert fault(api.post("/recurringtransaction", {"Invoice": bad})) == "2170"

    upd = api.ok(
        api.post("/recurringtransaction", {"Invoice": {**read["Invoice"], "PrivateNote": "n"}})
    )["RecurringTransaction"]
    assert upd["Invoice"]["SyncToken"] == "1"
    assert fault(api.post("/recurringtransaction", {"Invoice": read["Invoice"]})) == "5010"
    gone = api.post("/recurringtransaction", {"Invoice": upd["Invoice"]}, operation="delete")
    assert api.ok(gone)["RecurringTransaction"]["Invoice"]["status"] == "Deleted"
    assert fault(api.get(f"/recurringtransaction/{inv['Id']}")) == "610"


# ---------------------------------------------------------------- sandbox seed


def test_sandbox_seed_has_intuits_sample_lists_under_their_ids(api):
    def one(kind, obj_id):
        return api.ok(api.get(f"/{kind.lower()}/{obj_id}"))[kind]

    assert one("Item", "10")["Name"] == "Pest Control"
    assert one("Item", "10")["IncomeAccountRef"]["value"] == "54"
    assert one("Account", "86")["Name"] == "Discounts given"
    assert one("Account", "42")["AccountType"] == "Credit Card"
    assert one("Account", "4")["AccountSubType"] == "UndepositedFunds"
    assert one("Account", "48")["FullyQualifiedName"] == (
        "Landscaping Services:Job Materials:Fountains and Garden Lighting"
    )
    assert one("TaxRate", "3")["Name"] == "California"
    assert [
        r["value"]
        for r in (d["TaxRateRef"] for d in one("TaxCode", "3")["SalesTaxRateList"]["TaxRateDetail"])
    ] == ["1", "2"]
    inventory = api.query("select * from Item where Type = 'Inventory'")["Item"]
    assert {i["Name"] for i in inventory} >= {"Rock Fountain", "Pump"}
    assert all(i["AssetAccountRef"]["value"] == "81" for i in inventory)
    assert api.query("select * from PaymentMethod")["PaymentMethod"][0]["Name"] == "Cash"
    assert api.query("select count(*) from Department")["totalCount"] >= 1
    assert api.query("select count(*) from Class")["totalCount"] >= 1


def test_sandbox_seed_has_invoices_payments_and_time_to_read(api):
    assert api.query("select count(*) from Payment")["totalCount"] >= 5
    amy = api.query("select * from Invoice where CustomerRef = '1'")["Invoice"]
    assert [i["Balance"] for i in amy] == [125.0, 0.0]
    assert amy[1]["LinkedTxn"][0]["TxnType"] == "Payment"
    assert api.ok(api.get("/customer/1"))["Customer"]["Balance"] == 125.0
    times = api.query("select * from TimeActivity")["TimeActivity"]
    assert {t["BillableStatus"] for t in times} == {"Billable", "NotBillable"}
    for kind in ("Estimate", "SalesReceipt", "CreditMemo", "Bill", "Purchase"):
        assert api.query(f"select count(*) from {kind}")["totalCount"] >= 1, kind


def test_empty_seed_keeps_only_company_settings_and_tax_codes(sim):
    company = requests.post(
        sim.url + "/_sim/companies", json={"name": "Empty", "seed": "empty"}
    ).json()
    api = Api(sim, company)

    assert api.query("select * from Customer") == {}
    assert api.query("select * from Account") == {}
    assert [c["Id"] for c in api.query("select * from TaxCode")["TaxCode"]][:3] == [
        "TAX",
        "NON",
        "CustomSalesTax",
    ]
    prefs = api.ok(api.get("/preferences"))["Preferences"]
    assert "DefaultTerms" not in prefs["SalesFormsPrefs"]  # no terms to point at
