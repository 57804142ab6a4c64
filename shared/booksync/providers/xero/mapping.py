"""Pure mappers between hub content and Xero's shapes: contacts both ways, Payroll UK
employees to hub users. No HTTP here; tested with recorded bodies.

Xero facts used (PROVIDERS.md 3.3; Xero-OpenAPI `xero_accounting.yaml` Contact, Phone,
Address; `xero-payroll-uk.yaml` Employee):
- `Name` is the display name (unique among active contacts); `FirstName`/`LastName` name
  the primary person (of an organisation, or the person itself). Xero has no
  organisation/person flag: a contact whose Name is its first and last name is read as a
  person.
- One `EmailAddress`; `Phones` are one each of DEFAULT, DDI, MOBILE, FAX; `Addresses`
  are STREET (physical) and POBOX (mailing). Xero updates phones and addresses by type, so
  every type is sent, empty when the hub has none, to clear what the hub removed.
- `ContactNumber` is an API-only external key (<= 50): booksync puts the hub id there.
- `ContactStatus` ACTIVE|ARCHIVED|GDPRREQUEST; archiving is an update (POST).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from booksync.hub.content import Address, Contact, Email, Phone, User

PhoneLabel = Literal["primary", "mobile", "fax", "other"]
PHONE_TYPES: dict[PhoneLabel, str] = {
    "primary": "DEFAULT",
    "mobile": "MOBILE",
    "fax": "FAX",
    "other": "DDI",
}
PHONE_LABELS: dict[str, PhoneLabel] = {v: k for k, v in PHONE_TYPES.items()}
_ADDRESS_FIELDS = (
    ("line1", "AddressLine1"),
    ("line2", "AddressLine2"),
    ("city", "City"),
    ("region", "Region"),
    ("postal_code", "PostalCode"),
    ("country", "Country"),
)
ADDRESS_TYPES = (("physical_address", "STREET"), ("mailing_address", "POBOX"))


# --------------------------------------------------------------------- hub -> Xero


def xero_contact_from(contact: Contact, hub_id: str) -> dict[str, Any]:
    """The Xero Contact body for a hub contact (no ContactID: the caller adds it)."""
    phones: dict[str, str] = {}
    for phone in contact.phones:
        phones.setdefault(PHONE_TYPES[phone.label], phone.number)
    return {
        "Name": contact.name,
        "FirstName": contact.first_name,
        "LastName": contact.last_name,
        "EmailAddress": contact.primary_email or "",
        "ContactNumber": hub_id,
        "ContactStatus": "ACTIVE" if contact.active else "ARCHIVED",
        "Phones": [
            {"PhoneType": kind, "PhoneNumber": phones.get(kind, "")}
            for kind in ("DEFAULT", "DDI", "MOBILE", "FAX")
        ],
        "Addresses": [_xero_address(getattr(contact, attr), kind) for attr, kind in ADDRESS_TYPES],
    }


def _xero_address(address: Address | None, kind: str) -> dict[str, str]:
    out = {"AddressType": kind}
    for ours, theirs in _ADDRESS_FIELDS:
        out[theirs] = getattr(address, ours) if address is not None else ""
    return out


# --------------------------------------------------------------------- Xero -> hub


def contact_from_xero(raw: dict[str, Any]) -> dict[str, Any]:
    """A hub Contact dump from a Xero contact, without `contact_type` and `parent_id`
    (Xero has neither: the caller decides them). Archived (or GDPR-erased) is inactive."""
    name = _text(raw.get("Name"))
    first = _text(raw.get("FirstName"))
    last = _text(raw.get("LastName"))
    person = bool(first or last) and _squash(name) == _squash(f"{first} {last}")
    email = _text(raw.get("EmailAddress"))
    phones: list[Phone] = []
    for phone in raw.get("Phones") or []:
        number = " ".join(
            part
            for part in (
                _text(phone.get("PhoneCountryCode")),
                _text(phone.get("PhoneAreaCode")),
                _text(phone.get("PhoneNumber")),
            )
            if part
        )
        label = PHONE_LABELS.get(_text(phone.get("PhoneType")).upper())
        if number and label:
            phones.append(Phone(number=number[:40], label=label))
    addresses = {kind: a for a in raw.get("Addresses") or [] if (kind := a.get("AddressType"))}
    content = Contact(
        kind="person" if person else "organisation",
        name=name,
        first_name=first,
        last_name=last,
        emails=[Email(address=email)] if email else [],
        phones=phones,
        physical_address=_hub_address(addresses.get("STREET")),
        mailing_address=_hub_address(addresses.get("POBOX")),
        active=_text(raw.get("ContactStatus") or "ACTIVE").upper() == "ACTIVE",
    )
    return content.model_dump(mode="json", exclude={"contact_type", "parent_id"})


def _hub_address(raw: dict[str, Any] | None) -> Address | None:
    if not raw:
        return None
    values = {ours: _text(raw.get(theirs)) for ours, theirs in _ADDRESS_FIELDS}
    extra = [_text(raw.get(k)) for k in ("AddressLine3", "AddressLine4")]
    values["line2"] = ", ".join(p for p in [values["line2"], *extra] if p)
    if not any(values.values()):
        return None
    return Address(**values)


def user_from_payroll_employee(raw: dict[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """A hub User dump from a Payroll UK employee. An employee whose `endDate` has passed
    has left: inactive. Raises pydantic.ValidationError when the employee cannot be a hub
    user (no email: booksync matches users on first name, last name and email)."""
    today = today or datetime.now(UTC).date()
    end = _text(raw.get("endDate"))
    left = bool(end) and date.fromisoformat(end[:10]) < today
    user = User(
        first_name=_text(raw.get("firstName")),
        last_name=_text(raw.get("lastName")),
        email=_text(raw.get("email")),
        active=not left,
    )
    return user.model_dump(mode="json", exclude={"task_types", "roles"})


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _squash(value: str) -> str:
    return " ".join(value.lower().split())
