"""QBO payments <-> hub payments: partial, split across invoices, voided, deleted.

Raw shape (PROVIDERS.md 1.3 Payment): `CustomerRef`, `TotalAmt`, `TxnDate`,
`PaymentRefNum`, `Line[]` of `{Amount, LinkedTxn: [{TxnId, TxnType: "Invoice"}]}`, one
line per invoice (a split payment has several); what no line applies is `UnappliedAmt`.
A voided payment keeps its Id with `TotalAmt` 0 and a PrivateNote beginning "Voided"; a
deleted one is `{"Id", "status": "Deleted"}` in CDC (simulator README, Payment).

- QBO -> hub (CDC, and a webhook's pull): a payment applied to invoices the hub holds
  becomes a hub payment under an id derived from its QBO Id, its invoices and contact
  found through their links (one batched read per page, `resolve`); voided or deleted in
  QBO, the hub payment is kept as void (it applies nothing; the invoices owe again).
  A payment on invoices the hub does not hold (made in QBO alone) is not the hub's.
- hub -> QBO: a payment recorded in the hub becomes a Payment with a line per invoice it
  settles, once: `requestid` on a single create, and a create whose reply was lost is
  found again by its customer, date, amount and reference among payments no link names.
  Checked first, each refusal a sync error with the reason: a date over two days ahead
  (UTC), a date in the closed period, an invoice not in QBO, another customer's invoice,
  more than the QBO invoice still owes. A payment deleted in the hub is deleted in QBO.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field

from booksync.engine.seam import Change, ProviderSession, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.payments import DAYS_AHEAD, Allocation, Payment
from booksync.hub.money import rounded
from booksync.providers.qbo.changes import QboChanges
from booksync.providers.qbo.client import QboClient, quote
from booksync.providers.qbo.invoices import number
from booksync.providers.qbo.namelist import NameListFamily, Planned, ref
from booksync.providers.qbo.time_activities import closing_date
from booksync.store import links
from booksync.store import records as hub_records

# ----------------------------------------------------------------------- mapper


def invoice_ids(raw: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """(QBO invoice Id, amount applied) of each line of a Payment."""
    out: list[tuple[str, Decimal]] = []
    for line in raw.get("Line") or []:
        for linked in line.get("LinkedTxn") or []:
            if str(linked.get("TxnType")) == "Invoice" and linked.get("TxnId"):
                out.append((str(linked["TxnId"]), Decimal(str(line.get("Amount") or 0))))
    return out


def is_voided(raw: dict[str, Any]) -> bool:
    return Decimal(str(raw.get("TotalAmt") or 0)) == 0 and str(
        raw.get("PrivateNote") or ""
    ).startswith("Voided")


def payment_body(
    payment: Payment, customer_id: str, invoices: dict[str, str], deposit: str | None
) -> dict[str, Any]:
    """A Payment body (no Id/SyncToken); `invoices`: hub invoice id -> QBO Invoice Id."""
    body: dict[str, Any] = {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": float(payment.amount),
        "TxnDate": payment.date.isoformat(),
        "Line": [
            {
                "Amount": float(a.amount),
                "LinkedTxn": [{"TxnId": invoices[a.invoice_id], "TxnType": "Invoice"}],
            }
            for a in payment.allocations
        ],
    }
    if payment.reference:
        body["PaymentRefNum"] = payment.reference
    if deposit:
        body["DepositToAccountRef"] = {"value": deposit}
    return body


def payment_fingerprint(raw: dict[str, Any]) -> str:
    return content_hash(
        {
            "customer": ref(raw, "CustomerRef"),
            "date": str(raw.get("TxnDate") or ""),
            "amount": number(raw.get("TotalAmt")),
            "reference": str(raw.get("PaymentRefNum") or ""),
            "lines": sorted((i, number(a)) for i, a in invoice_ids(raw)),
        }
    )


def payment_from_qbo(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The hub payment of a QBO Payment whose references `resolve` found (raw["_hub"]:
    contact, invoice ids by QBO Id, currency); None when it is not the hub's."""
    hub = raw.get("_hub") or {}
    contact = hub.get("contact_id")
    invoices = hub.get("invoices") or {}
    currency = str(hub.get("currency") or "USD")
    applied = [(invoices[i], a) for i, a in invoice_ids(raw) if i in invoices and a > 0]
    amount = Decimal(str(raw.get("TotalAmt") or 0))
    if not contact or not applied or amount <= 0:
        return None
    content = Payment(
        contact_id=str(contact),
        date=date.fromisoformat(str(raw.get("TxnDate"))[:10]),
        amount=rounded(amount, currency),
        currency=currency,
        reference=(str(raw.get("PaymentRefNum") or "")[:21] or None),
        allocations=[Allocation(invoice_id=i, amount=rounded(a, currency)) for i, a in applied],
    )
    return content.model_dump(mode="json", exclude={"method"})


def _payment(content: Any) -> Payment:
    return content if isinstance(content, Payment) else Payment.model_validate(content)


# ----------------------------------------------------------------------- family


class Payments(NameListFamily):
    kind = "payment"
    object_type = "Payment"
    entity = "Payment"
    deletes = True  # a payment deleted in the hub is deleted in QBO
    adopts = True  # payments recorded in QBO become hub payments (hub `adopt`)
    managed_fields = (
        "contact_id",
        "date",
        "amount",
        "currency",
        "reference",
        "allocations",
        "status",
        "unapplied",
    )
    source = QboChanges
    settings = {
        "payments_to_qbo": (
            bool,
            Field(default=True, description="payments recorded in the hub go to QBO"),
        ),
        "deposit_account": (
            str | None,
            Field(
                default=None,
                description="QBO Account Id hub payments are deposited to (none: QBO's "
                "Undeposited Funds)",
            ),
        ),
    }

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return bool(settings.get("payments_to_qbo", True))

    def retired(self, data: dict[str, Any]) -> bool:
        return data.get("status") == "void"  # voided in the hub: deleted in QBO

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return payment_from_qbo(raw)

    def deleted_content(self, current: dict[str, Any]) -> dict[str, Any] | None:
        """Voided or deleted in QBO: the hub keeps it as void (it applies nothing)."""
        return {**current, "status": "void"}

    def resolve(self, session: ProviderSession, changes: list[Change]) -> list[Change]:
        """Each payment's customer and invoices as hub ids (one batched link read, one
        read of the invoices for their currency); a voided payment reads as removed."""
        keys: set[tuple[str, str]] = set()
        for c in changes:
            if c.raw is not None:
                keys.add(("Customer", str(ref(c.raw, "CustomerRef"))))
                keys |= {("Invoice", i) for i, _ in invoice_ids(c.raw)}
        found = links.by_provider_ids(session.tenant_id, "qbo", keys) if keys else {}
        hub_invoices = {
            provider_id: links.hub_id_of(link)
            for (ot, provider_id), link in found.items()
            if ot == "Invoice"
        }
        stored = hub_records.get_many(
            session.tenant_id,
            [("invoice", h) for h in sorted(set(hub_invoices.values()))],
            consistent=False,
        )
        out: list[Change] = []
        for c in changes:
            if c.raw is None or c.object_type != self.object_type:
                out.append(c)
                continue
            if is_voided(c.raw):
                out.append(Change(c.object_type, c.provider_id, None, None, c.changed_at))
                continue
            customer = found.get(("Customer", str(ref(c.raw, "CustomerRef"))))
            mine = {i: hub_invoices[i] for i, _ in invoice_ids(c.raw) if i in hub_invoices}
            currencies = [
                str((stored[f"invoice#{h}"].data or {}).get("currency"))
                for h in mine.values()
                if f"invoice#{h}" in stored
            ]
            hub = {
                "contact_id": links.hub_id_of(customer)
                if customer is not None and links.kind_of(customer) == "contact"
                else None,
                "invoices": mine,
                # the hub invoices' currency (a payment is in its invoices' currency)
                "currency": currencies[0]
                if currencies
                else (c.raw.get("CurrencyRef") or {}).get("value"),
            }
            out.append(replace(c, raw={**c.raw, "_hub": hub}))
        return out

    def intent(self, item: PushItem) -> dict[str, Any]:
        payment = _payment(item.content)
        return {
            "date": payment.date.isoformat(),
            "amount": str(payment.amount),
            "reference": payment.reference or "",
        }

    def read_context(self, session: ProviderSession, items: list[PushItem]) -> _Settling:
        return _Settling.read(session, [_payment(i.content) for i in items])

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str], context: Any = None
    ) -> tuple[dict[str, Any], str]:
        if self.removes(item):
            return {}, "deleted"
        payment = _payment(item.content)
        settling = context if isinstance(context, _Settling) else _Settling.read(session, [payment])
        customer = settling.refuse_or_customer(payment, creating=item.link is None)
        body = payment_body(
            payment, customer, settling.invoices, session.settings.get("deposit_account")
        )
        return body, payment_fingerprint(body)

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        return payment_fingerprint(raw)

    def find_created(self, client: QboClient, tried: list[Planned]) -> None:
        """By customer, date, amount and reference, among payments no link names: one
        query over the tries' dates."""
        days = sorted({str(s.get("date")) for p in tried for s in p.item.sent_before} - {""})
        if not days:
            return
        span = f"TxnDate >= {quote(days[0])} AND TxnDate <= {quote(days[-1])}"
        mine = [p.item.record.record_id for p in tried]
        rows = self.unlinked(client, client.query(self.entity, span), mine)
        for p in tried:
            for sent in p.item.sent_before:
                row = next(
                    (
                        r
                        for r in rows
                        if ref(r, "CustomerRef") == ref(p.body, "CustomerRef")
                        and str(r.get("TxnDate")) == str(sent.get("date"))
                        and number(r.get("TotalAmt")) == number(sent.get("amount"))
                        and str(r.get("PaymentRefNum") or "") == str(sent.get("reference") or "")
                    ),
                    None,
                )
                if row is not None:
                    p.target = row
                    rows.remove(row)
                    break


@dataclass
class _Settling:
    """What checking and sending a set of payments needs, read once for all of them."""

    customers: dict[str, str]  # contact id -> Customer Id
    invoices: dict[str, str]  # hub invoice id -> QBO Invoice Id
    qbo_invoices: dict[str, dict[str, Any]]  # QBO Invoice Id -> the invoice as QBO has it
    closed: date | None

    @classmethod
    def read(cls, session: ProviderSession, payments: list[Payment]) -> _Settling:
        tenant = session.tenant_id
        client = QboClient(session)
        contacts = sorted({p.contact_id for p in payments})
        wanted = sorted({a.invoice_id for p in payments for a in p.allocations})
        customers = {
            h: str(link.provider_id)
            for h, link in links.get_links(tenant, "qbo", "contact", contacts).items()
        }
        invoices = {
            h: str(link.provider_id)
            for h, link in links.get_links(tenant, "qbo", "invoice", wanted).items()
        }
        rows: list[dict[str, Any]] = []
        if invoices:
            ids = ", ".join(quote(i) for i in sorted(set(invoices.values())))
            rows = client.query("Invoice", f"Id IN ({ids})")
        return cls(
            customers=customers,
            invoices=invoices,
            qbo_invoices={str(r["Id"]): r for r in rows},
            closed=closing_date(client) if payments else None,
        )

    def refuse_or_customer(self, payment: Payment, *, creating: bool) -> str:
        """The payment's Customer Id, or the first reason it cannot go (a SyncFailure)."""
        latest = datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)
        if payment.date > latest:
            raise SyncFailure(
                "qbo.payment_date_future",
                f"dated {payment.date}, after {latest} (two days from today, UTC)",
            )
        if self.closed is not None and payment.date <= self.closed:
            raise SyncFailure(
                "qbo.period_closed",
                f"the books are closed up to {self.closed}; the payment is dated {payment.date}",
            )
        customer = self.customers.get(payment.contact_id)
        if customer is None:
            raise SyncFailure(
                "qbo.customer_not_in_qbo",
                f"contact {payment.contact_id} has no QuickBooks customer yet",
            )
        for a in payment.allocations:
            qbo_id = self.invoices.get(a.invoice_id)
            held = self.qbo_invoices.get(qbo_id or "")
            if qbo_id is None or held is None:
                raise SyncFailure(
                    "qbo.invoice_not_in_qbo", f"invoice {a.invoice_id} is not in QuickBooks"
                )
            if ref(held, "CustomerRef") != customer:
                raise SyncFailure(
                    "qbo.payment_customer_differs",
                    f"QuickBooks invoice {held.get('DocNumber')} (Id {qbo_id}) is customer "
                    f"{ref(held, 'CustomerRef')}'s; the payment's customer is {customer}",
                )
            owed = Decimal(str(held.get("Balance") or 0))
            if creating and a.amount > owed:
                raise SyncFailure(
                    "qbo.payment_overpays",
                    f"{a.amount} applied to QuickBooks invoice {held.get('DocNumber')}, "
                    f"which owes {number(owed)}",
                )
        return customer


PAYMENTS = Payments()
