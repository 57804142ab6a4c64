"""QBO customers <-> hub contacts (a child contact is a sub-customer of its parent).

Raw shape: PROVIDERS.md 1.3 Customer. DisplayName is unique across customers, vendors
and employees (6240), which is how a create whose reply was lost is found again. Pulled
through CDC (changes.py); unlinked customers are imported (link, review or create).
"""

from __future__ import annotations

from typing import Any

from booksync.engine.seam import ProviderSession, PushItem
from booksync.hub import content as hub
from booksync.hub.settings import CONTACT_TYPES, IMPORT_CONTACT_TYPE
from booksync.providers.qbo.changes import QboChanges
from booksync.providers.qbo.mapping import (
    PHONE_FIELDS,
    addr_from_qbo,
    addr_to_qbo,
    display_name,
    primary_email,
    valid_email,
)
from booksync.providers.qbo.namelist import NameListFamily, list_all, parent_id

# ----------------------------------------------------------------------- mapper


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
    email = primary_email(contact.emails)
    if email:
        body["PrimaryEmailAddr"] = {"Address": email}
    for label, field in PHONE_FIELDS:
        number = next((p.number for p in contact.phones if p.label == label), None)
        if number:
            body[field] = {"FreeFormNumber": number}
    billing = contact.mailing_address or contact.physical_address
    if billing is not None:
        body["BillAddr"] = addr_to_qbo(billing)
    if contact.physical_address is not None:
        body["ShipAddr"] = addr_to_qbo(contact.physical_address)
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
    if address and valid_email(address):
        emails.append({"address": address, "label": "primary"})
    phones = []
    for label, field in PHONE_FIELDS:
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
            "physical_address": addr_from_qbo(raw.get("ShipAddr")),
            "mailing_address": addr_from_qbo(raw.get("BillAddr")),
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


# ----------------------------------------------------------------------- family


def _contact(content: Any) -> hub.Contact:
    return content if isinstance(content, hub.Contact) else hub.Contact.model_validate(content)


class Customers(NameListFamily):
    kind = "contact"
    object_type = "Customer"
    entity = "Customer"
    managed_fields = (
        "name",
        "kind",
        "first_name",
        "last_name",
        "emails",
        "phones",
        "physical_address",
        "mailing_address",
        "active",
    )
    adopts = True
    settings = {"contact_types": CONTACT_TYPES, "import_contact_type": IMPORT_CONTACT_TYPE}
    source = QboChanges

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return data.get("contact_type") in (settings.get("contact_types") or [])

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str], context: Any = None
    ) -> tuple[dict[str, Any], str]:
        contact = _contact(item.content)
        parent = (
            parent_id(session, "contact", contact.parent_id, pushed) if contact.parent_id else None
        )
        return customer_from_contact(contact, parent), contact_fingerprint(contact)

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        return customer_fingerprint(raw)

    def intent(self, item: PushItem) -> dict[str, Any]:
        return {"name": display_name(_contact(item.content).name)}

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return contact_from_customer(raw)

    def import_list(self, session: ProviderSession) -> list[dict[str, Any]]:
        """Every customer, active and inactive (the importer's listing)."""
        return list_all(session, self.entity)

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        """Customers and sub-customers (jobs linked to work items are set aside by drift)."""
        return self.import_list(session)
