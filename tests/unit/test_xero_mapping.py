"""Xero mapping and error classification with bodies recorded from Xero's wire shapes
(developer.xero.com examples, Xero-OpenAPI schemas, PROVIDERS.md section 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from booksync.errors import Kind
from booksync.hub.content import Address, Contact, Email, Phone
from booksync.providers import registry
from booksync.providers.xero.client import (
    classify,
    element_failure,
    if_modified_since,
    parse_date,
)
from booksync.providers.xero.contacts import (
    batch_idempotency_key,
    contact_from_xero,
    xero_contact_from,
)
from booksync.providers.xero.employees import user_from_payroll_employee

# A contact as GET /api.xro/2.0/Contacts returns it (null properties omitted, as Xero does)
RECORDED_CONTACT = {
    "ContactID": "bd2270c3-8706-4c11-9cfb-000b551c3f51",
    "ContactNumber": "ID001",
    "ContactStatus": "ACTIVE",
    "Name": "ABC Limited",
    "FirstName": "Andrea",
    "LastName": "Dutchess",
    "EmailAddress": "a.dutchess@abclimited.com",
    "BankAccountDetails": "",
    "Addresses": [
        {
            "AddressType": "STREET",
            "AddressLine1": "Level 6",
            "AddressLine2": "Suite 2",
            "AddressLine3": "Unit 4",
            "City": "Oaktown",
            "Region": "Hants",
            "PostalCode": "SO1 1AA",
            "Country": "United Kingdom",
        },
        {"AddressType": "POBOX"},
    ],
    "Phones": [
        {
            "PhoneType": "DEFAULT",
            "PhoneNumber": "1111111",
            "PhoneAreaCode": "01",
            "PhoneCountryCode": "44",
        },
        {"PhoneType": "DDI"},
        {"PhoneType": "FAX"},
        {"PhoneType": "MOBILE", "PhoneNumber": "07700 900123"},
    ],
    "UpdatedDateUTC": "/Date(1552326816230+0000)/",
    "ContactGroups": [],
    "IsSupplier": False,
    "IsCustomer": True,
    "HasValidationErrors": False,
}

# A summarizeErrors=false element Xero refused (Xero-OpenAPI Contact + ValidationError)
DUPLICATE_ELEMENT = {
    "Name": "ABC Limited",
    "ContactNumber": "h-1",
    "StatusAttributeString": "ERROR",
    "HasValidationErrors": True,
    "ValidationErrors": [
        {
            "Message": "The contact name ABC Limited is already assigned to another contact. "
            "The contact name must be unique across all active contacts."
        }
    ],
}

# A Payroll UK employee (xero-payroll-uk.yaml Employee; 7 fractional digits as Xero prints)
RECORDED_EMPLOYEE = {
    "employeeID": "d90457c4-f1be-4f2e-b4e3-f766390a7e30",
    "title": "Mrs",
    "firstName": "Edgar",
    "lastName": "Allan Po",
    "dateOfBirth": "1985-03-24T00:00:00",
    "gender": "F",
    "email": "tester@gmail.com",
    "phoneNumber": "0400123456",
    "startDate": "2020-04-06T00:00:00",
    "updatedDateUTC": "2020-05-01T23:42:21.4009114",
    "createdDateUTC": "2020-05-01T23:42:21",
    "endDate": None,
}


# ------------------------------------------------------------------------ hub -> Xero


def test_a_person_is_sent_with_names_email_phones_addresses_and_the_hub_id():
    contact = Contact(
        kind="person",
        name="Ann Lee",
        first_name="Ann",
        last_name="Lee",
        emails=[Email(address="ann@lee.example"), Email(address="ann2@lee.example")],
        phones=[Phone(number="07700 900123", label="mobile"), Phone(number="0113 496 0000")],
        mailing_address=Address(line1="PO Box 7", city="Leeds", postal_code="LS1 1AA"),
    )

    body = xero_contact_from(contact, "hub-123")

    assert body["Name"] == "Ann Lee"
    assert (body["FirstName"], body["LastName"]) == ("Ann", "Lee")
    assert body["EmailAddress"] == "ann@lee.example"
    assert body["ContactNumber"] == "hub-123"
    assert body["ContactStatus"] == "ACTIVE"
    phones = {p["PhoneType"]: p["PhoneNumber"] for p in body["Phones"]}
    assert phones == {"DEFAULT": "0113 496 0000", "DDI": "", "MOBILE": "07700 900123", "FAX": ""}
    addresses = {a["AddressType"]: a for a in body["Addresses"]}
    assert addresses["POBOX"]["AddressLine1"] == "PO Box 7"
    assert addresses["POBOX"]["PostalCode"] == "LS1 1AA"
    assert addresses["STREET"]["AddressLine1"] == ""  # cleared in Xero, not left stale


def test_an_inactive_hub_contact_is_sent_archived():
    body = xero_contact_from(Contact(name="Gone Ltd", active=False), "hub-9")

    assert body["ContactStatus"] == "ARCHIVED"


# ------------------------------------------------------------------------ Xero -> hub


def test_a_recorded_xero_contact_maps_to_hub_content():
    content = contact_from_xero(RECORDED_CONTACT)

    assert content["kind"] == "organisation"  # its Name is not its person's name
    assert content["name"] == "ABC Limited"
    assert (content["first_name"], content["last_name"]) == ("Andrea", "Dutchess")
    assert content["emails"] == [{"address": "a.dutchess@abclimited.com", "label": "primary"}]
    assert content["phones"] == [
        {"number": "44 01 1111111", "label": "primary"},
        {"number": "07700 900123", "label": "mobile"},
    ]
    assert content["physical_address"] == {
        "line1": "Level 6",
        "line2": "Suite 2, Unit 4",
        "city": "Oaktown",
        "region": "Hants",
        "postal_code": "SO1 1AA",
        "country": "United Kingdom",
    }
    assert content["mailing_address"] is None
    assert content["active"] is True
    assert "contact_type" not in content  # the caller decides


def test_a_contact_named_as_its_person_is_a_person():
    raw = {**RECORDED_CONTACT, "Name": "Andrea  Dutchess"}

    assert contact_from_xero(raw)["kind"] == "person"


@pytest.mark.parametrize("status", ["ARCHIVED", "GDPRREQUEST"])
def test_an_archived_xero_contact_is_an_inactive_hub_contact(status):
    assert contact_from_xero({**RECORDED_CONTACT, "ContactStatus": status})["active"] is False


def test_a_hub_contact_survives_the_round_trip_through_xero():
    contact = Contact(
        kind="person",
        name="Ann Lee",
        first_name="Ann",
        last_name="Lee",
        emails=[Email(address="ann@lee.example")],
        phones=[Phone(number="0113 496 0000"), Phone(number="07700 900123", label="mobile")],
        physical_address=Address(line1="1 High St", city="York"),
        active=False,
    )

    back = contact_from_xero(xero_contact_from(contact, "hub-1"))

    assert back == contact.model_dump(mode="json", exclude={"contact_type", "parent_id"})


def test_a_payroll_employee_becomes_a_hub_user():
    assert user_from_payroll_employee(RECORDED_EMPLOYEE, today=date(2026, 1, 1)) == {
        "first_name": "Edgar",
        "last_name": "Allan Po",
        "email": "tester@gmail.com",
        "active": True,
    }


def test_an_employee_whose_end_date_has_passed_is_an_inactive_user():
    left = {**RECORDED_EMPLOYEE, "endDate": "2025-06-30T00:00:00"}

    assert user_from_payroll_employee(left, today=date(2026, 1, 1))["active"] is False
    assert user_from_payroll_employee(left, today=date(2025, 6, 30))["active"] is True


def test_an_employee_without_email_cannot_be_a_hub_user():
    with pytest.raises(ValidationError):
        user_from_payroll_employee({**RECORDED_EMPLOYEE, "email": None})


# ------------------------------------------------------------------------ dates, cursor


def test_xero_dates_are_read_as_utc_instants():
    assert parse_date("/Date(1552326816230+0000)/") == datetime(
        2019, 3, 11, 17, 53, 36, 230000, tzinfo=UTC
    )
    assert parse_date("/Date(1552326816230)/").tzinfo is not None
    assert parse_date("2020-05-01T23:42:21.4009114") == datetime(
        2020, 5, 1, 23, 42, 21, 400911, tzinfo=UTC
    )


def test_if_modified_since_is_utc_to_the_second():
    moment = datetime(2026, 3, 1, 12, 30, 45, 999999, tzinfo=UTC)

    assert if_modified_since(moment) == "2026-03-01T12:30:45"


def test_each_xero_family_pulls_from_a_cursor_of_its_own():
    names = [source.name for source in registry.sources("xero")]

    assert sorted(names) == ["xero.contacts", "xero.employees", "xero.payments"]


def test_the_batch_key_fits_xero_and_changes_with_the_items_and_their_order():
    key = batch_idempotency_key("PUT", ["a" * 36] * 50)

    assert len(key) <= 128
    assert key == batch_idempotency_key("PUT", ["a" * 36] * 50)
    assert batch_idempotency_key("PUT", ["k1", "k2"]) != batch_idempotency_key("PUT", ["k2", "k1"])
    assert batch_idempotency_key("PUT", ["k1"]) != batch_idempotency_key("POST", ["k1"])


# ------------------------------------------------------------------------ errors


def test_xeros_duplicate_name_message_is_a_duplicate_name_error():
    failure = element_failure(DUPLICATE_ELEMENT)

    assert failure is not None
    assert failure.code == "xero.duplicate_name"
    assert failure.kind is Kind.NEEDS_FIX
    assert failure.provider_message == DUPLICATE_ELEMENT["ValidationErrors"][0]["Message"]


def test_an_element_xero_saved_is_no_failure():
    assert element_failure({**RECORDED_CONTACT, "StatusAttributeString": "OK"}) is None
    assert element_failure({**RECORDED_CONTACT, "StatusAttributeString": "WARNING"}) is None


def test_a_validation_exception_keeps_xeros_messages_verbatim():
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [
            {"Name": "X", "ValidationErrors": [{"Message": "Email address must be valid."}]}
        ],
    }

    failure = classify(400, body, {})

    assert failure.code == "xero.validation"
    assert failure.provider_message == "Email address must be valid."


def test_the_day_limit_says_so_and_keeps_the_wait():
    body = {
        "Type": None,
        "Title": "Too Many Requests",
        "Status": 429,
        "Detail": "Rate limit exceeded",
    }
    headers = {"Retry-After": "3600", "X-Rate-Limit-Problem": "day"}

    failure = classify(429, body, headers)

    assert failure.code == "xero.day_limit"  # its own code: the connection is held, and says so
    assert failure.retry_after == 3600
    assert "daily limit" in failure.provider_message
    assert "Rate limit exceeded" in failure.provider_message


def test_a_plain_text_outage_is_unavailable():
    failure = classify(503, "The Xero API is currently unavailable. Please try again later.", {})

    assert failure.code == "xero.unavailable"
    assert failure.kind is Kind.TRANSIENT
    assert failure.provider_message.startswith("The Xero API is currently unavailable")


def test_a_wrong_tenant_is_not_authorised():
    body = {
        "Type": None,
        "Title": "Forbidden",
        "Status": 403,
        "Detail": "AuthenticationUnsuccessful",
    }

    failure = classify(403, body, {})

    assert failure.code == "xero.not_authorised"
    assert failure.kind is Kind.REAUTH
    assert failure.provider_message == "AuthenticationUnsuccessful"


def test_a_xero_contact_is_our_create_when_it_carries_the_record_id_as_its_number():
    from booksync.providers.xero.contacts import Contacts

    family = Contacts()
    assert family.made_by({"contact_number": "rec-1"}, {"ContactNumber": "rec-1", "Name": "A"})
    assert not family.made_by({"contact_number": "rec-1"}, {"ContactNumber": "rec-2"})
    assert not family.made_by({}, {"ContactNumber": ""})
