"""Xero contacts <-> hub contacts. Creates go out with PUT and updates with POST, each one
call for up to 50 contacts with `summarizeErrors=false`.

Not one POST for both: a POSTed contact without ContactID whose Name is an active
contact's *updates that contact* (PROVIDERS.md 3.3, "POST with an existing name updates
that contact"), which would fold a new hub contact into a namesake and stamp our hub id on
it; PUT creates only, so a clash is the sync error `xero.duplicate_name` the firm can
resolve. The hub id goes into ContactNumber (an API-only external key), which is how a
create whose reply was lost is found again, whatever the contact's name is now.

Mapper facts (PROVIDERS.md 3.3; Xero-OpenAPI `xero_accounting.yaml` Contact, Phone,
Address):
- `Name` is the display name (unique among active contacts); `FirstName`/`LastName` name
  the primary person (of an organisation, or the person itself). Xero has no
  organisation/person flag: a contact whose Name is its first and last name is read as a
  person.
- One `EmailAddress`; `Phones` are one each of DEFAULT, DDI, MOBILE, FAX; `Addresses`
  are STREET (physical) and POBOX (mailing). Xero updates phones and addresses by type, so
  every type is sent, empty when the hub has none, to clear what the hub removed.
- `ContactStatus` ACTIVE|ARCHIVED|GDPRREQUEST; archiving is an update (POST).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field

from booksync.engine.seam import Change, Family, Page, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import Address, Contact, Email, Phone, content_hash
from booksync.hub.settings import CONTACT_TYPES, IMPORT_CONTACT_TYPE
from booksync.providers.xero.client import (
    CONTACTS_PAGE_SIZE,
    XeroClient,
    element_failure,
    one_second_before,
    parse_date,
)

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


# ----------------------------------------------------------------------- mapper


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


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _squash(value: str) -> str:
    return " ".join(value.lower().split())


# ----------------------------------------------------------------------- family


MAX_BATCH = 50  # Xero advises <= 50 elements per write (PROVIDERS.md 3.2)


def batch_idempotency_key(method: str, item_keys: list[str]) -> str:
    """One Xero Idempotency-Key (<= 128 chars) for a batch: a hash of its items' keys in
    order. Order matters: Xero replays the first answer, whose elements must line up
    with the items of the repeated call."""
    raw = "\n".join(["xero", "Contacts", method, *item_keys])
    return hashlib.sha256(raw.encode()).hexdigest()


def xero_view_hash(body: dict[str, Any]) -> str:
    """Hash of the hub content as Xero holds it once written (what a pull maps back), so
    our own write coming back from Xero is recognised as an echo."""
    return content_hash(contact_from_xero(body))


class XeroContacts:
    """Contacts changed since the cursor (archived ones included, as inactive). The cursor
    is Xero's own UpdatedDateUTC of the newest contact seen, less a second
    (If-Modified-Since is to the second and has gaps), never our clock."""

    name = "xero.contacts"
    topics = ("CONTACT",)  # the webhook events' eventCategory (Xero sends CONTACT, INVOICE)

    def __init__(self, families: Sequence[Family] = (), page_size: int = 1000) -> None:
        self.page_size = page_size

    def read(self, session: ProviderSession, cursor: str | None) -> Page:
        client = XeroClient(session, page_size=self.page_size)
        since = parse_date(cursor) if cursor else None
        latest = since
        changes: list[Change] = []
        for raw in client.contacts(modified_since=since, include_archived=True):
            stamp = parse_date(str(raw["UpdatedDateUTC"]))
            before = one_second_before(stamp)
            latest = before if latest is None or before > latest else latest
            changes.append(
                Change(
                    object_type="Contact",
                    provider_id=str(raw["ContactID"]),
                    provider_version=stamp.isoformat(),
                    raw=raw,
                    changed_at=stamp,
                )
            )
        return Page(changes, latest.isoformat() if latest else "")


class Contacts(Family):
    """Hub contacts <-> Xero contacts; the hub id goes into ContactNumber."""

    provider = "xero"
    kind = "contact"
    object_type = "Contact"
    max_batch = MAX_BATCH
    listing_page = CONTACTS_PAGE_SIZE
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
    settings = {
        "contact_types": CONTACT_TYPES,
        "import_contact_type": IMPORT_CONTACT_TYPE,
        "customers_only": (
            bool,
            Field(
                default=False,
                description="take in only Xero contacts that are customers (IsCustomer: "
                "they have had a sales invoice); the others are linked when they match a "
                "hub contact exactly, else listed by GET /v1/connections/xero/non-customers "
                "and added on request",
            ),
        ),
    }
    source = XeroContacts

    def takes_in(self, settings: dict[str, Any], raw: dict[str, Any]) -> bool:
        return not settings.get("customers_only") or bool(raw.get("IsCustomer"))

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return data.get("contact_type") in (settings.get("contact_types") or [])

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return contact_from_xero(raw)

    def intent(self, item: PushItem) -> dict[str, Any]:
        return {"contact_number": item.record.record_id}

    def unchanged_since(self, version: str | None, raw: dict[str, Any]) -> bool:
        """UpdatedDateUTC as the link keeps it (ISO from a sync, `/Date()/` from an import)."""
        try:
            return version is not None and parse_date(version) == parse_date(
                str(raw.get("UpdatedDateUTC"))
            )
        except ValueError:
            return False

    def hub_id_shown(self, raw: dict[str, Any]) -> str | None:
        return str(raw.get("ContactNumber") or "") or None

    def made_by(self, intent: dict[str, Any], raw: dict[str, Any]) -> bool:
        """The hub id goes into ContactNumber: a contact carrying it is that create's."""
        number = intent.get("contact_number")
        return bool(number) and raw.get("ContactNumber") == number

    def import_list(self, session: ProviderSession) -> list[dict[str, Any]]:
        """Every Xero contact, archived ones included (the importer's listing)."""
        return list(XeroClient(session).contacts(include_archived=True))

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        return self.import_list(session)

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        if len(items) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} contacts per push")
        client = XeroClient(session)
        results: list[Pushed | Exception | None] = [None] * len(items)
        ours = self._already_created(
            client, [item for item in items if item.link is None and item.attempted_before]
        )
        if isinstance(ours, SyncFailure):
            return [ours] * len(items)
        creates = [
            i
            for i, item in enumerate(items)
            if item.link is None and item.record.record_id not in ours
        ]
        updates = [i for i in range(len(items)) if i not in creates]
        adopted = {i: ours[items[i].record.record_id] for i in updates if items[i].link is None}
        for method, indexes, send in (
            ("PUT", creates, client.put_contacts),
            ("POST", updates, client.post_contacts),
        ):
            if indexes:
                self._send(method, [items[i] for i in indexes], send, indexes, results, adopted)
        return [r if r is not None else SyncFailure("internal.unexpected") for r in results]

    def _send(
        self,
        method: str,
        batch: list[PushItem],
        send: Callable[[list[dict[str, Any]], str], list[dict[str, Any]]],
        indexes: list[int],
        results: list[Pushed | Exception | None],
        adopted: dict[int, str],
    ) -> None:
        bodies: list[dict[str, Any]] = []
        for i, item in zip(indexes, batch, strict=True):
            body = xero_contact_from(_contact(item.content), item.record.record_id)
            contact_id = item.link.provider_id if item.link is not None else adopted.get(i)
            if contact_id is not None:
                body = {"ContactID": contact_id, **body}
            bodies.append(body)
        key = batch_idempotency_key(method, [item.idempotency_key for item in batch])
        try:
            answers = send(bodies, key)
        except SyncFailure as failure:  # the whole call: throttled, unavailable, ...
            for i in indexes:
                results[i] = failure
            return
        for i, item, body, answer in zip(indexes, batch, bodies, answers, strict=True):
            results[i] = self._result(item, body, answer)

    @staticmethod
    def _already_created(client: XeroClient, tried: list[PushItem]) -> dict[str, str] | SyncFailure:
        """Records whose create was sent before without its reply reaching a link (hub id
        -> ContactID): found by the hub id booksync writes into ContactNumber, whatever
        the record's name is now. Only those are looked for: a first create costs no
        look-up, and a retry never makes a second contact whatever its idempotency key."""
        if not tried:
            return {}
        wanted = {item.record.record_id for item in tried}
        try:
            found = client.contacts_numbered(sorted(wanted))
        except SyncFailure as failure:
            return failure
        return {
            str(c["ContactNumber"]): str(c["ContactID"])
            for c in found
            if str(c.get("ContactNumber")) in wanted
        }

    @staticmethod
    def _result(item: PushItem, body: dict[str, Any], answer: dict[str, Any]) -> Pushed | Exception:
        failure = element_failure(answer)
        if failure is not None:
            return failure
        hub_id = item.record.record_id
        if answer.get("ContactNumber") not in (None, hub_id) or not answer.get("ContactID"):
            return SyncFailure(
                "xero.unavailable", f"Xero's answer does not line up with contact {hub_id}"
            )
        stamp = answer.get("UpdatedDateUTC")
        return Pushed(
            hub_id=hub_id,
            provider_id=str(answer["ContactID"]),
            provider_version=parse_date(stamp).isoformat() if stamp else None,
            content_hash=xero_view_hash(body),
        )


def _contact(content: Any) -> Contact:
    return content if isinstance(content, Contact) else Contact.model_validate(content)


# ----------------------------------------------------------------------- pull
