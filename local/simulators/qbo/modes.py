"""QBO's modes and its call metering: where the public record leaves the real service open.

Each mode names behaviours the real QuickBooks Online has been reported to show; the server
default is today's simulator behaviour and tests that touch one set the harsher value. Set them
per company with `PUT /_sim/companies/{realm}/modes` (core/modes.py).

Metering (Intuit App Partner Program, 2025): Accounting API calls are **Core** (data in:
creates, updates, deletes, voids, sends) or **CorePlus** (data out: reads, queries, CDC,
reports); CorePlus calls are metered per app per month, and an app on the free Builder tier is
blocked for the rest of the month past 500,000 CorePlus calls, its customers told the app is
offline (blogs.intuit.com 2025-08-11 "Best practices for Intuit API optimization, part 1",
2025-10-24 part 2, 2026-01-08 "Understanding Builder tier API limits"; PROVIDERS.md 1.4).
Every call is classified (the call log's `category`); `Meter` counts them per client id per
month and, when the `coreplus_cap` mode is on, refuses CorePlus calls past the cap. How the
refusal looks is not documented (U): 403 or 429, as a mode.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

from ..core import Mode, Request, Response

REQUESTID_SOURCES = (
    "replay: developer.intuit.com blog 2015-04-06 and 2018-09-10 'QuickBooks Online API Best "
    "Practices' (a repeat returns the original response); ignored: intuit/QuickBooks-V3-"
    "DotNET-SDK #352 (the same RequestId twice created two payments, single and batch), "
    "mcohen01/node-quickbooks #38; batch_6000: ruckus/quickbooks-ruby PR #344 (a replayed "
    "batch answered every item with 6000 'An unexpected error occurred...')"
)

MODES = [
    Mode(
        "requestid",
        "replay",
        "replay: a repeated requestid returns the first answer; ignored: a repeat is a new "
        "request; batch_6000: single calls replay, a repeated /batch fails every item with 6000",
        REQUESTID_SOURCES,
        values=("replay", "ignored", "batch_6000"),
    ),
    Mode(
        "cdc_order",
        "oldest_first",
        "which changes CDC keeps past its 1,000-object cap, and their order: the oldest, the "
        "newest (newest first), or any (in no order)",
        "developer.intuit.com change-data-capture: at most 1000 objects, 30 days; what is cut "
        "first is not documented (U)",
        values=("oldest_first", "newest_first", "unordered"),
    ),
    Mode(
        "coreplus_cap",
        "off",
        "off: CorePlus calls are counted only; 403 / 429: past coreplus_cap_limit CorePlus "
        "calls this month for the calling client id, CorePlus calls are refused with it",
        "blogs.intuit.com 2026-01-08 'Understanding Builder tier API limits' (500,000 CorePlus "
        "calls a month on the Builder tier, then blocked for the month); refusal shape (U)",
        values=("off", "403", "429"),
    ),
    Mode(
        "coreplus_cap_limit",
        500_000,
        "CorePlus calls a client id may make in a calendar month (Pacific time) before the cap",
        "blogs.intuit.com 2026-01-08 (Builder tier: 500,000); paid tiers raise it",
        minimum=0,
        integer=True,
    ),
    Mode(
        "payroll_time",
        "accept",
        "accept: time activities for employees are written as usual; refuse: the company runs "
        "QuickBooks Payroll and refuses an employee's time activity with a 6000 business "
        "validation error (wording (U))",
        "the issue tracker's 'a QBO company with payroll that refuses the write'; Intuit "
        "documents no such refusal for the API, and its wording is not public (U)",
        values=("accept", "refuse"),
    ),
    Mode(
        "webhook_delivery",
        "independent",
        "independent: each delivery retried on its own; held: later deliveries for the realm "
        "wait until a failed one is acknowledged; out_of_order: every other delivery is held "
        "back a second, so later events arrive first",
        "developer.intuit.com webhooks/best-practices: 'You may not receive subsequent events "
        "... until you correctly acknowledge the first event'; 'It's possible to receive "
        "events out of sequence'",
        values=("independent", "held", "out_of_order"),
    ),
    # -- invoice and payment sync (billing)
    Mode(
        "duplicate_docnumber",
        "refuse",
        "refuse: a sales form (Invoice, SalesReceipt, Estimate, CreditMemo, RefundReceipt) whose "
        "DocNumber another one of its type already has is refused with 6140 unless the call "
        "carries include=allowduplicatedocnum; allow: the company's duplicate-number check is "
        "off and the duplicate is stored",
        "Invoice entity reference (DocNumber: no duplicate rule stated, only CustomTxnNumber); "
        "Bill/BillPayment/JournalEntry references ('Throws an error when duplicate DocNumber is "
        "sent ... check the setting of Preferences:OtherPrefs'); Purchase reference (a check's "
        "duplicate is refused only while WarnDuplicateCheckNumber is true); "
        "intuit/QuickBooks-V3-DotNET-SDK #175 ('this preference can be turned off in the QBO "
        "settings'; 'In the web UI duplicate document numbers just show a warning'); 6140 on "
        "synced invoices: QuickBooks community thread 1533226 (2025), Clio KB 'Error Code 6140'. "
        "Whether an invoice's check follows a preference is not documented (U)",
        values=("refuse", "allow"),
    ),
    Mode(
        "send_without_email",
        "refuse",
        "POST /invoice/{id}/send with no sendTo and no BillEmail on the invoice: refuse: 6000 "
        "business validation error, nothing sent; customer_email: sent to the customer's "
        "PrimaryEmailAddr, which becomes the invoice's BillEmail (refused as well when the "
        "customer has none)",
        "Invoice entity reference 'Send an invoice' (the address is Invoice.BillEmail.Address, "
        "sendTo overrides it; the create sample's answer has no BillEmail although customer 1 "
        "has an email); Breadwinner 'Send Invoice' docs ('an email address is required to send "
        "the invoice'); bill.com KB 'You must enter the email address for this customer in "
        "order to email statements' (an invoice marked to be emailed). The answer to a bare "
        "send is not documented (U)",
        values=("refuse", "customer_email"),
    ),
    Mode(
        "invoice_sparse_lines",
        "replace",
        "a sparse update of a sales form that carries Line: replace: the lines sent replace "
        "every line (omitted lines are deleted); merge: a sent line whose Id exists updates "
        "that line, a line without a known Id is added, unsent lines stay",
        "replace: Payment entity reference ('Lines can be updated only ALL or NONE. This is "
        "true for full or sparse update'), Intuit's PHP SDK quickstart (adds a line by sending "
        "all lines plus the new one; intuit/QuickBooks-V3-PHP-SDK #23, #200); merge: the "
        "Line.Id rule of the Invoice reference ('If Id ... exists ... an update operation for a "
        "line item'; no Id: a create) and myleshyson/laravel-quickbooks #22 ('it adds new lines "
        "to the existing lines'). The Invoice page itself does not say (U)",
        values=("replace", "merge"),
    ),
    Mode(
        "payment_invoice_event",
        "update",
        "when a payment is created, changed, voided or deleted, each invoice whose Balance it "
        "changes: update: gets a new SyncToken and LastUpdatedTime (CDC) and an Invoice "
        "Update webhook event; none: the same new SyncToken, LastUpdatedTime and CDC entry, "
        "but only the Payment is named in webhooks",
        "Intuit documents neither (U); webhooks page lists Create/Update/Delete/Void/Emailed "
        "for Invoice and Payment (developer.intuit.com webhooks; blogs 2017-05-11 for Void)",
        values=("update", "none"),
    ),
]

# Published observations of QBO's own response times are anecdotes, not figures:
# consolibyte/quickbooks-php #113 (a sandbox query "can take up to 30 seconds"). The
# defaults are a typical cloud API round trip and a few tens of ms per batch item (U).
LATENCY_FIXED_MS = 400.0
LATENCY_PER_OBJECT_MS = 60.0
LATENCY_SOURCE = (
    "(U) guessed: 400 ms a call, 60 ms per batch item; consolibyte/quickbooks-php #113 reports "
    "calls taking up to 30 s"
)

# Error 6000 for every item of a replayed batch (ruckus/quickbooks-ruby PR #344, verbatim).
BATCH_REPLAY_DETAIL = (
    "Business Validation Error: An unexpected error occurred while accessing or saving your "
    "data. Please wait a few minutes and try again.  If the problem persists, contact customer "
    "support."
)


def batch_replay_fault(bid: str) -> dict[str, Any]:
    return {
        "bId": bid,
        "Fault": {
            "Error": [
                {
                    "Message": "A business validation error has occurred while processing "
                    "your request",
                    "Detail": BATCH_REPLAY_DETAIL,
                    "code": "6000",
                    "element": "",
                }
            ],
            "type": "ValidationFault",
        },
    }


def classify(req: Request) -> tuple[str, int, int]:
    """(category of the HTTP call, Core items, CorePlus items). Reads (GET), queries and CDC
    are CorePlus; writes are Core. A batch is metered per item: `Query` items are CorePlus,
    the others Core (U: Intuit does not say how batch items are metered); the call's own
    category is CorePlus if it carries any query."""
    tail = req.path.rstrip("/").rsplit("/", 1)[-1].lower()
    if req.method == "GET":
        return "CorePlus", 0, 1
    if tail == "query":
        return "CorePlus", 0, 1
    if tail == "batch":
        try:
            items = json.loads(req.body or b"{}").get("BatchItemRequest") or []
        except (ValueError, AttributeError):
            items = []
        queries = sum(1 for i in items if isinstance(i, dict) and "Query" in i)
        writes = max(0, len(items) - queries)
        if not items:
            return "Core", 1, 0
        return ("CorePlus" if queries else "Core"), writes, queries
    return "Core", 1, 0


class Meter:
    """Core and CorePlus calls per client id per calendar month (QuickBooks' Pacific time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, dict[str, dict[str, int]]] = {}  # month -> client -> category

    @staticmethod
    def month(now: datetime) -> str:
        from .model import PACIFIC

        return now.astimezone(PACIFIC).strftime("%Y-%m")

    def used(self, month: str, client: str, category: str = "CorePlus") -> int:
        with self._lock:
            return int(self.counts.get(month, {}).get(client, {}).get(category, 0))

    def add(self, month: str, client: str, core: int, coreplus: int) -> None:
        with self._lock:
            row = self.counts.setdefault(month, {}).setdefault(client, {"Core": 0, "CorePlus": 0})
            row["Core"] += core
            row["CorePlus"] += coreplus

    def set(self, month: str, client: str, values: dict[str, Any]) -> None:
        with self._lock:
            row = self.counts.setdefault(month, {}).setdefault(client, {"Core": 0, "CorePlus": 0})
            for category in ("Core", "CorePlus"):
                if category in values:
                    n = values[category]
                    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                        raise ValueError(f"{category} must be a whole number >= 0")
                    row[category] = n

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {
                month: {client: dict(row) for client, row in clients.items()}
                for month, clients in self.counts.items()
            }

    def load(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.counts = json.loads(json.dumps(state or {}))


def cap_refusal(status: int, time_ms: int, time_iso: str, limit: int) -> Response:
    """The refusal past the monthly CorePlus cap. Intuit documents the cap, not the answer
    (U): 403 in the gateway's lowercase `fault` shape (the app is "offline" for its customers)
    or 429 in the throttle Fault shape."""
    detail = (
        f"The app has used its {limit} CorePlus API calls for this month; CorePlus calls are "
        "blocked until the next month (U)"
    )
    if status == 403:
        from .errors import gateway_fault

        body = gateway_fault(403, time_ms, detail)
        return Response.json(403, body)
    return Response.json(
        429,
        {
            "Fault": {
                "Error": [
                    {
                        "Message": "message=CorePlusLimitExceeded; errorCode=003001; "
                        "statusCode=429",
                        "Detail": detail,
                        "code": "3001",
                        "element": "",
                    }
                ],
                "type": "SERVICE",
            },
            "time": time_iso,
        },
    )
