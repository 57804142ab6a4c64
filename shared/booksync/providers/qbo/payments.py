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
  more than the QBO invoice still owes. A retried create is held to what the invoice
  owes only once its earlier try is known not to have landed (`find_created`): a try
  that did has lowered the balance by itself. A payment deleted in the hub is deleted
  in QBO.
"""

from __future__ import annotations

import uuid
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
from booksync.providers.qbo.changes import ALL_ACTIVE_STATES, QboChanges
from booksync.providers.qbo.client import QboClient, quote
from booksync.providers.qbo.invoices import number
from booksync.providers.qbo.namelist import (
    NameListFamily,
    Planned,
    list_all,
    ref,
)
from booksync.providers.qbo.time_activities import closing_date
from booksync.store import links
from booksync.store import records as hub_records

METHOD_NAME_MAX = 31  # PaymentMethod.Name
_METHODS_NS = uuid.UUID("6f1c2b0e-5d7a-4c1e-9b8e-2f4a0c6d9e31")  # requestids of method creates

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


def method_name(method: str) -> str:
    """A hub payment method as a QBO PaymentMethod Name (at most 31 characters)."""
    return method.strip()[:METHOD_NAME_MAX]


def payment_body(
    payment: Payment,
    customer_id: str,
    invoices: dict[str, str],
    deposit: str | None,
    method_id: str | None = None,
) -> dict[str, Any]:
    """A Payment body (no Id/SyncToken); `invoices`: hub invoice id -> QBO Invoice Id;
    `method_id`: the PaymentMethod of the hub's method."""
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
    if method_id:
        body["PaymentMethodRef"] = {"value": method_id}
    return body


def payment_fingerprint(raw: dict[str, Any]) -> str:
    return content_hash(
        {
            "customer": ref(raw, "CustomerRef"),
            "date": str(raw.get("TxnDate") or ""),
            "amount": number(raw.get("TotalAmt")),
            "reference": str(raw.get("PaymentRefNum") or ""),
            "method": ref(raw, "PaymentMethodRef") or "",
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
        method=hub.get("method") or None,
        allocations=[Allocation(invoice_id=i, amount=rounded(a, currency)) for i, a in applied],
    )
    return content.model_dump(mode="json")


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
        "method",
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

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        """Every payment (drift resolves them as a pull does: see `resolve`)."""
        return list_all(session, self.entity)

    def resolve(self, session: ProviderSession, changes: list[Change]) -> list[Change]:
        """Each payment's customer and invoices as hub ids (one batched link read, one
        read of the invoices for their currency); a voided payment reads as removed."""
        keys: set[tuple[str, str]] = set()
        for c in changes:
            if c.raw is not None:
                keys.add(("Customer", str(ref(c.raw, "CustomerRef"))))
                keys |= {("Invoice", i) for i, _ in invoice_ids(c.raw)}
        found = links.by_provider_ids(session.tenant_id, "qbo", keys) if keys else {}
        method_ids = {ref(c.raw, "PaymentMethodRef") for c in changes if c.raw is not None}
        methods = _method_names(QboClient(session), method_ids - {None})
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
                "method": methods.get(str(ref(c.raw, "PaymentMethodRef"))),
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
        # a retried create's earlier try may be in QBO already, its amount off the invoice's
        # balance: what it owes is checked once that try is known not found (find_created)
        customer = settling.refuse_or_customer(
            payment, creating=item.link is None and not item.attempted_before
        )
        body = payment_body(
            payment,
            customer,
            settling.invoices,
            session.settings.get("deposit_account"),
            settling.methods.get(method_name(payment.method).casefold())
            if payment.method
            else None,
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
        unfound = [p for p in tried if p.target is None]
        held = {i for p in unfound for i, _ in invoice_ids(p.body)}
        if held:  # not found: sent anew, so held to what its invoices owe now
            listed = ", ".join(quote(i) for i in sorted(held))
            owed = {str(r["Id"]): r for r in client.query("Invoice", f"Id IN ({listed})")}
            for p in unfound:
                p.refusal = next(
                    (
                        failure
                        for i, amount in invoice_ids(p.body)
                        if (failure := overpays(amount, i, owed.get(i, {}))) is not None
                    ),
                    None,
                )


@dataclass
class _Settling:
    """What checking and sending a set of payments needs, read once for all of them."""

    customers: dict[str, str]  # contact id -> Customer Id
    invoices: dict[str, str]  # hub invoice id -> QBO Invoice Id
    qbo_invoices: dict[str, dict[str, Any]]  # QBO Invoice Id -> the invoice as QBO has it
    closed: date | None
    methods: dict[str, str]  # PaymentMethod Name (casefolded) -> Id, found or created

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
            methods=_payment_methods(client, {p.method for p in payments if p.method}),
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
            failure = overpays(a.amount, qbo_id, held) if creating else None
            if failure is not None:
                raise failure
        return customer


def overpays(amount: Decimal, qbo_id: str, held: dict[str, Any]) -> SyncFailure | None:
    """`amount` applied to QBO invoice `qbo_id` (`held`: as QBO has it) is more than it owes."""
    owed = Decimal(str(held.get("Balance") or 0))
    if amount <= owed:
        return None
    return SyncFailure(
        "qbo.payment_overpays",
        f"{amount} applied to QuickBooks invoice {held.get('DocNumber') or qbo_id}, "
        f"which owes {number(owed)}",
    )


def _method_names(client: QboClient, ids: set[Any]) -> dict[str, str]:
    """PaymentMethod Id -> Name, for the ids a page of payments names (one query)."""
    if not ids:
        return {}
    listed = ", ".join(quote(str(i)) for i in sorted(ids))
    rows = client.query("PaymentMethod", f"Id IN ({listed}) AND {ALL_ACTIVE_STATES}")
    return {str(r["Id"]): str(r.get("Name") or "") for r in rows}


def _payment_methods(client: QboClient, methods: set[str]) -> dict[str, str]:
    """The hub's payment methods as QBO PaymentMethods: found by exact name (case ignored,
    inactive ones too: one query), the rest created. A create is keyed by the company and
    name (requestid), and a name made meanwhile (6240) is read back: never two "Cheque"s."""
    names: dict[str, str] = {}
    for m in sorted(methods):  # one spelling per name, the same whatever the order
        if method_name(m):
            names.setdefault(method_name(m).casefold(), method_name(m))
    if not names:
        return {}
    listed = ", ".join(quote(n) for n in sorted(names.values()))
    found = {
        str(r.get("Name") or "").casefold(): str(r["Id"])
        for r in client.query("PaymentMethod", f"Name IN ({listed}) AND {ALL_ACTIVE_STATES}")
    }
    for key, name in sorted(names.items()):
        if key in found:
            continue
        card = "card" in key or key in ("visa", "mastercard", "amex", "american express")
        body = {"Name": name, "Type": "CREDIT_CARD" if card else "NON_CREDIT_CARD"}
        requestid = str(uuid.uuid5(_METHODS_NS, f"{client.session.company_id}:{key}"))
        try:
            found[key] = str(client.create("PaymentMethod", body, requestid)["Id"])
        except SyncFailure as failure:
            if failure.code != "qbo.duplicate_name":
                raise
            again = client.query("PaymentMethod", f"Name = {quote(name)} AND {ALL_ACTIVE_STATES}")
            if not again:
                raise
            found[key] = str(again[0]["Id"])
    return found


PAYMENTS = Payments()
