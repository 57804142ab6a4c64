"""Payments: money a contact paid, applied to one or more of its invoices.

A payment recorded in the hub, or met in a provider (QuickBooks Online, Xero), is one
record; its allocations say how much goes to which invoice (a split payment names several;
what is not applied stays `unapplied`, as QBO's UnappliedAmt). Refused before anything is
written, with the reason: an invoice of another contact, another currency, a date more
than two days ahead of today (UTC), an allocation above what the invoice still owes.

Every committed change of a payment moves its invoices' balances (`follow`, run by the
Records stream's fan-out, so a crash between the two writes loses nothing: the stream
delivers the change again): each invoice the payment touches, or touched before, gets the
payment's current amount, a new version and a history line saying what moved.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from booksync.errors import Conflict, InvalidInput
from booksync.hub.entity import Entity, ListFilter, adopt_own_creates, date_range
from booksync.hub.kinds.invoices import Money, with_payment
from booksync.hub.money import CURRENCY_PATTERN, fits, rounded, shown
from booksync.observability import logger
from booksync.store import Record
from booksync.store import records as store

if TYPE_CHECKING:
    pass

KIND = "payment"
DAYS_AHEAD = 2  # a payment dated later than this is refused (QBO and Xero take such dates)
MAX_ALLOCATIONS = 100


class Allocation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    invoice_id: str = Field(min_length=1, max_length=64)
    amount: Money = Field(gt=0)


class Payment(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: str = Field(min_length=1, max_length=64)
    date: date
    amount: Money = Field(gt=0)
    currency: str = Field(default="USD", pattern=CURRENCY_PATTERN)
    method: str | None = Field(default=None, min_length=1, max_length=64)
    reference: str | None = Field(default=None, min_length=1, max_length=21)
    allocations: list[Allocation] = Field(default_factory=list, max_length=MAX_ALLOCATIONS)
    status: Literal["active", "void"] = "active"
    unapplied: Money = Decimal(0)

    @model_validator(mode="after")
    def _applied(self) -> Payment:
        if not fits(self.amount, self.currency):
            raise ValueError(f"amount: {self.currency} has no more than its minor units")
        seen: set[str] = set()
        for n, a in enumerate(self.allocations):
            if not fits(a.amount, self.currency):
                raise ValueError(f"allocations.{n}.amount: more places than {self.currency} has")
            if a.invoice_id in seen:
                raise ValueError(f"allocations.{n}.invoice_id: the invoice is named twice")
            seen.add(a.invoice_id)
            a.amount = rounded(a.amount, self.currency)  # "100" is kept as "100.00"
        self.amount = rounded(self.amount, self.currency)
        applied = sum((a.amount for a in self.allocations), Decimal(0))
        if applied > self.amount:
            raise ValueError(
                f"allocations: {shown(applied, self.currency)} applied is more than the "
                f"payment's {shown(self.amount, self.currency)}"
            )
        self.unapplied = self.amount - applied
        return self

    def applied_to(self) -> dict[str, Decimal]:
        """invoice id -> amount; a void payment applies nothing."""
        if self.status == "void":
            return {}
        return {a.invoice_id: a.amount for a in self.allocations}


def _check(
    tenant_id: str, record_id: str | None, content: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    payment = Payment.model_validate(content)
    if payment.contact_id != before.get("contact_id"):
        contact = store.get(tenant_id, "contact", payment.contact_id)
        if contact is None or contact.deleted:
            raise InvalidInput(f"no contact {payment.contact_id}", field="contact_id")
    latest = datetime.now(UTC).date() + timedelta(days=DAYS_AHEAD)
    if payment.date > latest and str(payment.date) != str(before.get("date")):
        raise InvalidInput(
            f"the payment is dated {payment.date}, more than {DAYS_AHEAD} days ahead of "
            f"today (UTC); record it when it is received",
            field="date",
        )
    ids = [a.invoice_id for a in payment.allocations]
    invoices = store.get_many(tenant_id, [("invoice", i) for i in ids])
    for n, a in enumerate(payment.allocations):
        field = f"allocations.{n}.invoice_id"
        invoice = invoices.get(f"invoice#{a.invoice_id}")
        if invoice is None or invoice.deleted:
            raise InvalidInput(f"no invoice {a.invoice_id}", field=field)
        data = invoice.data or {}
        if str(data.get("contact_id")) != payment.contact_id:
            raise Conflict(
                f"invoice {data.get('number')} is billed to another contact "
                f"({data.get('contact_id')}); a payment is applied to its own contact's "
                "invoices only",
                field=field,
            )
        if data.get("currency") != payment.currency:
            raise InvalidInput(
                f"invoice {data.get('number')} is in {data.get('currency')}, the payment in "
                f"{payment.currency}",
                field="currency",
            )
        if data.get("status") in ("draft", "void"):
            raise Conflict(
                f"invoice {data.get('number')} is {data.get('status')}: only an approved or "
                "issued invoice takes payments",
                field=field,
            )
        mine = Decimal(str((data.get("payments") or {}).get(record_id or "", 0)))
        owed = Decimal(str(data.get("balance") or 0)) + mine
        if payment.status == "active" and a.amount > owed:
            raise Conflict(
                f"{shown(a.amount, payment.currency)} would overpay invoice "
                f"{data.get('number')}, which owes {shown(owed, payment.currency)}",
                field=f"allocations.{n}.amount",
            )
    return payment.model_dump(mode="json")


def follow(tenant_id: str, payment_id: str, update: Callable[..., Record]) -> int:
    """Bring the balances of every invoice this payment touches, or touched before, in
    line with the payment as it is now (deleted or void: nothing applied). Idempotent:
    run again, it writes nothing. Returns the invoices changed."""
    record = store.get(tenant_id, KIND, payment_id)
    if record is None:
        return 0
    payment = Payment.model_validate(record.data or {})
    now = {} if record.deleted else payment.applied_to()
    touched = {a.invoice_id for a in payment.allocations}  # a deleted one's included
    for entry in record.history or []:
        for a in (entry.get("previous") or {}).get("allocations") or []:
            touched.add(str(a.get("invoice_id")))
    changed = 0
    for invoice_id in sorted(touched):
        invoice = store.get(tenant_id, "invoice", invoice_id)
        if invoice is None or invoice.deleted:
            continue  # (an invoice with payments cannot be deleted; one purged is gone)
        data = dict(invoice.data or {})
        before = (data.get("payments") or {}).get(payment_id)
        amount = now.get(invoice_id)
        if (Decimal(str(before)) if before is not None else None) == amount:
            continue
        new = with_payment(data, payment_id, amount)
        cur = str(data.get("currency") or payment.currency)
        verb = "removed" if amount is None else ("changed" if before is not None else "applied")
        note = (
            f"payment {payment_id} ({record.origin}) {verb}: "
            f"{shown(amount or Decimal(before or 0), cur)}; balance "
            f"{shown(Decimal(str(data.get('balance') or 0)), cur)} -> "
            f"{shown(Decimal(str(new['balance'])), cur)}"
        )
        update(tenant_id, "invoice", invoice_id, new, origin=str(record.origin), note=note)
        changed += 1
        logger.info(
            "invoice balance follows its payment",
            extra={"invoice_id": invoice_id, "payment_id": payment_id, "balance": new["balance"]},
        )
    return changed


def _same(data: dict[str, Any], content: dict[str, Any]) -> bool:
    """Is the stored payment the one the provider's object carries (a create of ours whose
    reply was lost, read back before the retry linked it)?"""
    fields = ("contact_id", "date", "amount", "currency")
    if any(str(data.get(f)) != str(content.get(f)) for f in fields):
        return False
    if (data.get("reference") or None) != (content.get("reference") or None):
        return False

    def applied(d: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (str(a.get("invoice_id")), str(a.get("amount"))) for a in d.get("allocations") or []
        }

    return applied(data) == applied(content)


ENTITY = Entity(
    kind=KIND,
    model=Payment,
    path="payments",
    parents=("contact", "invoice"),
    filters=(
        ListFilter("contact_id", Annotated[str | None, Query(max_length=64)]),
        ListFilter("status", Annotated[str | None, Query(pattern="^(active|void)$")]),
        ListFilter(
            "invoice_id",
            Annotated[str | None, Query(max_length=64)],
            test=lambda data, v: any(
                a.get("invoice_id") == v for a in data.get("allocations") or []
            ),
        ),
        *date_range("date"),
    ),
    indexed="contact_id",
    dated="date",
    check=_check,
    follow=follow,
    # one the hub sent itself (its create's reply lost) is linked, not taken in again:
    # found among the contact's payments (its index) by what it holds
    adopt=adopt_own_creates(
        KIND, lambda tenant, c: store.keys_by_ref(tenant, KIND, c.get("contact_id")), _same
    ),
    group_of=lambda record_id, data: str(data.get("contact_id") or record_id),
)
