"""Hub invoices -> Xero sales invoices (ACCREC), one way. Creates go out with PUT and
updates with POST carrying the InvoiceID (its lines replaced), up to 50 a call with
`summarizeErrors=false` and an Idempotency-Key, as contacts do (providers/xero/contacts.py).

The hub number is Xero's InvoiceNumber (unique among sales invoices: "Invoice # must be
unique."), which is how a create whose reply was lost is found again: by
`GET /Invoices?InvoiceNumbers=...`, among the invoices no link names.

Raw shape (PROVIDERS.md 3.3; Xero-OpenAPI `xero_accounting.yaml` Invoice, LineItem):
`{"Type":"ACCREC","Contact":{"ContactID"},"InvoiceNumber","Date":"YYYY-MM-DD","DueDate",
"CurrencyCode","LineAmountTypes":"Exclusive","Status":"AUTHORISED","LineItems":[{
"Description","Quantity","UnitAmount","ItemCode","AccountCode","TaxType"}]}`; Xero answers
with InvoiceID, UpdatedDateUTC, SubTotal/TotalTax/Total, AmountDue and AmountPaid.
- A line's tax is one TaxType; the hub's primary and secondary rate together ("GST+PST")
  map to one Xero rate with two components (`PUT /TaxRates` with TaxComponents), through
  the setting `tax_types` (or `tax_types_by_country`, by the contact's country).
- An AUTHORISED invoice without payments is edited in place; one with payments refuses
  changes to lines, contact, date or tax ("This document cannot be edited as it has a
  payment or credit note allocated to it."): `xero.invoice_paid`. So a new hub version
  that changes nothing Xero holds (a payment moving the hub's balance) is not sent.
- An invoice made from tracked time (`time_entry_ids`, engine/time_billing.py) goes at
  once as a DRAFT, with each line's Tracking by category and option name; issued in the
  hub it is AUTHORISED in place.
- Approving or editing an invoice dated on or before a lock date is refused
  (`xero.period_locked`, classified in client.py).
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field

from booksync.engine.seam import BillingGap, Family, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.invoices import ISSUED, Invoice, InvoiceLine
from booksync.hub.settings import Setting
from booksync.providers.xero.client import XeroClient, element_failure, parse_date
from booksync.providers.xero.contacts import Contacts
from booksync.store import links
from booksync.store import records as store

MAX_BATCH = 50  # Xero advises <= 50 elements per write (PROVIDERS.md 3.2)
DRAFTS = ("draft", "approved")  # in Xero as DRAFT: an invoice of billed tracked time
NO_TAX = "NONE"  # Xero's TaxType of an untaxed line ("No VAT" / "Tax Exempt")

INVOICE_SETTINGS: dict[str, Setting] = {
    "invoice_sync_start": (
        date | None,
        Field(default=None, description="invoices issued before this date never sync"),
    ),
    "work_type_items": (
        dict[str, str],
        Field(default_factory=dict, description="work type -> Xero item code"),
    ),
    "default_item_code": (
        str | None,
        Field(
            default=None,
            max_length=30,
            description="the Xero item code of lines whose work type has no item",
        ),
    ),
    "sales_account_code": (
        str,
        Field(default="200", min_length=1, max_length=10, description="Xero sales account"),
    ),
    "tax_types": (
        dict[str, str],
        Field(
            default_factory=dict,
            description='hub tax rate ("GST", or "GST+PST" for two together) -> Xero TaxType',
        ),
    ),
    "tax_types_by_country": (
        dict[str, dict[str, str]],
        Field(
            default_factory=dict,
            description="contact's country -> {hub tax rate -> Xero TaxType}; over tax_types",
        ),
    ),
}


def contact_wanted(settings: dict[str, Any], contact: dict[str, Any]) -> bool:
    """Does this connection send the contact to Xero (so its link is only a push away)?"""
    return bool(settings.get("sync_enabled", True)) and Contacts().wants(settings, contact)


# ----------------------------------------------------------------------- mapper


def number(value: Decimal) -> float:
    """A JSON number for Xero carrying exactly the Decimal's digits (the shortest repr of
    a float round-trips up to 15 significant digits, more than money here has)."""
    return float(value)


def tax_type_of(line: InvoiceLine, settings: dict[str, Any], country: str | None) -> str | None:
    """The Xero TaxType of a line (None: its hub rate is not mapped)."""
    key = line.tax_key
    if key is None:
        return NO_TAX
    by_country = settings.get("tax_types_by_country") or {}
    if country:
        for name, mapping in by_country.items():
            if name.strip().casefold() == country.strip().casefold() and key in mapping:
                return str(mapping[key])
    found = (settings.get("tax_types") or {}).get(key)
    return str(found) if found else None


def item_code_of(
    line: InvoiceLine, settings: dict[str, Any], by_name: dict[str, str] | None = None
) -> str | None:
    """The line's Xero item: the work type's mapping, else an item whose Code or Name is
    the work type (`by_name`: casefolded Code/Name -> Code), else the default item."""
    work = line.work_type
    mapped = (settings.get("work_type_items") or {}).get(work) if work else None
    if mapped:
        return str(mapped)
    if work and by_name and work.casefold() in by_name:
        return by_name[work.casefold()]
    default = settings.get("default_item_code")
    return str(default) if default else None


def xero_invoice_from(
    invoice: Invoice,
    contact_id: str,
    settings: dict[str, Any],
    country: str | None = None,
    items_by_name: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Xero Invoice body (no InvoiceID: the caller adds it). Raises the sync error
    `xero.tax_unmapped` for a line whose hub tax rate has no Xero TaxType."""
    account = str(settings.get("sales_account_code") or "200")
    lines: list[dict[str, Any]] = []
    for n, line in enumerate(invoice.lines):
        tax_type = tax_type_of(line, settings, country)
        if tax_type is None:
            where = f" for {country}" if country else ""
            raise SyncFailure(
                "xero.tax_unmapped",
                f"line {n + 1} ({line.description[:60]}): the tax rate {line.tax_key}{where} "
                "has no Xero TaxType in the connection's tax_types",
            )
        out: dict[str, Any] = {
            "Description": line.description,
            "Quantity": number(line.quantity),
            "UnitAmount": number(line.rate),
            "AccountCode": account,
            "TaxType": tax_type,
        }
        code = item_code_of(line, settings, items_by_name)
        if code:
            out["ItemCode"] = code
        if line.tracking:
            out["Tracking"] = [{"Name": k, "Option": v} for k, v in sorted(line.tracking.items())]
        lines.append(out)
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "InvoiceNumber": invoice.number,
        "Date": invoice.issue_date.isoformat(),
        # an AUTHORISED invoice needs a due date: the hub's, else the issue date
        "DueDate": (invoice.due_date or invoice.issue_date).isoformat(),
        "CurrencyCode": invoice.currency,
        "LineAmountTypes": "Exclusive",
        # billed tracked time goes as a draft until the firm issues it here
        "Status": "AUTHORISED" if invoice.status in ISSUED else "DRAFT",
        "LineItems": lines,
    }


def fingerprint(body: dict[str, Any]) -> str:
    """The hash of what was sent (InvoiceID aside): a new hub version that would send the
    same is not sent again."""
    return content_hash({k: v for k, v in body.items() if k != "InvoiceID"})


def batch_idempotency_key(method: str, item_keys: list[str]) -> str:
    raw = "\n".join(["xero", "Invoices", method, *item_keys])
    return hashlib.sha256(raw.encode()).hexdigest()


# ----------------------------------------------------------------------- family


class Invoices(Family):
    """Hub invoices -> Xero ACCREC invoices, once sent, posted or paid in the hub."""

    provider = "xero"
    kind = "invoice"
    object_type = "Invoice"
    max_batch = MAX_BATCH
    managed_fields = ()
    settings = INVOICE_SETTINGS

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        drafted = bool(data.get("time_entry_ids")) and data.get("status") in DRAFTS
        if data.get("status") not in (*ISSUED, "void") and not drafted:
            return False
        start = settings.get("invoice_sync_start")
        return start is None or str(data.get("issue_date") or "") >= str(start)

    def retired(self, data: dict[str, Any]) -> bool:
        return data.get("status") == "void"  # never sent if never copied; else VOIDED

    def intent(self, item: PushItem) -> dict[str, Any]:
        return {"number": _invoice(item.content).number}

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        """Creates (PUT) and updates (POST) of ACCREC invoices; an invoice voided or
        deleted in the hub is VOIDED in Xero (AUTHORISED is all booksync sends)."""
        if len(items) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} invoices per push")
        settings = session.settings
        client = XeroClient(session)
        results: list[Pushed | Exception | None] = [None] * len(items)
        try:
            bodies = self._bodies(session, client, settings, items, results)
            found = self._already_created(
                session,
                client,
                [i for i, item in enumerate(items) if item.link is None and item.attempted_before],
                items,
            )
        except SyncFailure as failure:  # a read failed: the whole call
            return [failure] * len(items)
        creates: list[int] = []
        updates: list[int] = []
        for i, item in enumerate(items):
            body = bodies.get(i)
            if body is None:
                continue
            invoice_id = item.link.provider_id if item.link is not None else found.get(i)
            if invoice_id is None:
                creates.append(i)
                continue
            if item.link is not None and item.link.content_hash == fingerprint(body):
                # nothing Xero holds changed (a payment moved the hub's balance)
                results[i] = Pushed(
                    item.record.record_id,
                    invoice_id,
                    item.link.provider_version,
                    fingerprint(body),
                )
                continue
            bodies[i] = {"InvoiceID": invoice_id, **body}
            updates.append(i)
        for method, indexes in (("PUT", creates), ("POST", updates)):
            if indexes:
                self._send(client, method, items, bodies, indexes, results)
        return [r if r is not None else SyncFailure("internal.unexpected") for r in results]

    def _bodies(
        self,
        session: ProviderSession,
        client: XeroClient,
        settings: dict[str, Any],
        items: list[PushItem],
        results: list[Pushed | Exception | None],
    ) -> dict[int, dict[str, Any]]:
        """Each item's Xero body; a failure in `results` for those that cannot go."""
        invoices = [_invoice(item.content) for item in items]
        contact_ids = sorted({inv.contact_id for inv in invoices})
        contacts = store.get_many(session.tenant_id, [("contact", c) for c in contact_ids])
        linked = links.get_links(session.tenant_id, "xero", "contact", contact_ids)
        unmapped = {
            line.work_type
            for inv in invoices
            for line in inv.lines
            if line.work_type and line.work_type not in (settings.get("work_type_items") or {})
        }
        by_name: dict[str, str] = {}
        if unmapped:  # items named as the work type (read once per session: an invocation)
            if "xero.items" not in session.memo:
                for item in client.listed("Items"):
                    code = str(item.get("Code") or "")
                    for key in (item.get("Name"), code):
                        if key and code:
                            by_name.setdefault(str(key).casefold(), code)
                session.memo["xero.items"] = by_name
            by_name = session.memo["xero.items"]
        bodies: dict[int, dict[str, Any]] = {}
        for i, inv in enumerate(invoices):
            if items[i].record.deleted or self.retired(items[i].record.data or {}):
                # the engine sends these only with a link: an update of the status alone
                # (a draft is DELETED in Xero: only an AUTHORISED invoice can be VOIDED)
                gone = "DELETED" if inv.status in DRAFTS else "VOIDED"
                bodies[i] = {"InvoiceNumber": inv.number, "Status": gone}
                continue
            contact = contacts.get(f"contact#{inv.contact_id}")
            data = dict(contact.data or {}) if contact is not None else {}
            link = linked.get(inv.contact_id)
            if link is None:
                results[i] = _contact_missing(session.settings, inv, data)
                continue
            try:
                bodies[i] = xero_invoice_from(
                    inv, link.provider_id, settings, _country_of(data), by_name
                )
            except SyncFailure as failure:
                results[i] = failure
        return bodies

    @staticmethod
    def _already_created(
        session: ProviderSession, client: XeroClient, tried: list[int], items: list[PushItem]
    ) -> dict[int, str]:
        """Creates sent before whose reply never reached a link: index -> InvoiceID of the
        sales invoice holding a number one of its tries wrote, that no link names."""
        if not tried:
            return {}
        numbers: dict[str, int] = {}
        for i in tried:
            for intent in items[i].sent_before:
                if intent.get("number"):
                    numbers.setdefault(str(intent["number"]), i)
            numbers.setdefault(_invoice(items[i].content).number, i)
        found = [
            inv
            for inv in client.invoices_numbered(sorted(numbers))
            if inv.get("Type") == "ACCREC" and inv.get("Status") not in ("DELETED", "VOIDED")
        ]
        taken = links.by_provider_ids(
            session.tenant_id, "xero", [("Invoice", str(inv["InvoiceID"])) for inv in found]
        )
        ours: dict[int, str] = {}
        for inv in found:
            index = numbers.get(str(inv.get("InvoiceNumber")))
            if index is not None and ("Invoice", str(inv["InvoiceID"])) not in taken:
                ours.setdefault(index, str(inv["InvoiceID"]))
        return ours

    @staticmethod
    def _send(
        client: XeroClient,
        method: str,
        items: list[PushItem],
        bodies: dict[int, dict[str, Any]],
        indexes: list[int],
        results: list[Pushed | Exception | None],
    ) -> None:
        sent = [bodies[i] for i in indexes]
        key = batch_idempotency_key(method, [items[i].idempotency_key for i in indexes])
        try:
            answers = client.write_elements(method, "Invoices", sent, key)
        except SyncFailure as failed:
            for i in indexes:
                results[i] = failed
            return
        for i, body, answer in zip(indexes, sent, answers, strict=True):
            refused = element_failure(answer)
            hub_id = items[i].record.record_id
            if refused is not None:
                results[i] = refused
            elif answer.get("InvoiceNumber") != body["InvoiceNumber"] or not answer.get(
                "InvoiceID"
            ):
                results[i] = SyncFailure(
                    "xero.unavailable", f"Xero's answer does not line up with invoice {hub_id}"
                )
            else:
                stamp = answer.get("UpdatedDateUTC")
                results[i] = Pushed(
                    hub_id=hub_id,
                    provider_id=str(answer["InvoiceID"]),
                    provider_version=parse_date(str(stamp)).isoformat() if stamp else None,
                    content_hash=fingerprint(body),
                )

    def billing_gaps(
        self, session: ProviderSession, work_types: set[str], tax_rates: set[str]
    ) -> list[BillingGap]:
        settings = session.settings
        client = XeroClient(session)
        items = list(client.listed("Items"))
        rates = [r for r in client.listed("TaxRates") if r.get("Status", "ACTIVE") == "ACTIVE"]
        accounts = [a for a in client.listed("Accounts") if a.get("Status", "ACTIVE") == "ACTIVE"]
        return billing_gaps_of(settings, work_types, tax_rates, items, rates, accounts)


def billing_gaps_of(
    settings: dict[str, Any],
    work_types: set[str],
    tax_rates: set[str],
    items: list[dict[str, Any]],
    rates: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
) -> list[BillingGap]:
    """What is missing, from Xero's Items, TaxRates and Accounts (pure)."""
    gaps: list[BillingGap] = []
    codes = {str(i.get("Code")) for i in items if i.get("Code")}
    names = {str(k).casefold() for i in items for k in (i.get("Code"), i.get("Name")) if k}
    item_choices = ", ".join(sorted(codes)) or "none yet"
    mapping = settings.get("work_type_items") or {}
    default = settings.get("default_item_code")
    if default and default not in codes:
        gaps.append(
            BillingGap(
                "work_type",
                "default_item_code",
                f"Xero has no item with the code {default}",
                f"Set default_item_code to one of Xero's item codes: {item_choices}",
            )
        )
    for work in sorted(work_types):
        code = mapping.get(work)
        if code and code in codes:
            continue
        if code:
            detail = f"the item code {code} it is mapped to is not in Xero"
        elif work.casefold() in names or (default and default in codes):
            continue
        else:
            detail = "no Xero item has this code or name, and no default item is set"
        gaps.append(
            BillingGap(
                "work_type",
                work,
                detail,
                f"Map it in work_type_items (or set default_item_code) to one of Xero's item "
                f"codes: {item_choices}; or add an item coded or named '{work}' in Xero",
            )
        )
    types = {str(r.get("TaxType")): str(r.get("Name") or "") for r in rates}
    rate_choices = ", ".join(f"{t} ({n})" for t, n in sorted(types.items())) or "none"
    plain = settings.get("tax_types") or {}
    for key in sorted(tax_rates - {"none"}):  # untaxed lines go as NONE
        wanted = [plain.get(key)] + [
            m.get(key) for m in (settings.get("tax_types_by_country") or {}).values()
        ]
        if plain.get(key) is None:
            detail = "no Xero TaxType is mapped to it"
        elif any(t and t not in types for t in wanted):
            bad = sorted({str(t) for t in wanted if t and t not in types})
            detail = f"mapped to {', '.join(bad)}, which Xero has not (or not active)"
        else:
            continue
        combined = (
            " (a combined rate: make one Xero rate with both components)" if ("+" in key) else ""
        )
        gaps.append(
            BillingGap(
                "tax_rate",
                key,
                detail,
                f"Map it in tax_types to one of Xero's tax rates{combined}: {rate_choices}",
            )
        )
    sales = str(settings.get("sales_account_code") or "")
    revenue = {
        str(a.get("Code")): str(a.get("Name") or "")
        for a in accounts
        if a.get("Code")
        and a.get("Class") in (None, "REVENUE")
        and a.get("Type") in ("SALES", "REVENUE", "OTHERINCOME")
    }
    if sales not in revenue:
        choices = ", ".join(f"{c} ({n})" for c, n in sorted(revenue.items())) or "none"
        gaps.append(
            BillingGap(
                "income_account",
                "sales_account_code",
                f"Xero has no active sales account with the code {sales or '(none set)'}",
                f"Set sales_account_code to one of Xero's revenue accounts: {choices}",
            )
        )
    bank = {
        str(a.get("Code")): str(a.get("Name") or "")
        for a in accounts
        if a.get("Code") and (a.get("Type") == "BANK" or a.get("EnablePaymentsToAccount"))
    }
    paid_into = settings.get("payment_account_code")
    if paid_into not in bank:
        choices = ", ".join(f"{c} ({n})" for c, n in sorted(bank.items())) or "none"
        gaps.append(
            BillingGap(
                "payment_account",
                "payment_account_code",
                f"Xero has no bank or payments-enabled account {paid_into or '(none set)'}",
                f"Set payment_account_code to the account payments go into: {choices}",
            )
        )
    return gaps


def _contact_missing(settings: dict[str, Any], invoice: Invoice, contact: dict[str, Any]) -> Any:
    name = contact.get("name") or invoice.contact_id
    if contact and contact_wanted(settings, contact):
        return SyncFailure(
            "xero.waiting_for_parent",
            f"the contact {name} is not in Xero yet; the invoice follows it",
            retry_after=30,
        )
    return SyncFailure(
        "xero.contact_not_in_xero",
        f"the contact {name} (type {contact.get('contact_type') or 'unknown'}) is not sent "
        "to Xero by this connection",
    )


def _country_of(contact: dict[str, Any]) -> str | None:
    for field in ("physical_address", "mailing_address"):
        address = contact.get(field) or {}
        if address.get("country"):
            return str(address["country"])
    return None


def _invoice(content: Any) -> Invoice:
    return content if isinstance(content, Invoice) else Invoice.model_validate(content)
