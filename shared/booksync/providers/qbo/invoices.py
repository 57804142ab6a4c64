"""QBO invoices <- hub invoices: one way, updated in place, never doubled.

Raw shape (PROVIDERS.md 1.3 Invoice): `CustomerRef`, `DocNumber`, `TxnDate`, `DueDate`,
`BillEmail{Address}`, `Line[]` of `SalesItemLineDetail{ItemRef, Qty, UnitPrice,
TaxCodeRef}` with `Amount` = Qty x UnitPrice (6070); QBO adds a SubTotal line. US
companies tax the whole invoice with one `TxnTaxDetail.TxnTaxCodeRef` and mark lines
`TAX`/`NON`; other companies take a TaxCode per line (the simulator's README: US lines
other than TAX/NON are 6100).

- Which invoices: sent, posted or paid ones dated on or after the connection's
  `invoice_sync_start`; an approved one when the firm copies it (an explicit message,
  api/billing_routes.py).
- Services: a line's work type goes to the QBO Item the firm mapped (`work_type_services`),
  else the Service item of exactly that name, else one created with the
  `default_income_account`, else the `default_service`; none of those: a sync error.
- Tax: a line's hub rate ("GST", or "GST+PST" for a primary and a secondary tax together)
  to a TaxCode Id by `tax_codes`, or by `tax_codes_by_country` for a contact in another
  country. A US invoice whose lines carry different rates is refused before any call.
- Never doubled: a single create carries the record's idempotency key as `requestid`; a
  create whose reply was lost is found again by the DocNumber it wrote for the same
  customer (QBO may accept a duplicate DocNumber: the simulator's `duplicate_docnumber`
  mode), among invoices no link names. Edited and sent again, the invoice is updated in
  place with its SyncToken, every line sent (a sparse update replaces the line list:
  simulator mode `invoice_sparse_lines`); a payment in QBO moves the SyncToken, and the
  5010 it causes is re-read and retried once (namelist.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field

from booksync.engine.seam import BillingGap, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.invoices import ISSUED, Invoice, InvoiceLine
from booksync.providers.qbo.client import QboClient, quote
from booksync.providers.qbo.mapping import display_name
from booksync.providers.qbo.namelist import NameListFamily, Planned, ref
from booksync.store import leases, links
from booksync.store import records as hub_records

EMAIL_REQUEST_SECONDS = 14 * 24 * 3600  # a "send via QBO" waits this long for its copy
UNTAXED = "none"  # the tax mapping's key for lines without a tax rate (non-US companies)

# ----------------------------------------------------------------------- mapper


def number(value: Any) -> str:
    """A QBO number as text that compares equal however it was written (360.0, "360.00")."""
    return f"{Decimal(str(value or 0)).normalize():f}"


def invoice_body(
    invoice: Invoice,
    customer_id: str,
    items: list[str],
    tax_codes: list[str | None],
    *,
    us: bool,
) -> dict[str, Any]:
    """An Invoice body (no Id/SyncToken): `items` and `tax_codes` per line, already
    resolved to QBO ids (for a US company the one code goes on the transaction)."""
    lines: list[dict[str, Any]] = []
    for line, item, code in zip(invoice.lines, items, tax_codes, strict=True):
        detail: dict[str, Any] = {
            "ItemRef": {"value": item},
            "Qty": float(line.quantity),
            "UnitPrice": float(line.rate),
        }
        if us:
            detail["TaxCodeRef"] = {"value": "TAX" if line.tax_key else "NON"}
        elif code is not None:
            detail["TaxCodeRef"] = {"value": code}
        lines.append(
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": float(line.amount or 0),
                "Description": line.description,
                "SalesItemLineDetail": detail,
            }
        )
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer_id},
        "DocNumber": invoice.number,
        "TxnDate": invoice.issue_date.isoformat(),
        "Line": lines,
    }
    if invoice.due_date is not None:
        body["DueDate"] = invoice.due_date.isoformat()
    if invoice.billing_email:
        body["BillEmail"] = {"Address": invoice.billing_email}
    us_code = next((c for c in tax_codes if c), None)
    if us and us_code:
        body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": us_code}}
    return body


def sent_fingerprint(body: dict[str, Any]) -> str:
    """What the link remembers of an invoice as sent, due date and billing email included:
    an edit of either changes it, so it goes out."""
    return content_hash(
        {
            "core": invoice_fingerprint(body),
            "due": str(body.get("DueDate") or ""),
            "email": str((body.get("BillEmail") or {}).get("Address") or ""),
        }
    )


def invoice_fingerprint(raw: dict[str, Any]) -> str:
    """What identifies the invoice's content as QBO holds it (our body or QBO's answer).
    Not the due date or the billing email: QBO fills them in when they are not sent (the
    customer's terms, its address), so our body and QBO's answer would never agree on
    them (`sent_fingerprint` keeps them for the link)."""
    lines = [
        {
            "item": ref(line.get("SalesItemLineDetail") or {}, "ItemRef"),
            "qty": number((line.get("SalesItemLineDetail") or {}).get("Qty")),
            "price": number((line.get("SalesItemLineDetail") or {}).get("UnitPrice")),
            "amount": number(line.get("Amount")),
            "description": str(line.get("Description") or ""),
            "tax": ref(line.get("SalesItemLineDetail") or {}, "TaxCodeRef"),
        }
        for line in raw.get("Line") or []
        if line.get("DetailType") == "SalesItemLineDetail"
    ]
    return content_hash(
        {
            "customer": ref(raw, "CustomerRef"),
            "number": str(raw.get("DocNumber") or ""),
            "date": str(raw.get("TxnDate") or ""),
            "tax": ref(raw.get("TxnTaxDetail") or {}, "TxnTaxCodeRef"),
            "lines": lines,
        }
    )


def _invoice(content: Any) -> Invoice:
    return content if isinstance(content, Invoice) else Invoice.model_validate(content)


# ----------------------------------------------------------------------- family


class Invoices(NameListFamily):
    kind = "invoice"
    object_type = "Invoice"
    entity = "Invoice"
    deletes = True  # voided (or deleted) in the hub: voided in QBO, number and history kept
    removal = "void"
    settings = {
        "invoice_sync_start": (
            date | None,
            Field(default=None, description="invoices dated before this never sync"),
        ),
        "default_service": (
            str | None,
            Field(default=None, description="QBO Item Id for work types with no service"),
        ),
        "default_income_account": (
            str | None,
            Field(
                default=None,
                description="QBO Account Id of the income account a missing service is "
                "created with (none: missing services are not created)",
            ),
        ),
        "tax_codes": (
            dict[str, str],
            Field(
                default_factory=dict,
                description='hub tax rate ("GST", "GST+PST"; "none" for untaxed lines) -> '
                "QBO TaxCode Id",
            ),
        ),
        "tax_codes_by_country": (
            dict[str, dict[str, str]],
            Field(
                default_factory=dict,
                description="contact's country -> its own tax rate -> TaxCode Id mapping",
            ),
        ),
    }

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        start = settings.get("invoice_sync_start")
        return data.get("status") in (*ISSUED, "void") and (
            not start or str(data.get("issue_date") or "") >= str(start)
        )

    def retired(self, data: dict[str, Any]) -> bool:
        return data.get("status") == "void"  # never sent if never copied; else voided

    def intent(self, item: PushItem) -> dict[str, Any]:
        return {"number": _invoice(item.content).number}

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        """Create or update in batches (namelist.py); then e-mail those the firm sent via
        QBO (a request noted by api/billing_routes.py). An e-mail that fails fails the
        item: retried, the invoice is found by its link or DocNumber, never made twice."""
        results = super().push(session, items)
        done = {
            item.record.record_id: result.provider_id
            for item, result in zip(items, results, strict=True)
            if isinstance(result, Pushed)
        }
        failed = email_pending(session, done) if done else {}
        return [
            failed.get(item.record.record_id, result)
            for item, result in zip(items, results, strict=True)
        ]

    def read_context(self, session: ProviderSession, items: list[PushItem]) -> _Billing:
        return _Billing.read(session, [_invoice(i.content) for i in items])

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str], context: Any = None
    ) -> tuple[dict[str, Any], str]:
        invoice = _invoice(item.content)
        billing = context if isinstance(context, _Billing) else _Billing.read(session, [invoice])
        customer = billing.customers.get(invoice.contact_id)
        if customer is None:
            raise SyncFailure(
                "qbo.customer_not_in_qbo",
                f"contact {invoice.contact_id} of invoice {invoice.number} has no QuickBooks "
                "customer yet",
            )
        codes = [billing.tax_code(line, invoice.contact_id) for line in invoice.lines]
        if billing.us and len({line.tax_key for line in invoice.lines if line.tax_key}) > 1:
            rates = sorted({str(line.tax_key) for line in invoice.lines if line.tax_key})
            raise SyncFailure(
                "qbo.us_several_tax_rates",
                f"invoice {invoice.number} has lines taxed at {', '.join(rates)}",
            )
        items = [billing.item_for(line) for line in invoice.lines]
        body = invoice_body(invoice, customer, items, codes, us=billing.us)
        return body, sent_fingerprint(body)

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        return sent_fingerprint(raw)

    def holds(self, obj: dict[str, Any], p: Planned) -> bool:
        # what we sent, as QBO answers it (QBO adds its own due date and billing email)
        return invoice_fingerprint(obj) == invoice_fingerprint(p.body)

    def find_created(self, client: QboClient, tried: list[Planned]) -> None:
        """By the DocNumber each try wrote, for the same customer, among invoices no link
        names: one query for all of them."""
        numbers = sorted({str(s.get("number")) for p in tried for s in p.item.sent_before})
        if not numbers:
            return
        where = f"DocNumber IN ({', '.join(quote(n) for n in numbers)})"
        mine = [p.item.record.record_id for p in tried]
        rows = self.unlinked(client, client.query(self.entity, where), mine)
        for p in tried:
            wanted = {str(s.get("number")) for s in p.item.sent_before}
            row = next(
                (
                    r
                    for r in rows
                    if str(r.get("DocNumber")) in wanted
                    and ref(r, "CustomerRef") == ref(p.body, "CustomerRef")
                ),
                None,
            )
            if row is not None:
                p.target = row
                rows.remove(row)

    def billing_gaps(
        self, session: ProviderSession, work_types: set[str], tax_rates: set[str]
    ) -> list[BillingGap]:
        """Work types no service takes (mapping, same-named Service item, creation with the
        default income account, or the default service), hub tax rates with no TaxCode,
        settings that name no active QBO object."""
        client = QboClient(session)
        settings = session.settings
        items = client.query("Item", "Active = true")
        by_name = {str(i.get("Name")): str(i["Id"]) for i in items if i.get("Type") == "Service"}
        item_ids = {str(i["Id"]) for i in items}
        accounts = client.query("Account", "Active = true")
        income = {str(a["Id"]): str(a.get("Name")) for a in accounts if _is_income(a)}
        codes = {str(c["Id"]): str(c.get("Name")) for c in client.query("TaxCode")}
        mapped = settings.get("work_type_services") or {}
        default_service = settings.get("default_service")
        income_account = settings.get("default_income_account")
        gaps: list[BillingGap] = []
        choose_account = ", ".join(f"{k} ({v})" for k, v in sorted(income.items())[:20])
        if income_account and income_account not in income:
            gaps.append(
                BillingGap(
                    "income_account",
                    str(income_account),
                    f"default_income_account {income_account} is not an active income account",
                    f"Set default_income_account to one of: {choose_account}",
                )
            )
        if default_service and default_service not in item_ids:
            gaps.append(
                BillingGap(
                    "service",
                    str(default_service),
                    f"default_service {default_service} is not an active QuickBooks item",
                    "Set default_service to the Id of an active Service item",
                )
            )
        can_create = bool(income_account and income_account in income)
        for work_type in sorted(work_types):
            if work_type in mapped or work_type in by_name:
                continue
            if can_create or (default_service and default_service in item_ids):
                continue
            gaps.append(
                BillingGap(
                    "work_type",
                    work_type,
                    f"no QuickBooks service for the work type {work_type!r}",
                    "Map it in work_type_services, name a Service item exactly so, set a "
                    "default_service, or set default_income_account so booksync creates it"
                    + (f" (income accounts: {choose_account})" if choose_account else ""),
                )
            )
        table = settings.get("tax_codes") or {}
        choose_code = ", ".join(f"{k} ({v})" for k, v in sorted(codes.items())[:20])
        # a US company marks untaxed lines NON itself; others need a code for them too
        for rate in sorted(tax_rates - ({UNTAXED} if _is_us(client) else set())):
            if rate not in table or str(table[rate]) not in codes:
                gaps.append(
                    BillingGap(
                        "tax_rate",
                        rate,
                        f"the hub's tax rate {rate!r} maps to no QuickBooks tax code",
                        f"Add {rate!r} to tax_codes with one of: {choose_code}",
                    )
                )
        return gaps


def _is_income(account: dict[str, Any]) -> bool:
    return str(account.get("AccountType") or "") in ("Income", "Other Income")


@dataclass
class _Billing:
    """What a set of invoices needs from QBO and the hub, read once for all of them."""

    session: ProviderSession
    client: QboClient
    customers: dict[str, str]  # contact id -> Customer Id
    countries: dict[str, str]  # contact id -> its country (as the hub spells it)
    services: dict[str, str]  # work type -> Item Id (mapped, found or created)
    us: bool

    @classmethod
    def read(cls, session: ProviderSession, invoices: list[Invoice]) -> _Billing:
        client = QboClient(session)
        tenant = session.tenant_id
        contact_ids = sorted({i.contact_id for i in invoices})
        customers = {
            hub_id: str(link.provider_id)
            for hub_id, link in links.get_links(tenant, "qbo", "contact", contact_ids).items()
        }
        contacts = hub_records.get_many(tenant, [("contact", c) for c in contact_ids])
        countries: dict[str, str] = {}
        for record in contacts.values():
            data = record.data or {}
            address = data.get("mailing_address") or data.get("physical_address") or {}
            if address.get("country"):
                countries[str(record.record_id)] = str(address["country"])
        billing = cls(session, client, customers, countries, {}, _is_us(client))
        work_types = {line.work_type or "" for i in invoices for line in i.lines}
        billing._find_services(work_types - {""})
        return billing

    def _find_services(self, work_types: set[str]) -> None:
        """Mapped ones; the rest by exact name among Service items (one query), and those
        still missing created with the default income account."""
        mapped = self.session.settings.get("work_type_services") or {}
        self.services.update({w: str(mapped[w]) for w in work_types if w in mapped})
        # found or made earlier in this session (an invocation's other chunks)
        known: dict[str, str] = self.session.memo.setdefault("qbo.services", {})
        self.services.update({w: known[w] for w in work_types if w in known and w not in mapped})
        wanted = sorted(w for w in work_types if w not in self.services)
        if not wanted:
            return
        names = ", ".join(quote(display_name(w)) for w in wanted)
        for row in self.client.query("Item", f"Name IN ({names}) AND Type = 'Service'"):
            for w in wanted:
                if display_name(w).casefold() == str(row.get("Name") or "").casefold():
                    self.services[w] = known[w] = str(row["Id"])
        account = self.session.settings.get("default_income_account")
        for w in wanted:
            if w in self.services or not account:
                continue
            body = {
                "Name": display_name(w),
                "Type": "Service",
                "IncomeAccountRef": {"value": str(account)},
            }
            try:
                self.services[w] = known[w] = str(self.client.create("Item", body)["Id"])
            except SyncFailure as failure:
                if failure.code != "qbo.duplicate_name":
                    raise
                # made meanwhile (another worker, an earlier try): take it
                found = self.client.query("Item", f"Name = {quote(display_name(w))}")
                if not found:
                    raise
                self.services[w] = known[w] = str(found[0]["Id"])

    def item_for(self, line: InvoiceLine) -> str:
        found = self.services.get(line.work_type or "")
        default = self.session.settings.get("default_service")
        if found or default:
            return str(found or default)
        raise SyncFailure(
            "qbo.service_unmapped",
            f"no QuickBooks service for the work type {line.work_type or '(none)'!r}",
        )

    def tax_code(self, line: InvoiceLine, contact_id: str) -> str | None:
        settings = self.session.settings
        table = dict(settings.get("tax_codes") or {})
        country = self.countries.get(contact_id)
        by_country = settings.get("tax_codes_by_country") or {}
        if country and country in by_country:
            table = {**table, **by_country[country]}
        key = line.tax_key or UNTAXED
        if key in table:
            return str(table[key])
        if line.tax_key is None and self.us:
            return None  # a US company marks it NON
        if line.tax_key is None:
            raise SyncFailure(
                "qbo.tax_unmapped",
                "an untaxed line: a QuickBooks company outside the US takes a tax code on "
                f"every line; map {UNTAXED!r} in tax_codes (e.g. to its exempt or zero code)",
            )
        raise SyncFailure(
            "qbo.tax_unmapped",
            f"the hub's tax rate {line.tax_key!r} maps to no QuickBooks tax code"
            + (f" (for {country})" if country else ""),
        )


_US: dict[str, bool] = {}  # company id -> a US company (a company's country never changes)


def _is_us(client: QboClient) -> bool:
    company = client.session.company_id
    if company not in _US:
        rows = client.query("CompanyInfo")
        country = str((rows[0] if rows else {}).get("Country") or "US")
        _US[company] = country.upper() in ("US", "USA")
    return _US[company]


def email_request_key(connection_id: str, invoice_id: str) -> str:
    """Where a "send via QBO" waits for the invoice's copy (the Leases table)."""
    return f"invoice-email#{connection_id}#{invoice_id}"


def email_pending(session: ProviderSession, in_qbo: dict[str, str]) -> dict[str, SyncFailure]:
    """E-mail the invoices (hub id -> QBO Id) the firm sent via QBO and whose copy is now
    in QBO, each once: the request is taken before the call, and put back if QBO did not
    take it. Returns the failures by hub id."""
    conn_id = str(session.connection.connection_id)
    keys = {hub_id: email_request_key(conn_id, hub_id) for hub_id in in_qbo}
    waiting = leases.read_many(list(keys.values()))
    failures: dict[str, SyncFailure] = {}
    client = QboClient(session)
    for hub_id, qbo_id in in_qbo.items():
        request = waiting.get(keys[hub_id])
        if not request or leases.take(keys[hub_id]) is None:
            continue
        try:
            client.send_invoice(qbo_id, str(request["to"]))
        except SyncFailure as failure:
            leases.write_many({keys[hub_id]: request}, EMAIL_REQUEST_SECONDS)
            failures[hub_id] = failure
    return failures


INVOICES = Invoices()
