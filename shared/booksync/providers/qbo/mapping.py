"""Pure mappers between hub content (booksync.hub) and QBO's Customer and Employee bodies.

What we compare to decide "changed?" is the hub shape QBO can carry back: a hub record
sent through `customer_from_contact` and read back through `contact_from_customer` (or
the Employee pair). `contact_fingerprint` / `user_fingerprint` hash exactly that, so the
hash of what we sent equals the hash of an unchanged object pulled later (an echo).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from booksync.hub import content as hub

# QBO builds FullyQualifiedName as Parent:Child, so names cannot hold a colon
# (PROVIDERS.md 1.3 Item; the simulator answers 2170 for a DisplayName with one).
NAME_COLON_REPLACEMENT = "-"

_PHONE_FIELDS = (
    ("primary", "PrimaryPhone"),
    ("mobile", "Mobile"),
    ("fax", "Fax"),
    ("other", "AlternatePhone"),
)


def display_name(name: str) -> str:
    """A hub name as a QBO DisplayName: no colon, no control characters, trimmed."""
    cleaned = "".join(ch for ch in name if ord(ch) >= 32)
    return cleaned.replace(":", NAME_COLON_REPLACEMENT).strip()


def _addr_to_qbo(address: hub.Address) -> dict[str, str]:
    pairs = {
        "Line1": address.line1,
        "Line2": address.line2,
        "City": address.city,
        "CountrySubDivisionCode": address.region,
        "PostalCode": address.postal_code,
        "Country": address.country,
    }
    return {k: v for k, v in pairs.items() if v}


def _addr_from_qbo(raw: Any) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        return None
    address = {
        "line1": str(raw.get("Line1") or ""),
        "line2": str(raw.get("Line2") or ""),
        "city": str(raw.get("City") or ""),
        "region": str(raw.get("CountrySubDivisionCode") or ""),
        "postal_code": str(raw.get("PostalCode") or ""),
        "country": str(raw.get("Country") or ""),
    }
    if not any(address.values()):
        return None
    return hub.Address.model_validate(address).model_dump()


def _primary_email(emails: list[hub.Email]) -> str | None:
    for email in emails:
        if email.label == "primary":
            return email.address
    return emails[0].address if emails else None


def _valid_email(address: str) -> bool:
    try:
        hub.Email(address=address)
    except ValidationError:
        return False
    return True


# ----------------------------------------------------------------------- contacts


def customer_from_contact(
    contact: hub.Contact, parent_ref: str | None, *, bill_with_parent: bool = False
) -> dict[str, Any]:
    """A Customer body (no Id/SyncToken) for a hub contact; `parent_ref` is the QBO Id of
    the parent customer for a child contact (a sub-customer: Job, ParentRef)."""
    body: dict[str, Any] = {"DisplayName": display_name(contact.name), "Active": contact.active}
    if contact.kind == "organisation":
        body["CompanyName"] = contact.name
    if contact.first_name:
        body["GivenName"] = contact.first_name
    if contact.last_name:
        body["FamilyName"] = contact.last_name
    email = _primary_email(contact.emails)
    if email:
        body["PrimaryEmailAddr"] = {"Address": email}
    for label, field in _PHONE_FIELDS:
        number = next((p.number for p in contact.phones if p.label == label), None)
        if number:
            body[field] = {"FreeFormNumber": number}
    billing = contact.mailing_address or contact.physical_address
    if billing is not None:
        body["BillAddr"] = _addr_to_qbo(billing)
    if contact.physical_address is not None:
        body["ShipAddr"] = _addr_to_qbo(contact.physical_address)
    if parent_ref:
        body["Job"] = True
        body["ParentRef"] = {"value": parent_ref}
        body["BillWithParent"] = bill_with_parent
    return body


def contact_from_customer(raw: dict[str, Any]) -> dict[str, Any]:
    """A Customer as hub contact content (hub.Contact dump without contact_type and
    parent_id: the caller knows the type to import as and resolves ParentRef by link)."""
    name = display_name(str(raw.get("DisplayName") or raw.get("FullyQualifiedName") or ""))
    given = str(raw.get("GivenName") or "").strip()
    family = str(raw.get("FamilyName") or "").strip()
    company = str(raw.get("CompanyName") or "").strip()
    kind = "person" if not company and (given or family) else "organisation"
    emails = []
    address = str((raw.get("PrimaryEmailAddr") or {}).get("Address") or "").strip()
    if address and _valid_email(address):
        emails.append({"address": address, "label": "primary"})
    phones = []
    for label, field in _PHONE_FIELDS:
        number = str((raw.get(field) or {}).get("FreeFormNumber") or "").strip()
        if number:
            phones.append({"number": number[:40], "label": label})
    contact = hub.Contact.model_validate(
        {
            "kind": kind,
            "name": name or company or "(no name)",
            "first_name": given[:100],
            "last_name": family[:100],
            "emails": emails,
            "phones": phones,
            "physical_address": _addr_from_qbo(raw.get("ShipAddr")),
            "mailing_address": _addr_from_qbo(raw.get("BillAddr")),
            "active": raw.get("Active") is not False,
        }
    )
    return contact.model_dump(exclude={"contact_type", "parent_id"})


def contact_fingerprint(contact: hub.Contact) -> str:
    """content_hash of the contact as QBO will hold it (equal to the hash of an unchanged
    Customer pulled back through contact_from_customer)."""
    return hub.content_hash(contact_from_customer(customer_from_contact(contact, None)))


def customer_fingerprint(raw: dict[str, Any]) -> str:
    return hub.content_hash(contact_from_customer(raw))


# ----------------------------------------------------------------------- work items


def sub_customer_from_work_item(work_item: hub.WorkItem, parent_ref: str) -> dict[str, Any]:
    """A work item as a sub-customer (job) of its contact's customer, billed with it."""
    return {
        "DisplayName": display_name(work_item.name),
        "Job": True,
        "ParentRef": {"value": parent_ref},
        "BillWithParent": True,
        "Active": work_item.status == "active",
    }


def _job_hash(name: str, active: bool) -> str:
    return hub.content_hash({"name": display_name(name), "active": active})


def work_item_fingerprint(work_item: hub.WorkItem) -> str:
    return _job_hash(work_item.name, work_item.status == "active")


def job_fingerprint(raw: dict[str, Any]) -> str:
    """work_item_fingerprint of the work item a job holds."""
    return _job_hash(str(raw.get("DisplayName") or ""), raw.get("Active") is not False)


# ----------------------------------------------------------------------- staff


def employee_from_user(user: hub.User) -> dict[str, Any]:
    """An Employee body; DisplayName shares the Customer/Vendor/Employee pool (6240)."""
    return {
        "GivenName": user.first_name,
        "FamilyName": user.last_name,
        "DisplayName": display_name(f"{user.first_name} {user.last_name}"),
        "PrimaryEmailAddr": {"Address": user.email},
        "Active": user.active,
    }


def user_from_employee(raw: dict[str, Any]) -> dict[str, Any]:
    """An Employee as hub user fields (first_name, last_name, email, active); task types
    and roles stay the caller's. An Employee without Given/FamilyName is split from its
    DisplayName; email is "" when QBO has none (or one the hub would refuse)."""
    given = str(raw.get("GivenName") or "").strip()
    family = str(raw.get("FamilyName") or "").strip()
    if not given and not family:
        parts = str(raw.get("DisplayName") or "").strip().split(" ", 1)
        given, family = parts[0], (parts[1] if len(parts) > 1 else "")
    email = str((raw.get("PrimaryEmailAddr") or {}).get("Address") or "").strip()
    return {
        "first_name": given[:100],
        "last_name": family[:100],
        "email": email if email and _valid_email(email) else "",
        "active": raw.get("Active") is not False,
    }


def user_fingerprint(user: hub.User) -> str:
    return hub.content_hash(user_from_employee(employee_from_user(user)))


def employee_fingerprint(raw: dict[str, Any]) -> str:
    return hub.content_hash(user_from_employee(raw))


def match_user_for_employee(raw: dict[str, Any], users: Mapping[str, hub.User]) -> str | None:
    """The hub id of the user an Employee is: same email (case-insensitive) first, then the
    same display name ("First Last"); None when neither matches."""
    email = str((raw.get("PrimaryEmailAddr") or {}).get("Address") or "").strip().casefold()
    if email:
        for hub_id, user in users.items():
            if user.email.casefold() == email:
                return hub_id
    name = display_name(str(raw.get("DisplayName") or "")).casefold()
    if name:
        for hub_id, user in users.items():
            if display_name(f"{user.first_name} {user.last_name}").casefold() == name:
                return hub_id
    return None
