"""Invoices: what the practice bills a contact, line by line, with tax.

Money is Decimal in the currency's minor units (hub/money.py). Totals are checked on every
write: each line's amount is its quantity times its rate; the subtotal the lines' sum; the
tax each line's amount times its rate (a primary and a secondary tax add up: GST + PST);
the total the two together. Totals left out are filled in; totals given must agree.

What has been paid is the payments' business, not the writer's: `payments` (payment id ->
amount applied), `amount_paid` and `balance` follow every payment recorded, changed or
removed (hub/kinds/payments.py), each change a line of the invoice's history, and the
status becomes `paid` at a zero balance (and back when a payment goes).

An invoice goes to QuickBooks Online and Xero once it is sent or posted; an approved one
is copied on demand (api/billing_routes.py).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from booksync.errors import Conflict, InvalidInput
from booksync.hub.content import EMAIL_PATTERN
from booksync.hub.entity import Entity, ListFilter, date_range
from booksync.hub.money import CURRENCY_PATTERN, fits, rounded
from booksync.store import Record
from booksync.store import records as store

KIND = "invoice"
STATUSES = ("draft", "approved", "sent", "posted", "paid", "void")
# the statuses in which an invoice is in the books (the providers hold it)
ISSUED = frozenset({"sent", "posted", "paid"})
MAX_LINES = 250

Money = Annotated[Decimal, Field(max_digits=15, decimal_places=3)]
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=8, decimal_places=4)]


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str = Field(min_length=1, max_length=4000, description="task or work item")
    work_item_id: str | None = Field(default=None, min_length=1, max_length=64)
    work_type: str | None = Field(default=None, min_length=1, max_length=100)
    quantity: Decimal = Field(gt=0, max_digits=14, decimal_places=4)
    rate: Decimal = Field(ge=0, max_digits=14, decimal_places=4)
    amount: Money | None = Field(default=None, description="quantity x rate; filled if absent")
    tax_rate: str | None = Field(default=None, min_length=1, max_length=64, description="GST")
    tax_percent: Percent = Decimal(0)
    secondary_tax_rate: str | None = Field(default=None, min_length=1, max_length=64)
    secondary_tax_percent: Percent = Decimal(0)
    tracking: dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        Annotated[str, Field(min_length=1, max_length=100)],
    ] = Field(
        default_factory=dict,
        max_length=2,
        description="Xero tracking: category name -> option (Xero takes two a line)",
    )

    @property
    def tax_key(self) -> str | None:
        """The hub's rate of the line as the tax mapping names it: "GST" or "GST+PST"."""
        names = [n for n in (self.tax_rate, self.secondary_tax_rate) if n]
        return "+".join(names) or None


class Invoice(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(min_length=1, max_length=21, description="QBO's DocNumber holds 21")
    contact_id: str = Field(min_length=1, max_length=64)
    issue_date: date
    due_date: date | None = None
    currency: str = Field(default="USD", pattern=CURRENCY_PATTERN)
    lines: list[InvoiceLine] = Field(min_length=1, max_length=MAX_LINES)
    status: Literal["draft", "approved", "sent", "posted", "paid", "void"] = "draft"
    billing_email: str | None = Field(default=None, max_length=254, pattern=EMAIL_PATTERN)
    subtotal: Money | None = None
    tax_total: Money | None = None
    total: Money | None = None
    time_entry_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=5000,
        description="the tracked time billed on it (engine/time_billing.py); such an "
        "invoice goes to Xero as a draft while it is a draft here",
    )
    # kept by the payments (a writer's values are ignored)
    payments: dict[str, Money] = Field(default_factory=dict)
    amount_paid: Money = Decimal(0)
    balance: Money | None = None

    @model_validator(mode="after")
    def _totals(self) -> Invoice:
        if self.due_date is not None and self.due_date < self.issue_date:
            raise ValueError("due_date: the due date is before the issue date")
        cur = self.currency
        subtotal = tax = Decimal(0)
        for n, line in enumerate(self.lines):
            amount = rounded(line.quantity * line.rate, cur)
            if line.amount is None or line.amount == amount:
                line.amount = amount
            elif not fits(line.amount, cur):
                raise ValueError(f"lines.{n}.amount: {cur} has no more than its minor units")
            elif line.amount != amount:
                raise ValueError(
                    f"lines.{n}.amount: {line.amount} is not quantity x rate ({amount})"
                )
            if (line.tax_percent and not line.tax_rate) or (
                line.secondary_tax_percent and not line.secondary_tax_rate
            ):
                raise ValueError(f"lines.{n}.tax_rate: a tax percent needs the rate's name")
            subtotal += amount
            tax += rounded(amount * (line.tax_percent + line.secondary_tax_percent) / 100, cur)
        for name, value in (("subtotal", subtotal), ("tax_total", tax), ("total", subtotal + tax)):
            given = getattr(self, name)
            if given is not None and given != value:
                raise ValueError(f"{name}: {given} does not add up; the lines make {value}")
            setattr(self, name, rounded(value, cur))
        self.payments = {k: rounded(v, cur) for k, v in self.payments.items()}
        self.amount_paid = rounded(sum(self.payments.values(), Decimal(0)), cur)
        self.balance = (self.total or Decimal(0)) - self.amount_paid
        return self


def _check(
    tenant_id: str, record_id: str | None, content: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    contact_id = content["contact_id"]
    if contact_id != before.get("contact_id"):
        contact = store.get(tenant_id, "contact", contact_id)
        if contact is None or contact.deleted:
            raise InvalidInput(f"no contact {contact_id}", field="contact_id")
        if before.get("payments"):
            raise Conflict(
                "the invoice has payments from its contact; remove them before moving it "
                "to another contact",
                field="contact_id",
            )
    works = {line.get("work_item_id") for line in content["lines"]} - {None}
    found = store.get_many(tenant_id, [("work_item", w) for w in sorted(works)], consistent=False)
    for n, line in enumerate(content["lines"]):
        work_id = line.get("work_item_id")
        if not work_id:
            continue
        work = found.get(f"work_item#{work_id}")
        if work is None or (work.deleted and work_id not in _works_of(before)):
            raise InvalidInput(f"no work item {work_id}", field=f"lines.{n}.work_item_id")
        if str(work.data.get("contact_id")) != contact_id:
            raise InvalidInput(
                f"work item {work_id} belongs to another contact", field=f"lines.{n}.work_item_id"
            )
        if not line.get("work_type") and work.data.get("work_type"):
            line["work_type"] = work.data["work_type"]
    # what is paid is the payments' to say: a writer's figures never count
    paid = dict(before.get("payments") or {})
    status = content["status"]
    if record_id is not None and (status == "paid") != (before.get("status") == "paid"):
        raise InvalidInput(
            "an invoice is paid when its payments cover it: record a payment "
            "(/v1/payments) instead of setting the status",
            field="status",
        )
    if record_id is None and status == "paid":
        raise InvalidInput("a new invoice is not paid yet: record a payment", field="status")
    if paid and status in ("draft", "void"):
        raise Conflict(
            f"the invoice has payments ({', '.join(sorted(paid))}); remove them first",
            field="status",
        )
    revalidated = Invoice.model_validate({**content, "payments": paid})
    if revalidated.balance is not None and revalidated.balance < 0:
        raise Conflict(
            f"the total {revalidated.total} is below what has been paid "
            f"({revalidated.amount_paid})",
            field="lines",
        )
    return revalidated.model_dump(mode="json")


def _check_delete(tenant_id: str, record: Record) -> None:
    paid = sorted((record.data or {}).get("payments") or {})
    if paid:
        raise Conflict(
            f"the invoice has payments ({', '.join(paid)}): delete them (or apply them to "
            "another invoice) first",
            field="payments",
        )


def _works_of(data: dict[str, Any]) -> set[str]:
    return {str(line.get("work_item_id")) for line in data.get("lines") or []}


def with_payment(data: dict[str, Any], payment_id: str, amount: Decimal | None) -> dict[str, Any]:
    """The invoice's content once `payment_id` applies `amount` to it (None: not at all);
    paid at a zero balance, back to sent when a payment goes."""
    payments = {k: Decimal(str(v)) for k, v in (data.get("payments") or {}).items()}
    if amount is None or amount == 0:
        payments.pop(payment_id, None)
    else:
        payments[payment_id] = amount
    invoice = Invoice.model_validate({**data, "payments": payments})
    status = invoice.status
    if invoice.balance == 0 and payments and status in ISSUED | {"approved"}:
        status = "paid"
    elif status == "paid" and invoice.balance != 0:
        status = "sent"
    return invoice.model_copy(update={"status": status}).model_dump(mode="json")


ENTITY = Entity(
    kind=KIND,
    model=Invoice,
    path="invoices",
    parents=("contact", "work_item"),
    filters=(
        ListFilter("contact_id", Annotated[str | None, Query(max_length=64)]),
        ListFilter("status", Annotated[str | None, Query(pattern=f"^({'|'.join(STATUSES)})$")]),
        ListFilter("number", Annotated[str | None, Query(max_length=21)]),
        *date_range("issue_date"),
    ),
    indexed="contact_id",
    dated="issue_date",
    check=_check,
    check_delete=_check_delete,
    group_of=lambda record_id, data: str(data.get("contact_id") or record_id),
)
