"""Pieces every QBO mapper shares: names, addresses, emails, phones (pure functions).

Each family's own mapper is in its file (customers.py, jobs.py, employees.py). What a
family compares to decide "changed?" is the hub shape QBO can carry back: a record sent
through its `to` mapper and read back through its `from` mapper; its fingerprint hashes
exactly that, so the hash of what we sent equals that of an unchanged object pulled
later (an echo).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from booksync.hub import content as hub

# QBO builds FullyQualifiedName as Parent:Child, so names cannot hold a colon
# (PROVIDERS.md 1.3 Item; the simulator answers 2170 for a DisplayName with one).
NAME_COLON_REPLACEMENT = "-"

PHONE_FIELDS = (
    ("primary", "PrimaryPhone"),
    ("mobile", "Mobile"),
    ("fax", "Fax"),
    ("other", "AlternatePhone"),
)


def display_name(name: str) -> str:
    """A hub name as a QBO DisplayName: no colon, no control characters, trimmed."""
    cleaned = "".join(ch for ch in name if ord(ch) >= 32)
    return cleaned.replace(":", NAME_COLON_REPLACEMENT).strip()


def addr_to_qbo(address: hub.Address) -> dict[str, str]:
    pairs = {
        "Line1": address.line1,
        "Line2": address.line2,
        "City": address.city,
        "CountrySubDivisionCode": address.region,
        "PostalCode": address.postal_code,
        "Country": address.country,
    }
    return {k: v for k, v in pairs.items() if v}


def addr_from_qbo(raw: Any) -> dict[str, str] | None:
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


def primary_email(emails: list[hub.Email]) -> str | None:
    for email in emails:
        if email.label == "primary":
            return email.address
    return emails[0].address if emails else None


def valid_email(address: str) -> bool:
    try:
        hub.Email(address=address)
    except ValidationError:
        return False
    return True
