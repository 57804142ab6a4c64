"""Hub payments <-> Xero payments on sales invoices, both ways.

A Xero Payment settles one invoice (PROVIDERS.md 3.3: `{"Invoice":{"InvoiceID"},
"Account":{"Code"},"Date","Amount","Reference"}`, `Status` AUTHORISED|DELETED, immutable
but for deletion with `POST /Payments/{id}` `{"Status":"DELETED"}`). A hub payment split
across several invoices goes as one BatchPayment (`PUT /BatchPayments`, Xero-OpenAPI
BatchPayment; xero-python `create_batch_payment`), which Xero keeps as one Payment per
invoice, each naming its `BatchPaymentID`: the hub payment is linked to the batch, and a
pull reads a batch as one change (its live payments together), so a split met in Xero is
one hub payment too, and our own batch comes back as its echo.

Pull: `GET /Payments` from an If-Modified-Since cursor (Xero's UpdatedDateUTC less a
second, as contacts); a deleted payment stays listed with Status DELETED and a new
UpdatedDateUTC (the simulator's README; developer.xero.com payments "Deleting Payments").
Each payment's invoice and contact are resolved to hub records in the source (`_hub`);
a payment on an invoice no link names is skipped, with a log line.

Push: checked before any write, each a sync error (issue 13): a date more than two days
ahead (UTC), on or before a lock date (Organisation PeriodLockDate/EndOfYearLockDate), an
allocation above the Xero invoice's AmountDue, an invoice of another Xero contact. A lost
create is found again among the invoice's payments no link names, by its date, amount and
reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field

from booksync.engine.seam import Change, Family, Page, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.payments import DAYS_AHEAD, Allocation, Payment
from booksync.hub.money import rounded, shown
from booksync.hub.settings import Setting
from booksync.observability import logger
from booksync.providers.xero.client import (
    XeroClient,
    element_failure,
    one_second_before,
    parse_date,
)
from booksync.providers.xero.invoices import Invoices, number
from booksync.store import links
from booksync.store import records as store

MAX_BATCH = 50
MANAGED = ("contact_id", "date", "amount", "currency", "reference", "allocations")

PAYMENT_SETTINGS: dict[str, Setting] = {
    "payment_account_code": (
        str | None,
        Field(
            default=None,
            max_length=10,
            description="code of the Xero bank (or payments-enabled) account payments go into",
        ),
    ),
}


# ----------------------------------------------------------------------- mapper


def parts_of(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The Xero payments of a change: a batch's live ones, or the payment itself."""
    parts = raw.get("Payments")
    return [dict(p) for p in parts] if isinstance(parts, list) else [raw]


def payment_from_xero(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The hub Payment dump of a Xero payment (or batch), whose invoices and contact the
    source resolved into `raw["_hub"]` ({"contact_id", "invoices": {InvoiceID: hub id},
    "currency"}); None when none of its invoices is a hub invoice."""
    hub = raw.get("_hub") or {}
    invoices: dict[str, str] = hub.get("invoices") or {}
    parts = [p for p in parts_of(raw) if _invoice_id(p) in invoices]
    if not parts or not hub.get("contact_id"):
        return None
    currency = str(
        (parts[0].get("Invoice") or {}).get("CurrencyCode") or hub.get("currency") or "USD"
    )
    allocations = [
        Allocation(
            invoice_id=invoices[_invoice_id(p)],
            amount=rounded(Decimal(str(p["Amount"])), currency),
        )
        for p in parts
    ]
    reference = str(raw.get("Reference") or parts[0].get("Reference") or "").strip()[:21]
    payment = Payment(
        contact_id=str(hub["contact_id"]),
        date=parse_date(str(raw.get("Date") or parts[0]["Date"])).date(),
        amount=sum((a.amount for a in allocations), Decimal(0)),
        currency=currency,
        reference=reference or None,
        allocations=allocations,
    )
    return payment.model_dump(mode="json")


def managed_view(current: dict[str, Any], incoming: dict[str, Any] | None) -> dict[str, Any]:
    """The managed fields of the hub content once `incoming` is merged in, normalized as
    the pull normalizes them (engine/pull.py `_apply`)."""
    merged = {**current, **{k: incoming[k] for k in MANAGED if incoming and k in incoming}}
    dumped = Payment.model_validate(merged).model_dump(mode="json")
    return {k: dumped.get(k) for k in MANAGED}


def view_hash(current: dict[str, Any], raw: dict[str, Any]) -> str:
    """What a pull computes for `raw` against the hub content `current`: the fingerprint a
    push stores, so our own payment coming back is recognised as an echo."""
    return content_hash(managed_view(current, payment_from_xero(raw)))


def xero_view(payment: Payment, invoice_ids: dict[str, str], hub: dict[str, Any]) -> dict[str, Any]:
    """The Xero payment (or batch) a hub payment becomes, as a pull reads it back.
    `invoice_ids`: hub invoice id -> Xero InvoiceID."""
    day = payment.date.isoformat()
    parts = [
        {
            "Invoice": {"InvoiceID": invoice_ids[a.invoice_id], "CurrencyCode": payment.currency},
            "Amount": number(a.amount),
            "Date": day,
            "Reference": payment.reference or "",
        }
        for a in payment.allocations
    ]
    raw: dict[str, Any] = parts[0] if len(parts) == 1 else {"Payments": parts}
    return {**raw, "Date": day, "Reference": payment.reference or "", "_hub": hub}


def xero_payment_from(payment: Payment, invoice_id: str, account_code: str) -> dict[str, Any]:
    """The body of a single-invoice payment."""
    body: dict[str, Any] = {
        "Invoice": {"InvoiceID": invoice_id},
        "Account": {"Code": account_code},
        "Date": payment.date.isoformat(),
        "Amount": number(payment.allocations[0].amount),
    }
    if payment.reference:
        body["Reference"] = payment.reference
    return body


def xero_batch_from(
    payment: Payment, invoice_ids: dict[str, str], account_code: str
) -> dict[str, Any]:
    """The body of a BatchPayment: one payment per allocation."""
    body: dict[str, Any] = {
        "Account": {"Code": account_code},
        "Date": payment.date.isoformat(),
        "Payments": [
            {"Invoice": {"InvoiceID": invoice_ids[a.invoice_id]}, "Amount": number(a.amount)}
            for a in payment.allocations
        ],
    }
    if payment.reference:
        body["Reference"] = payment.reference
    return body


def _invoice_id(part: dict[str, Any]) -> str:
    return str((part.get("Invoice") or {}).get("InvoiceID") or "")


def _day(value: Any) -> date:
    return parse_date(str(value)).date()


# ----------------------------------------------------------------------- pull


class XeroPayments:
    """Payments on sales invoices changed since the cursor, deleted ones included; a
    batch's payments as one change (the batch's id, its live payments)."""

    name = "xero.payments"
    # a payment made or removed moves its invoice (AmountDue, Status): an INVOICE event
    # (whether it always does is not documented: the simulator's payment_touches_invoice
    # mode; when it does not, the schedule's pull finds the payment)
    topics = ("INVOICE",)

    def __init__(self, families: Sequence[Family] = (), page_size: int = 1000) -> None:
        self.page_size = page_size

    def read(self, session: ProviderSession, cursor: str | None) -> Page:
        client = XeroClient(session, page_size=self.page_size)
        since = parse_date(cursor) if cursor else None
        latest = since
        rows: list[dict[str, Any]] = []
        for raw in client.listed("Payments", modified_since=since, paged=True):
            stamp = parse_date(str(raw["UpdatedDateUTC"]))
            before = one_second_before(stamp)
            latest = before if latest is None or before > latest else latest
            if raw.get("PaymentType", "ACCRECPAYMENT") == "ACCRECPAYMENT":
                rows.append(raw)
        return Page(resolved(session, client, rows), latest.isoformat() if latest else "")


def _batches_listed(
    client: XeroClient, batches: dict[str, list[dict[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """The page's batches in one listing (changed since a second before the oldest of
    their payments), not a read each: in the 1,000-invoice fault run a page of 1,000
    payments named 500 batches, and reading them one by one (at Xero's 60 calls a minute)
    outlasted every invocation, so the pull never finished its page. A batch the listing
    lacks (changed before its payments) is read by itself."""
    if len(batches) < 2:
        return {}
    oldest = min(parse_date(str(r["UpdatedDateUTC"])) for rows in batches.values() for r in rows)
    since = one_second_before(oldest)
    return {
        str(b["BatchPaymentID"]): dict(b)
        for b in client.listed("BatchPayments", modified_since=since)
        if str(b.get("BatchPaymentID")) in batches
    }


def resolved(
    session: ProviderSession, client: XeroClient, rows: list[dict[str, Any]]
) -> list[Change]:
    """Changes for the payments read: singles as they are, batches gathered whole; each
    with its invoices and contact resolved to hub ids in `_hub`."""
    groups: list[tuple[str, dict[str, Any] | None, list[dict[str, Any]]]] = []
    seen = {str(r["PaymentID"]): r for r in rows}
    batches: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("BatchPaymentID"):
            batches.setdefault(str(row["BatchPaymentID"]), []).append(row)
        else:
            groups.append((str(row["PaymentID"]), None, [row]))
    listed = _batches_listed(client, batches)
    for batch_id in batches:
        batch = listed.get(batch_id) or client.batch_payment(batch_id) or {}
        members = [str(p["PaymentID"]) for p in batch.get("Payments") or []]
        missing = [m for m in members if m not in seen]
        found = {str(p["PaymentID"]): p for p in client.payments_by_id(missing)} if missing else {}
        parts = [p for m in members if (p := seen.get(m) or found.get(m))] or batches[batch_id]
        groups.append((batch_id, batch, parts))
    keys = {("Invoice", _invoice_id(p)) for _, _, parts in groups for p in parts}
    keys |= {
        ("Contact", str(((p.get("Invoice") or {}).get("Contact") or {}).get("ContactID")))
        for _, _, parts in groups
        for p in parts
    }
    found_links = links.by_provider_ids(session.tenant_id, "xero", keys)
    hub_invoices = {
        pid: links.hub_id_of(link)
        for (ot, pid), link in found_links.items()
        if ot == "Invoice" and links.kind_of(link) == "invoice"
    }
    stored = store.get_many(
        session.tenant_id, [("invoice", h) for h in sorted(set(hub_invoices.values()))]
    )
    changes: list[Change] = []
    for provider_id, whole, parts in groups:
        live = [p for p in parts if str(p.get("Status")).upper() != "DELETED"]
        stamp = max(parse_date(str(p["UpdatedDateUTC"])) for p in parts)
        if not live:
            changes.append(Change("Payment", provider_id, stamp.isoformat(), None, stamp))
            continue
        ours = [p for p in live if _invoice_id(p) in hub_invoices]
        if len(ours) < len(live):
            logger.info(
                "xero payment on an invoice booksync does not hold; skipped",
                extra={
                    "provider_id": provider_id,
                    "invoices": sorted({_invoice_id(p) for p in live} - set(hub_invoices)),
                },
            )
        if not ours:
            continue
        invoices = {_invoice_id(p): hub_invoices[_invoice_id(p)] for p in ours}
        first = stored.get(f"invoice#{next(iter(invoices.values()))}")
        first_data = dict(first.data or {}) if first is not None else {}
        xero_contact = str(((ours[0].get("Invoice") or {}).get("Contact") or {}).get("ContactID"))
        contact_link = found_links.get(("Contact", xero_contact))
        contact_id = (
            links.hub_id_of(contact_link)
            if contact_link is not None and links.kind_of(contact_link) == "contact"
            else first_data.get("contact_id")
        )
        hub = {
            "contact_id": contact_id,
            "invoices": invoices,
            "currency": first_data.get("currency"),
        }
        raw: dict[str, Any] = (
            {
                "BatchPaymentID": provider_id,
                "Date": whole.get("Date") or ours[0]["Date"],
                "Reference": whole.get("Reference") or "",
                "Payments": ours,
                "_hub": hub,
            }
            if whole is not None
            else {**ours[0], "_hub": hub}
        )
        changes.append(Change("Payment", provider_id, stamp.isoformat(), raw, stamp))
    return changes


# ----------------------------------------------------------------------- family


def batch_idempotency_key(method: str, item_keys: list[str]) -> str:
    raw = "\n".join(["xero", "Payments", method, *item_keys])
    return hashlib.sha256(raw.encode()).hexdigest()


class Payments(Family):
    """Hub payments <-> Xero payments (one invoice) and batch payments (several)."""

    provider = "xero"
    kind = "payment"
    object_type = "Payment"
    max_batch = MAX_BATCH
    listing_page = 1000  # the source's pageSize
    managed_fields = MANAGED
    adopts = True
    settings = PAYMENT_SETTINGS
    source = XeroPayments

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return payment_from_xero(raw)

    def retired(self, data: dict[str, Any]) -> bool:
        return data.get("status") == "void"  # voided in the hub: deleted in Xero

    def deleted_content(self, current: dict[str, Any]) -> dict[str, Any] | None:
        # deleted in Xero: the hub payment goes (its invoices' balances follow), unless it
        # is void already (our own removal of it coming back)
        return dict(current) if current.get("status") == "void" else None

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        """Every live payment on the hub's invoices, read and resolved as the first pull
        reads them (a batch whole): a link whose payment is not among them is gone."""
        page = XeroPayments().read(session, None)
        return [c.raw for c in page.changes if c.raw is not None]

    def intent(self, item: PushItem) -> dict[str, Any]:
        payment = _payment(item.content)
        return {
            "date": payment.date.isoformat(),
            "reference": payment.reference or "",
            "allocations": {a.invoice_id: str(a.amount) for a in payment.allocations},
        }

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        if len(items) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} payments per push")
        try:
            return _Push(session, items).run()
        except SyncFailure as failure:  # a read failed: the whole call
            return [failure] * len(items)


class _Push:
    """One push call: the reads every item shares (lock dates, links, Xero invoices) done
    once, then each item removed, confirmed, found again or created."""

    def __init__(self, session: ProviderSession, items: list[PushItem]) -> None:
        self.session = session
        self.items = items
        self.client = XeroClient(session)
        self.settings = session.settings
        self.results: list[Pushed | Exception | None] = [None] * len(items)
        self.payments = [_payment(item.content) for item in items]
        self._lock: date | bool | None = False  # False: not read yet

    # -- shared reads

    def lock_date(self) -> date | None:
        """The later of the organisation's lock dates (read once per call)."""
        if self._lock is False:
            org = self.client.organisation()
            dates = [_day(org[k]) for k in ("PeriodLockDate", "EndOfYearLockDate") if org.get(k)]
            self._lock = max(dates) if dates else None
        return self._lock if isinstance(self._lock, date) else None

    def run(self) -> list[Pushed | Exception]:
        tenant = self.session.tenant_id
        invoice_ids = sorted({a.invoice_id for p in self.payments for a in p.allocations})
        self.invoice_links = links.get_links(tenant, "xero", "invoice", invoice_ids)
        contact_ids = sorted({p.contact_id for p in self.payments})
        self.contact_links = links.get_links(tenant, "xero", "contact", contact_ids)
        self.hub_invoices = store.get_many(tenant, [("invoice", i) for i in invoice_ids])
        removals, linked, creates = [], [], []
        for i, (item, payment) in enumerate(zip(self.items, self.payments, strict=True)):
            sent = item.link is not None
            gone = item.record.deleted or payment.status == "void"
            if gone and sent:
                removals.append(i)
            elif gone:  # the engine never hands a retired record with no link
                self.results[i] = SyncFailure("internal.unexpected", "a void payment never sent")
            elif sent:
                linked.append(i)
            else:
                creates.append(i)
        xero_ids = sorted(
            {
                self.invoice_links[a.invoice_id].provider_id
                for i in linked + creates
                for a in self.payments[i].allocations
                if a.invoice_id in self.invoice_links
            }
        )
        self.xero_invoices = (
            {str(x["InvoiceID"]): x for x in self.client.invoices_by_id(xero_ids)}
            if creates and xero_ids
            else {}
        )
        for i in removals:
            self._remove(i)
        for i in linked:
            self._confirm(i)
        self._create([i for i in creates if self._ready(i)])
        return [r if r is not None else SyncFailure("internal.unexpected") for r in self.results]

    # -- per item

    def _hub(self, payment: Payment) -> dict[str, Any]:
        return {
            "contact_id": payment.contact_id,
            "invoices": {
                self.invoice_links[a.invoice_id].provider_id: a.invoice_id
                for a in payment.allocations
                if a.invoice_id in self.invoice_links
            },
            "currency": payment.currency,
        }

    def _hash(self, i: int) -> str:
        payment = self.payments[i]
        ids = {
            a.invoice_id: self.invoice_links[a.invoice_id].provider_id for a in payment.allocations
        }
        current = self.items[i].record.data or {}
        return view_hash(current, xero_view(payment, ids, self._hub(payment)))

    def _pushed(self, i: int, provider_id: str, stamp: Any, fingerprint: str | None) -> None:
        self.results[i] = Pushed(
            hub_id=self.items[i].record.record_id,
            provider_id=provider_id,
            provider_version=parse_date(str(stamp)).isoformat() if stamp else None,
            content_hash=fingerprint or "",
        )

    def _remove(self, i: int) -> None:
        """Deleted or voided in the hub: its Xero payment(s) deleted, unless a lock date
        keeps them."""
        item, payment = self.items[i], self.payments[i]
        assert item.link is not None
        pid = item.link.provider_id
        lock = self.lock_date()
        if lock is not None and payment.date <= lock:
            self.results[i] = _locked(payment.date, lock, "remove the payment")
            return
        try:
            found = self.client.payments_by_id([pid])
            if not found:  # a batch: its payments
                batch = self.client.batch_payment(pid) or {}
                members = [str(p["PaymentID"]) for p in batch.get("Payments") or []]
                found = self.client.payments_by_id(members) if members else []
            for n, part in enumerate(p for p in found if p.get("Status") != "DELETED"):
                key = f"{item.idempotency_key}-delete-{n}"
                answer = self.client.write_elements(
                    "POST", f"Payments/{part['PaymentID']}", [{"Status": "DELETED"}], key
                )[0]
                refused = element_failure(answer)
                if refused is not None:
                    self.results[i] = refused
                    return
        except SyncFailure as failure:
            self.results[i] = failure
            return
        self._pushed(i, pid, None, item.link.content_hash)

    def _confirm(self, i: int) -> None:
        """A linked payment changed in the hub: fine if nothing Xero holds changed (its
        method, say); Xero cannot edit a payment otherwise."""
        item, payment = self.items[i], self.payments[i]
        assert item.link is not None
        if any(a.invoice_id not in self.invoice_links for a in payment.allocations):
            self.results[i] = SyncFailure(
                "xero.payment_immutable", "the payment now names an invoice Xero does not hold"
            )
            return
        wanted = self._hash(i)
        if item.link.content_hash == wanted:
            self._pushed(i, item.link.provider_id, item.link.provider_version, wanted)
            return
        pid = item.link.provider_id
        found = self.client.payments_by_id([pid])
        batch = None if found else self.client.batch_payment(pid)
        if batch is not None:
            members = [str(p["PaymentID"]) for p in batch.get("Payments") or []]
            found = [p for p in self.client.payments_by_id(members) if p.get("Status") != "DELETED"]
            raw: dict[str, Any] = {
                "Date": batch.get("Date"),
                "Reference": batch.get("Reference") or "",
                "Payments": found,
            }
        else:
            raw = found[0] if found else {}
        current = item.record.data or {}
        if raw and view_hash(current, {**raw, "_hub": self._hub(payment)}) == content_hash(
            managed_view(current, None)
        ):
            self._pushed(i, pid, item.link.provider_version, wanted)
            return
        self.results[i] = SyncFailure(
            "xero.payment_immutable",
            f"the payment's date, amount, reference or invoices changed since it went to Xero "
            f"({pid})",
        )

    def _ready(self, i: int) -> bool:
        """The checks before a create; a sync error in `results` for what cannot go."""
        payment = self.payments[i]
        self.results[i] = self._refusal(payment)
        return self.results[i] is None

    def _refusal(self, payment: Payment) -> SyncFailure | None:
        latest = datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)
        if payment.date > latest:
            return SyncFailure(
                "xero.payment_date_future",
                f"the payment is dated {payment.date}, more than {DAYS_AHEAD} days after "
                f"today ({datetime.now(UTC).date()}, UTC)",
            )
        if not payment.allocations or payment.unapplied > 0:
            return SyncFailure(
                "xero.payment_unapplied",
                f"{shown(payment.unapplied, payment.currency)} of the payment is not applied "
                "to an invoice",
            )
        if not self.settings.get("payment_account_code"):
            return SyncFailure("xero.payment_account_missing", "payment_account_code is not set")
        for a in payment.allocations:
            if a.invoice_id not in self.invoice_links:
                record = self.hub_invoices.get(f"invoice#{a.invoice_id}")
                data = dict(record.data or {}) if record is not None else {}
                label = data.get("number") or a.invoice_id
                if data and Invoices().wants(self.settings, data):
                    return SyncFailure(
                        "xero.waiting_for_parent",
                        f"invoice {label} is not in Xero yet; the payment follows it",
                        retry_after=30,
                    )
                return SyncFailure(
                    "xero.invoice_not_in_xero",
                    f"invoice {label} is not sent to Xero (status {data.get('status')}, "
                    f"issued {data.get('issue_date')})",
                )
        lock = self.lock_date()
        if lock is not None and payment.date <= lock:
            return _locked(payment.date, lock, "record the payment")
        contact = self.contact_links.get(payment.contact_id)
        for a in payment.allocations:
            xero_id = self.invoice_links[a.invoice_id].provider_id
            invoice = self.xero_invoices.get(xero_id)
            if invoice is None:
                return SyncFailure(
                    "xero.invoice_not_in_xero", f"Xero has no invoice {xero_id} any more"
                )
            billed = str((invoice.get("Contact") or {}).get("ContactID"))
            if contact is None or contact.provider_id != billed:
                return SyncFailure(
                    "xero.payment_customer_differs",
                    f"Xero invoice {invoice.get('InvoiceNumber')} is billed to "
                    f"{(invoice.get('Contact') or {}).get('Name') or billed}, not to the "
                    "payment's contact"
                    + ("" if contact is not None else " (which has no Xero contact)"),
                )
        return None

    def _create(self, creates: list[int]) -> None:
        if not creates:
            return
        found = self._already_created([i for i in creates if self._retried(i)])
        singles: list[int] = []
        due = {k: Decimal(str(v.get("AmountDue") or 0)) for k, v in self.xero_invoices.items()}
        for i in creates:
            if i in found:
                self._pushed(i, found[i], None, self._hash(i))
                continue
            payment = self.payments[i]
            over = self._overpays(payment, due)
            if over is not None:
                self.results[i] = over
                continue
            if len(payment.allocations) == 1:
                singles.append(i)
            else:
                self._send_batch(i)
        if singles:
            self._send_singles(singles)

    def _retried(self, i: int) -> bool:
        return self.items[i].attempted_before

    def _overpays(self, payment: Payment, due: dict[str, Decimal]) -> SyncFailure | None:
        """An allocation above what the Xero invoice still owes (net of earlier items of
        this call); taken from `due` when it fits."""
        wanted: dict[str, Decimal] = {}
        for a in payment.allocations:
            xero_id = self.invoice_links[a.invoice_id].provider_id
            wanted[xero_id] = wanted.get(xero_id, Decimal(0)) + a.amount
        for xero_id, amount in wanted.items():
            if amount > due.get(xero_id, Decimal(0)):
                number_ = self.xero_invoices[xero_id].get("InvoiceNumber")
                return SyncFailure(
                    "xero.payment_overpays",
                    f"{shown(amount, payment.currency)} is more than Xero invoice {number_} "
                    f"still owes ({shown(due.get(xero_id, Decimal(0)), payment.currency)})",
                )
        for xero_id, amount in wanted.items():
            due[xero_id] -= amount
        return None

    def _already_created(self, tried: list[int]) -> dict[int, str]:
        """Creates tried before whose reply never reached a link: the Xero payment (or
        batch) on their invoices with their date, amount and reference, no link names."""
        if not tried:
            return {}
        candidates: dict[int, list[list[str]]] = {}  # item -> per allocation, PaymentIDs
        for i in tried:
            payment = self.payments[i]
            per: list[list[str]] = []
            for a in payment.allocations:
                xero_id = self.invoice_links[a.invoice_id].provider_id
                on = (self.xero_invoices.get(xero_id) or {}).get("Payments") or []
                per.append(
                    [
                        str(p["PaymentID"])
                        for p in on
                        if _day(p["Date"]) == payment.date
                        and Decimal(str(p["Amount"])) == a.amount
                        and str(p.get("Reference") or "") == (payment.reference or "")
                    ]
                )
            candidates[i] = per
        every = sorted({pid for per in candidates.values() for ids in per for pid in ids})
        if not every:
            return {}
        rows = {str(p["PaymentID"]): p for p in self.client.payments_by_id(every)}
        ids = set(every) | {
            str(r.get("BatchPaymentID")) for r in rows.values() if r.get("BatchPaymentID")
        }
        taken = links.by_provider_ids(self.session.tenant_id, "xero", [("Payment", x) for x in ids])
        # linked to another record: not ours; linked to the tried record itself: a pull
        # linked our lost create meanwhile (hub/kinds/payments.py `_adopt`), so it is found
        mine = {self.items[i].record.record_id for i in tried}
        used = {pid for (_, pid), link in taken.items() if links.hub_id_of(link) not in mine}
        found: dict[int, str] = {}
        for i, per in candidates.items():
            live = [[p for p in ids_ if rows.get(p, {}).get("Status") != "DELETED"] for ids_ in per]
            if len(per) == 1:
                single = [
                    p
                    for p in live[0]
                    if p not in used and not rows.get(p, {}).get("BatchPaymentID")
                ]
                if single:
                    found[i] = single[0]
                    used.add(single[0])
                continue
            batches = [
                {
                    str(rows[p].get("BatchPaymentID"))
                    for p in ids_
                    if rows.get(p, {}).get("BatchPaymentID")
                }
                for ids_ in live
            ]
            common = set.intersection(*batches) - used if batches else set()
            if common:
                found[i] = sorted(common)[0]
                used.add(found[i])
        return found

    def _send_singles(self, indexes: list[int]) -> None:
        account = str(self.settings["payment_account_code"])
        bodies = [
            xero_payment_from(
                self.payments[i],
                self.invoice_links[self.payments[i].allocations[0].invoice_id].provider_id,
                account,
            )
            for i in indexes
        ]
        key = batch_idempotency_key("PUT", [self.items[i].idempotency_key for i in indexes])
        try:
            answers = self.client.write_elements("PUT", "Payments", bodies, key)
        except SyncFailure as failure:
            for i in indexes:
                self.results[i] = failure
            return
        for i, answer in zip(indexes, answers, strict=True):
            refused = element_failure(answer)
            if refused is not None:
                self.results[i] = refused
            elif not answer.get("PaymentID"):
                self.results[i] = SyncFailure("xero.unavailable", "Xero's answer has no PaymentID")
            else:
                self._pushed(
                    i, str(answer["PaymentID"]), answer.get("UpdatedDateUTC"), self._hash(i)
                )

    def _send_batch(self, i: int) -> None:
        payment = self.payments[i]
        ids = {
            a.invoice_id: self.invoice_links[a.invoice_id].provider_id for a in payment.allocations
        }
        body = xero_batch_from(payment, ids, str(self.settings["payment_account_code"]))
        try:
            answer = self.client.write_elements(
                "PUT", "BatchPayments", [body], self.items[i].idempotency_key
            )[0]
        except SyncFailure as failure:
            self.results[i] = failure
            return
        refused = element_failure(answer)
        if refused is not None:
            self.results[i] = refused
        elif not answer.get("BatchPaymentID"):
            self.results[i] = SyncFailure("xero.unavailable", "Xero's answer has no BatchPaymentID")
        else:
            self._pushed(
                i, str(answer["BatchPaymentID"]), answer.get("UpdatedDateUTC"), self._hash(i)
            )


def _locked(day: date, lock: date, what: str) -> SyncFailure:
    return SyncFailure(
        "xero.period_locked",
        f"the payment is dated {day}, on or before Xero's lock date {lock}: Xero will not "
        f"{what} there",
    )


def _payment(content: Any) -> Payment:
    return content if isinstance(content, Payment) else Payment.model_validate(content)
