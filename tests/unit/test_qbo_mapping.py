"""QBO mappers and error classification, pure, on bodies shaped as QBO sends them
(PROVIDERS.md 1.3 and 1.5; the 429 XML as the simulator and Intuit send it)."""

from __future__ import annotations

import pytest

from booksync.hub import content as hub
from booksync.providers.qbo import customers, employees, jobs
from booksync.providers.qbo.client import classify, classify_item_fault, quote

CUSTOMER = {
    "Id": "58",
    "SyncToken": "3",
    "DisplayName": "Bayside Cafe",
    "CompanyName": "Bayside Cafe Pty Ltd",
    "GivenName": "Jo",
    "FamilyName": "Park",
    "PrimaryEmailAddr": {"Address": "accounts@bayside.test"},
    "PrimaryPhone": {"FreeFormNumber": "(555) 555-0100"},
    "Mobile": {"FreeFormNumber": "0400 111 222"},
    "BillAddr": {
        "Id": "91",
        "Line1": "PO Box 12",
        "City": "Harbour",
        "CountrySubDivisionCode": "CA",
        "PostalCode": "94040",
    },
    "ShipAddr": {"Id": "92", "Line1": "1 Quay St", "City": "Harbour", "Country": "USA"},
    "Job": True,
    "ParentRef": {"value": "57", "name": "Bayside Group"},
    "Level": 1,
    "FullyQualifiedName": "Bayside Group:Bayside Cafe",
    "Active": False,
    "Balance": 120.5,
    "MetaData": {
        "CreateTime": "2025-03-01T10:00:00-08:00",
        "LastUpdatedTime": "2025-03-02T11:00:00-08:00",
    },
}


def test_a_customer_becomes_hub_contact_content_with_both_addresses_and_inactive():
    content = customers.contact_from_customer(CUSTOMER)
    assert content["name"] == "Bayside Cafe"
    assert content["kind"] == "organisation"
    assert content["emails"] == [{"address": "accounts@bayside.test", "label": "primary"}]
    assert {"number": "0400 111 222", "label": "mobile"} in content["phones"]
    assert content["mailing_address"]["line1"] == "PO Box 12"
    assert content["mailing_address"]["region"] == "CA"
    assert content["physical_address"]["country"] == "USA"
    assert content["active"] is False
    assert "contact_type" not in content  # the caller decides what to import it as
    hub.Contact.model_validate(content)  # valid hub content as it is


def test_a_customer_without_company_name_is_a_person():
    raw = {"Id": "1", "DisplayName": "Jo Park", "GivenName": "Jo", "FamilyName": "Park"}
    assert customers.contact_from_customer(raw)["kind"] == "person"


def test_a_malformed_email_in_quickbooks_is_left_out_rather_than_failing_the_pull():
    raw = {"Id": "1", "DisplayName": "X", "PrimaryEmailAddr": {"Address": "not an email"}}
    assert customers.contact_from_customer(raw)["emails"] == []


def test_a_contact_becomes_a_customer_body_mailing_as_bill_and_physical_as_ship():
    contact = hub.Contact(
        name="Harbour Marine",
        emails=[{"address": "b@h.test", "label": "billing"}, {"address": "p@h.test"}],
        phones=[{"number": "1", "label": "fax"}, {"number": "2"}],
        physical_address={"line1": "1 Wharf Rd"},
        mailing_address={"line1": "PO Box 9"},
    )
    body = customers.customer_from_contact(contact, None)
    assert body["DisplayName"] == body["CompanyName"] == "Harbour Marine"
    assert body["PrimaryEmailAddr"] == {"Address": "p@h.test"}
    assert body["Fax"] == {"FreeFormNumber": "1"}
    assert body["PrimaryPhone"] == {"FreeFormNumber": "2"}
    assert body["BillAddr"] == {"Line1": "PO Box 9"}
    assert body["ShipAddr"] == {"Line1": "1 Wharf Rd"}
    assert body["Active"] is True
    assert "ParentRef" not in body


def test_a_contact_with_only_a_physical_address_bills_there_too():
    body = customers.customer_from_contact(
        hub.Contact(name="X", physical_address={"city": "Harbour"}), None
    )
    assert body["BillAddr"] == body["ShipAddr"] == {"City": "Harbour"}


def test_a_person_is_sent_with_given_and_family_name_and_no_company_name():
    person = hub.Contact(kind="person", name="Jo Park", first_name="Jo", last_name="Park")
    body = customers.customer_from_contact(person, None)
    assert "CompanyName" not in body
    assert (body["GivenName"], body["FamilyName"]) == ("Jo", "Park")


def test_a_child_contact_is_a_sub_customer_of_its_parent():
    body = customers.customer_from_contact(hub.Contact(name="Child"), "57")
    assert body["Job"] is True
    assert body["ParentRef"] == {"value": "57"}
    assert body["BillWithParent"] is False


def test_a_colon_in_a_name_is_replaced_since_quickbooks_uses_it_between_levels():
    body = customers.customer_from_contact(hub.Contact(name="Smith: Family Trust"), None)
    assert ":" not in body["DisplayName"]
    assert body["DisplayName"] == "Smith- Family Trust"


def test_a_contact_sent_and_read_back_unchanged_has_the_same_fingerprint():
    contact = hub.Contact(
        name="Echo: Ltd",
        contact_type="Supplier",
        emails=[{"address": "e@echo.test", "label": "billing"}],
        phones=[{"number": "555", "label": "other"}],
        mailing_address={"line1": "PO Box 1"},
    )
    stored = {"Id": "9", "SyncToken": "0", **customers.customer_from_contact(contact, None)}
    assert customers.customer_fingerprint(stored) == customers.contact_fingerprint(contact)
    stored["PrimaryEmailAddr"] = {"Address": "changed@echo.test"}
    assert customers.customer_fingerprint(stored) != customers.contact_fingerprint(contact)


def test_a_work_item_is_a_job_billed_with_its_client_and_inactive_when_completed():
    work = hub.WorkItem(contact_id="c1", name="2025 Tax Return", status="completed")
    body = jobs.sub_customer_from_work_item(work, "57")
    assert body == {
        "DisplayName": "2025 Tax Return",
        "Job": True,
        "ParentRef": {"value": "57"},
        "BillWithParent": True,
        "Active": False,
    }


def test_a_user_and_an_employee_map_both_ways():
    user = hub.User(first_name="Ana", last_name="Ruiz", email="ana@h.test", roles=["admin"])
    body = employees.employee_from_user(user)
    assert body["DisplayName"] == "Ana Ruiz"
    assert body["PrimaryEmailAddr"] == {"Address": "ana@h.test"}
    back = employees.user_from_employee({"Id": "4", **body})
    assert back == {"first_name": "Ana", "last_name": "Ruiz", "email": "ana@h.test", "active": True}
    assert employees.employee_fingerprint({"Id": "4", **body}) == employees.user_fingerprint(user)


def test_an_employee_with_only_a_display_name_is_split_into_first_and_last():
    back = employees.user_from_employee({"Id": "4", "DisplayName": "Pat Ng", "Active": False})
    assert back == {"first_name": "Pat", "last_name": "Ng", "email": "", "active": False}


# ----------------------------------------------------------------------- classify


def fault(code: str, message: str = "m", detail: str = "d") -> dict:
    return {
        "Fault": {
            "Error": [{"Message": message, "Detail": detail, "code": code, "element": ""}],
            "type": "ValidationFault",
        },
        "time": "2025-03-02T11:00:00.000-08:00",
    }


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "6240", "qbo.duplicate_name"),
        (400, "6200", "qbo.period_closed"),
        (400, "6210", "qbo.period_closed"),
        (400, "5010", "qbo.stale_object"),
        (400, "610", "qbo.object_not_found"),
        (400, "6180", "qbo.depth_limit"),
        (400, "6000", "qbo.validation"),
        (400, "2020", "qbo.validation"),
        (500, "10000", "qbo.unavailable"),
        (503, "", "qbo.unavailable"),
    ],
)
def test_each_quickbooks_error_code_gets_its_booksync_code(status, code, expected):
    assert classify(status, fault(code)).code == expected


def test_the_provider_message_and_detail_are_kept_verbatim():
    failure = classify(
        400,
        fault(
            "6240",
            "Duplicate Name Exists Error",
            "The name supplied already exists. : Another customer, vendor or employee is "
            "already using this name. Please use a different name.",
        ),
    )
    assert failure.provider_message == (
        "Duplicate Name Exists Error: The name supplied already exists. : Another customer, "
        "vendor or employee is already using this name. Please use a different name."
    )
    assert failure.status == 400


def test_a_5010_whose_message_says_account_period_closed_is_period_closed():
    # python-quickbooks #208
    body = fault("5010", "Account Period Closed, Cannot Update Through Services API", "")
    assert classify(400, body).code == "qbo.period_closed"


def test_a_429_in_xml_is_throttled_with_a_minute_wait_when_no_retry_after_is_given():
    xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2025-03-02T11:00:00">'
        '<Fault type="SERVICE"><Error code="3001">'
        "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        "<Detail>The request limit was reached.  Try again later</Detail>"
        "</Error></Fault></IntuitResponse>"
    )
    failure = classify(429, xml, {"Content-Type": "application/xml"})
    assert failure.code == "qbo.throttled"
    assert failure.kind == "rate_limited"
    assert failure.retry_after == 60
    assert failure.provider_message == (
        "message=ThrottleExceeded; errorCode=003001; statusCode=429: "
        "The request limit was reached.  Try again later"
    )


def test_a_retry_after_header_is_honoured():
    assert classify(429, fault("3001"), {"Retry-After": "12"}).retry_after == 12


def test_the_gateways_lowercase_fault_shape_is_read_too():
    body = {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired",
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "time": 1633520295688,
    }
    failure = classify(401, body)
    assert failure.code == "qbo.reauth_required"
    assert "Token expired" in failure.provider_message


def test_a_plain_text_outage_page_is_unavailable_and_kept():
    failure = classify(502, "<html>Bad Gateway</html>")
    assert failure.code == "qbo.unavailable"
    assert "Bad Gateway" in failure.provider_message


def test_a_batch_item_fault_is_classified_like_a_reply():
    assert classify_item_fault(fault("6240")["Fault"]).code == "qbo.duplicate_name"
    system = {"Error": [{"Message": "x", "code": "10000"}], "type": "SystemFault"}
    assert classify_item_fault(system).code == "qbo.unavailable"


def test_quotes_in_query_values_are_escaped():
    assert quote("O'Brien's") == "'O\\'Brien\\'s'"


def test_an_employee_is_matched_to_a_user_by_email_before_display_name():
    users = {
        "u1": hub.User(first_name="Sam", last_name="Lee", email="sam.lee@h.test"),
        "u2": hub.User(first_name="Samuel", last_name="Lee", email="sam@h.test"),
    }
    by_email = {"DisplayName": "Sam Lee", "PrimaryEmailAddr": {"Address": "SAM@h.test"}}
    assert employees.match_user_for_employee(by_email, users) == "u2"
    by_name = {"DisplayName": "Sam Lee", "PrimaryEmailAddr": {"Address": "other@h.test"}}
    assert employees.match_user_for_employee(by_name, users) == "u1"
    assert employees.match_user_for_employee({"DisplayName": "Nobody"}, users) is None


def test_a_deleted_object_in_cdc_is_a_change_without_content():
    from datetime import UTC, datetime

    from booksync.providers.qbo.changes import _change

    tomb = {
        "Id": "77",
        "status": "Deleted",
        "MetaData": {"LastUpdatedTime": "2025-03-02T11:00:00-08:00"},
    }
    change = _change("Customer", tomb, datetime.now(UTC))
    assert (change.object_type, change.provider_id, change.raw) == ("Customer", "77", None)
    assert change.changed_at == datetime(2025, 3, 2, 19, 0, tzinfo=UTC)


def test_a_sub_customer_change_names_its_parent():
    from datetime import UTC, datetime

    from booksync.providers.qbo.changes import _change

    change = _change("Customer", CUSTOMER, datetime.now(UTC))
    assert change.parent_provider_id == "57"
    assert change.provider_version == "3"
    assert change.raw is not None
    assert customers.Customers().from_provider(change.raw)["active"] is False


# ------------------------------------------------- is this object our own create?


def test_a_customer_is_our_create_only_if_made_after_the_create_left_under_its_name():
    from booksync.providers.qbo.customers import Customers

    family = Customers()
    intent = {"name": "Acme Ltd", "at": "2026-12-02T17:00:00.400000+00:00"}

    def customer(name: str, created: str) -> dict:
        return {"DisplayName": name, "MetaData": {"CreateTime": created}}

    # QBO's whole seconds, in its own time zone: the same second counts
    assert family.made_by(intent, customer("Acme Ltd", "2026-12-02T09:00:00-08:00"))
    assert family.made_by(intent, customer("ACME LTD", "2026-12-02T09:00:05-08:00"))
    # the firm's older namesake, another name, an intent without its time: not ours
    assert not family.made_by(intent, customer("Acme Ltd", "2026-12-02T08:59:50-08:00"))
    assert not family.made_by(intent, customer("Acme Limited", "2026-12-02T09:00:01-08:00"))
    assert not family.made_by({"name": "Acme Ltd"}, customer("Acme Ltd", "2026-12-02T09:00:01Z"))
