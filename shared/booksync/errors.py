"""One error taxonomy: every failure has a stable code, a kind and a fix a person can follow.

Workers raise `SyncFailure`; the engine turns it into a sync error row (person must fix),
a retry with backoff (transient, rate limited) or a `needs_reauth` connection. The
practice API raises `Problem`s, which api/problems.py renders as application/problem+json.
Provider clients classify on HTTP status and provider error code, never on text alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    NEEDS_FIX = "needs_fix"  # a person must change something; never retried blindly
    TRANSIENT = "transient"  # 5xx, timeouts: retried with backoff
    RATE_LIMITED = "rate_limited"  # 429 or our own budget: retried after the wait
    REAUTH = "reauth"  # the grant is gone: the firm must reconnect


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    kind: Kind
    title: str
    fix: str


def _specs(*specs: ErrorSpec) -> dict[str, ErrorSpec]:
    return {s.code: s for s in specs}


CATALOG: dict[str, ErrorSpec] = _specs(
    # -- booksync itself
    ErrorSpec(
        "message.invalid",
        Kind.NEEDS_FIX,
        "A queue message could not be read",
        "The message is kept in the dead-letter queue. Report it to the booksync operators "
        "with the message id; it was produced by an incompatible version.",
    ),
    ErrorSpec(
        "message.dead_lettered",
        Kind.NEEDS_FIX,
        "booksync gave up after its last try; the change waits in the dead-letter queue",
        "The provider kept failing (its words below; the code before them says how). Nothing "
        "is lost: once the cause is fixed, an operator re-drives the queue (booksync dlq "
        "redrive QUEUE, or the operator page's Dead letters) and the change is sent once.",
    ),
    ErrorSpec(
        "connection.not_active",
        Kind.NEEDS_FIX,
        "The connection is not active",
        "Reconnect the provider from the connections page; queued changes will be sent then.",
    ),
    ErrorSpec(
        "internal.unexpected",
        Kind.TRANSIENT,
        "booksync hit an unexpected error",
        "booksync retries automatically. If it keeps failing, send the error id to support.",
    ),
    # -- QuickBooks Online
    ErrorSpec(
        "qbo.duplicate_name",
        Kind.NEEDS_FIX,
        "The name is already used in QuickBooks",
        "QuickBooks needs names to be unique across customers, vendors and employees; the "
        "message names the entry holding it. If that is a customer for the same client, "
        "link this record to it; otherwise rename one of them.",
    ),
    ErrorSpec(
        "qbo.duplicate_job_name",
        Kind.NEEDS_FIX,
        "Another QuickBooks customer or job already has this job's name",
        "QuickBooks needs every customer and job name to be unique, even for jobs of "
        "different clients. Rename the work item (for example, add the client's name: "
        "'Year End 2026 - Harbour Marine'). The rename is sent at once, and this error is"
        " resolved when the job is in QuickBooks.",
    ),
    ErrorSpec(
        "qbo.has_open_balance",
        Kind.NEEDS_FIX,
        "QuickBooks keeps a customer with an open balance active",
        "The contact was made inactive (or deleted) in the practice app, but its QuickBooks "
        "customer, or one of its jobs, still has an open balance. Settle or write off the "
        "balance in QuickBooks and retry, or make the contact active again.",
    ),
    ErrorSpec(
        "qbo.app_blocked",
        Kind.NEEDS_FIX,
        "QuickBooks has paused booksync's reads for this month",
        "Intuit meters the data apps read, per app and month, and booksync's app has reached "
        "its plan's allowance. The booksync operator must move the app to a higher Intuit "
        "partner tier. Until then changes made in QuickBooks are not read; changes made in "
        "the practice app still reach QuickBooks where no read is needed.",
    ),
    ErrorSpec(
        "qbo.period_closed",
        Kind.NEEDS_FIX,
        "The accounting period is closed in QuickBooks",
        "The date falls on or before the books' closing date. Change the date, or ask "
        "the bookkeeper to move the closing date in QuickBooks (Settings > Advanced).",
    ),
    ErrorSpec(
        "qbo.employee_not_matched",
        Kind.NEEDS_FIX,
        "The user is not matched to a QuickBooks employee",
        "Time goes to QuickBooks under the user's employee. Match the user on the staff "
        "page (booksync matches by email, then by display name), or add the employee in "
        "QuickBooks and press Save and sync, then send the time again.",
    ),
    ErrorSpec(
        "qbo.customer_not_in_qbo",
        Kind.NEEDS_FIX,
        "The client or job is not in QuickBooks yet",
        "Send the contact to QuickBooks first (sync it, or turn on 'create missing customers' "
        "on the QuickBooks connection so booksync sends it before its time), then send the "
        "time again.",
    ),
    ErrorSpec(
        "qbo.time_too_long",
        Kind.NEEDS_FIX,
        "QuickBooks takes at most 23 h 55 min in one time activity",
        "Split the entry into shorter ones (for example one per day) in the practice app, "
        "then send the time again.",
    ),
    ErrorSpec(
        "qbo.billable_without_customer",
        Kind.NEEDS_FIX,
        "Billable time needs a client or job",
        "QuickBooks bills time to a customer. Put the entry on a contact or work item, or "
        "mark it not billable, then send the time again.",
    ),
    ErrorSpec(
        "time.not_approved",
        Kind.NEEDS_FIX,
        "The entry is not approved",
        "Only approved time is sent unless you ask otherwise. Approve it in the practice "
        "app, or send with approved_only set to false.",
    ),
    ErrorSpec(
        "qbo.payroll_refused",
        Kind.NEEDS_FIX,
        "QuickBooks Payroll keeps this employee's time",
        "The QuickBooks company runs QuickBooks Payroll and refuses time activities for this "
        "employee from apps. Enter the time in QuickBooks Payroll, or ask the bookkeeper "
        "whether the employee should be paid from time activities.",
    ),
    ErrorSpec(
        "qbo.stale_object",
        Kind.TRANSIENT,
        "Someone changed the record in QuickBooks at the same time",
        "booksync re-reads the record and tries again; nothing to do.",
    ),
    ErrorSpec(
        "qbo.object_not_found",
        Kind.NEEDS_FIX,
        "A referenced QuickBooks record no longer exists or is inactive",
        "Reactivate the record in QuickBooks, or remove the link in booksync and sync again.",
    ),
    ErrorSpec(
        "qbo.validation",
        Kind.NEEDS_FIX,
        "QuickBooks rejected the record",
        "Read QuickBooks' message below, correct the record in the practice app and retry.",
    ),
    ErrorSpec(
        "qbo.throttled",
        Kind.RATE_LIMITED,
        "QuickBooks asked us to slow down",
        "booksync waits and retries automatically; nothing to do.",
    ),
    ErrorSpec(
        "qbo.unavailable",
        Kind.TRANSIENT,
        "QuickBooks is not answering",
        "booksync retries automatically; nothing to do unless it persists for hours.",
    ),
    ErrorSpec(
        "qbo.reauth_required",
        Kind.REAUTH,
        "The QuickBooks connection needs to be renewed",
        "Reconnect QuickBooks Online from the connections page (someone revoked access or "
        "the authorisation expired). Nothing queued is lost.",
    ),
    # -- QuickBooks Time
    ErrorSpec(
        "qbt.too_many_custom_fields",
        Kind.NEEDS_FIX,
        "Too many custom fields in QBT",
        "QuickBooks Time allows 6 active custom fields and booksync needs 2 of them. "
        "Deactivate custom fields you no longer use in QuickBooks Time, then reconnect.",
    ),
    ErrorSpec(
        "qbt.custom_fields_unavailable",
        Kind.NEEDS_FIX,
        "QuickBooks Time refused to make the task type and role fields",
        "Task type and role travel in two timesheet custom fields, which need the Custom "
        "Fields add-on in QuickBooks Time (Feature Add-ons). Install it, then press Save and "
        "sync again. Time entries still sync without these two fields.",
    ),
    ErrorSpec(
        "qbt.jobcode_has_children",
        Kind.NEEDS_FIX,
        "QuickBooks Time takes no time on a client that has jobs",
        "In QuickBooks Time a client with jobs is a folder. Put this time on one of the "
        "client's work items (jobs) in the practice app; it is sent again at once.",
    ),
    ErrorSpec(
        "qbt.timesheet_locked",
        Kind.NEEDS_FIX,
        "The timesheet is locked in QuickBooks Time",
        "It was approved, submitted or exported (payroll or invoicing) in QuickBooks Time, "
        "which then refuses changes. Unlock it there (or make the correction there), then "
        "retry this error.",
    ),
    ErrorSpec(
        "qbt.time_without_job",
        Kind.NEEDS_FIX,
        "QuickBooks Time needs a customer or job for each timesheet",
        "Give the time entry a client or a job in the practice app; it is sent as soon as "
        "it has one.",
    ),
    ErrorSpec(
        "qbt.user_inactive",
        Kind.NEEDS_FIX,
        "The user is archived or cannot log time in QuickBooks Time",
        "Restore the user in QuickBooks Time (Team), or move the time to an active user in "
        "the practice app, then retry.",
    ),
    ErrorSpec(
        "qbt.custom_field_value",
        Kind.NEEDS_FIX,
        "QuickBooks Time does not list this task type or role",
        "The value is missing from the field's list in QuickBooks Time. Press Save and sync "
        "on the QuickBooks Time connection to send the users' task types and roles, then "
        "retry.",
    ),
    ErrorSpec(
        "qbt.timesheet_overlap",
        Kind.NEEDS_FIX,
        "The time overlaps another timesheet of the user in QuickBooks Time",
        "QuickBooks Time refuses clocked time (with a start and an end) that overlaps the "
        "user's other time. Correct the start or end, or enter it as a duration, then retry.",
    ),
    ErrorSpec(
        "qbt.time_tracking_disabled",
        Kind.NEEDS_FIX,
        "The user cannot track time in QuickBooks Time",
        "Turn on time tracking for this user in QuickBooks Time (Team > user > permissions).",
    ),
    ErrorSpec(
        "qbt.validation",
        Kind.NEEDS_FIX,
        "QuickBooks Time rejected the record",
        "Read QuickBooks Time's message below, correct the record and retry.",
    ),
    ErrorSpec(
        "qbt.throttled",
        Kind.RATE_LIMITED,
        "QuickBooks Time asked us to slow down",
        "booksync waits and retries automatically; nothing to do.",
    ),
    ErrorSpec(
        "qbt.unavailable",
        Kind.TRANSIENT,
        "QuickBooks Time is not answering",
        "booksync retries automatically; nothing to do unless it persists for hours.",
    ),
    ErrorSpec(
        "qbt.reauth_required",
        Kind.REAUTH,
        "The QuickBooks Time connection needs to be renewed",
        "Reconnect QuickBooks Time from the connections page. Nothing queued is lost.",
    ),
    # -- Xero
    ErrorSpec(
        "xero.duplicate_name",
        Kind.NEEDS_FIX,
        "The contact name is already used in Xero",
        "Xero needs active contact names to be unique. Link to the existing Xero contact, "
        "archive it in Xero, or rename one of them.",
    ),
    ErrorSpec(
        "xero.validation",
        Kind.NEEDS_FIX,
        "Xero rejected the record",
        "Read Xero's message below, correct the record in the practice app and retry.",
    ),
    ErrorSpec(
        "xero.rate_limited",
        Kind.RATE_LIMITED,
        "Xero asked us to slow down",
        "booksync waits for the time Xero names and retries; nothing to do. If the daily "
        "limit was hit, syncing resumes within 24 hours.",
    ),
    ErrorSpec(
        "xero.day_limit",
        Kind.RATE_LIMITED,
        "Xero's daily call allowance for this organisation is (nearly) spent",
        "booksync stops calling this Xero organisation until the allowance recovers (Xero "
        "counts a rolling 24 hours; the message says when booksync tries again) and then "
        "carries on by itself; nothing is lost. If it happens often, the firm's Xero app "
        "plan allows too few calls a day for its volume (the Starter tier allows 1,000).",
    ),
    ErrorSpec(
        "xero.unavailable",
        Kind.TRANSIENT,
        "Xero is not answering",
        "booksync retries automatically; nothing to do unless it persists for hours.",
    ),
    ErrorSpec(
        "xero.token_expired",
        Kind.REAUTH,
        "The Xero connection needs to be renewed",
        "Reconnect Xero from the connections page (the authorisation was revoked or unused "
        "for 60 days). Nothing queued is lost.",
    ),
    ErrorSpec(
        "xero.waiting_for_parent",
        Kind.TRANSIENT,
        "Waiting for the contact or invoice to reach Xero first",
        "The record names a contact (or an invoice) booksync is still sending to Xero. It "
        "goes by itself once that one is there; nothing to do.",
    ),
    ErrorSpec(
        "xero.contact_not_in_xero",
        Kind.NEEDS_FIX,
        "The invoice's contact is not in Xero",
        "booksync sends only the contact types chosen on the Xero connection, and this "
        "contact's type is not one of them. Add its type to the Xero connection's contact "
        "types (or change the contact's type), or link the contact to its Xero contact; "
        "then retry this error.",
    ),
    ErrorSpec(
        "xero.invoice_not_in_xero",
        Kind.NEEDS_FIX,
        "The invoice this payment settles is not in Xero",
        "A payment goes to Xero against the Xero invoice it settles. Send the invoice first "
        "(mark it sent or posted, and check its date is on or after the Xero connection's "
        "invoice sync start), then retry this error.",
    ),
    ErrorSpec(
        "xero.tax_unmapped",
        Kind.NEEDS_FIX,
        "A tax rate has no Xero tax rate to go to",
        "Each of the practice app's tax rates (a combined one such as GST+PST too) needs "
        "a Xero tax rate. Add it to the Xero connection's tax mapping (settings, tax_types, "
        "or tax_types_by_country for the contact's country); the billing setup page lists "
        "Xero's tax rates. Then retry this error.",
    ),
    ErrorSpec(
        "xero.duplicate_invoice_number",
        Kind.NEEDS_FIX,
        "Xero already has an invoice with this number",
        "Xero needs sales invoice numbers to be unique. Give the invoice another number in "
        "the practice app, or, if the Xero invoice is this one entered by hand, delete or "
        "void it in Xero; then retry this error.",
    ),
    ErrorSpec(
        "xero.period_locked",
        Kind.NEEDS_FIX,
        "The date is in a period locked in Xero",
        "Xero refuses invoices and payments dated on or before its lock dates (Settings > "
        "Financial settings). Change the date in the practice app, or ask the bookkeeper "
        "(an adviser) to move the lock date in Xero; then retry this error.",
    ),
    ErrorSpec(
        "xero.leave_period_paid",
        Kind.NEEDS_FIX,
        "The time off falls in a pay period Xero has already paid",
        "Xero keeps the leave of a posted pay run as it is, so it refuses leave added to, "
        "changed in or removed from a paid pay period. Record the change in the next pay "
        "period instead (or ask the payroll administrator to adjust it in Xero), then "
        "ignore this error; or retry it after the pay run is reverted.",
    ),
    ErrorSpec(
        "xero.employee_not_linked",
        Kind.NEEDS_FIX,
        "The user is not a Xero payroll employee booksync knows",
        "Time off becomes leave for the user's Xero payroll employee, and this user has "
        "none linked. Make sure the employee exists in Xero Payroll with the same first "
        "name, last name and email as the user, let the next Xero pull link them (or "
        "resolve it in the staff review), then retry this error.",
    ),
    ErrorSpec(
        "xero.invoice_paid",
        Kind.NEEDS_FIX,
        "Xero keeps an invoice with payments as it is",
        "The Xero invoice has payments (or credit notes) on it, so Xero refuses changes to "
        "its lines, contact, date or tax. Remove the payment in Xero (or in the practice "
        "app), let the change go, then record the payment again; or make the correction "
        "with a credit note in Xero.",
    ),
    ErrorSpec(
        "xero.payment_overpays",
        Kind.NEEDS_FIX,
        "The payment is more than the Xero invoice still owes",
        "Xero takes a payment up to the invoice's amount due. Check the payments already on "
        "the invoice in Xero (one may have been entered there too), correct the amount in "
        "the practice app, then retry this error.",
    ),
    ErrorSpec(
        "xero.payment_customer_differs",
        Kind.NEEDS_FIX,
        "The invoice belongs to another customer in Xero",
        "The Xero invoice is billed to a different Xero contact than the payment's contact "
        "is linked to. Check the invoice's contact in Xero and the contact's link in "
        "booksync, put the payment on the right invoice, then retry this error.",
    ),
    ErrorSpec(
        "xero.payment_date_future",
        Kind.NEEDS_FIX,
        "The payment is dated in the future",
        "A payment dated more than 2 days ahead (UTC) is not sent. Record it with the day it "
        "was received; it goes at once.",
    ),
    ErrorSpec(
        "xero.payment_account_missing",
        Kind.NEEDS_FIX,
        "No Xero account is chosen for payments",
        "Set payment_account_code on the Xero connection's settings to the code of the bank "
        "account (or a payments-enabled account) payments are received into; the billing "
        "setup page lists them. Then retry this error.",
    ),
    ErrorSpec(
        "xero.payment_unapplied",
        Kind.NEEDS_FIX,
        "Xero records a payment against invoices only",
        "Part of the payment is not applied to any invoice, and booksync sends only what "
        "settles invoices. Apply the whole amount to the contact's invoices in the practice "
        "app, or record the rest as an overpayment in Xero; then retry this error.",
    ),
    ErrorSpec(
        "xero.payment_immutable",
        Kind.NEEDS_FIX,
        "Xero does not let a payment be changed",
        "The payment is already in Xero, where payments can only be removed. Void the "
        "payment in the practice app and record the corrected one: booksync removes the "
        "old one from Xero and sends the new one.",
    ),
    ErrorSpec(
        "qbo.depth_limit",
        Kind.NEEDS_FIX,
        "QuickBooks allows sub-customers only five levels deep",
        "This record would sit more than five levels below its top customer in QuickBooks. "
        "Attach it to a parent higher up in the practice app (or flatten the levels in "
        "QuickBooks), then retry.",
    ),
    # -- QuickBooks Online: invoices and payments
    ErrorSpec(
        "qbo.duplicate_doc_number",
        Kind.NEEDS_FIX,
        "QuickBooks already has an invoice with this number",
        "Another QuickBooks invoice, not made from this one, holds the number. Give the "
        "invoice a new number in the practice app (or renumber the other in QuickBooks), "
        "then retry.",
    ),
    ErrorSpec(
        "qbo.tax_unmapped",
        Kind.NEEDS_FIX,
        "A tax rate of the invoice has no QuickBooks tax code",
        "Map the hub's tax rate (named in the message; two rates together are written "
        "'GST+PST') to a QuickBooks tax code in the QuickBooks connection's tax_codes "
        "setting (GET /v1/connections/qbo/billing-setup lists the codes), then retry.",
    ),
    ErrorSpec(
        "qbo.us_several_tax_rates",
        Kind.NEEDS_FIX,
        "A US QuickBooks company taxes a whole invoice at one rate",
        "The invoice's lines carry different tax rates, which QuickBooks companies in the US "
        "cannot hold on one invoice. Use one rate for every taxed line (or split the "
        "invoice in two), then send it again.",
    ),
    ErrorSpec(
        "qbo.service_unmapped",
        Kind.NEEDS_FIX,
        "A work type has no QuickBooks service",
        "Map the work type to a QuickBooks service (work_type_services), create a Service "
        "item with exactly its name, set a default_service, or set default_income_account "
        "so booksync creates the service (GET /v1/connections/qbo/billing-setup), then "
        "retry.",
    ),
    ErrorSpec(
        "qbo.invoice_not_in_qbo",
        Kind.NEEDS_FIX,
        "The payment's invoice is not in QuickBooks",
        "A payment goes to QuickBooks against invoices QuickBooks holds. Send or copy the "
        "invoice to QuickBooks first (POST /v1/invoices/{id}/copy), then retry the payment.",
    ),
    ErrorSpec(
        "qbo.payment_customer_differs",
        Kind.NEEDS_FIX,
        "The invoice belongs to another customer in QuickBooks",
        "The payment's contact is not the invoice's customer in QuickBooks. Check that the "
        "payment was recorded against the right client, or correct the invoice's customer "
        "in QuickBooks, then retry.",
    ),
    ErrorSpec(
        "qbo.payment_not_linkable",
        Kind.NEEDS_FIX,
        "QuickBooks would not apply the payment to the invoice",
        "QuickBooks links a payment only to open invoices of the payment's customer; the "
        "invoice is another customer's or no longer exists there. Check the invoice in "
        "QuickBooks, then retry.",
    ),
    ErrorSpec(
        "qbo.payment_overpays",
        Kind.NEEDS_FIX,
        "The payment is more than the invoice still owes in QuickBooks",
        "QuickBooks already shows other payments on the invoice (recorded there, or not "
        "yet read back). Press Save and sync to read them, then record the remainder only.",
    ),
    ErrorSpec(
        "qbo.payment_date_future",
        Kind.NEEDS_FIX,
        "The payment is dated more than two days ahead",
        "Record a payment when it is received: change its date to today or earlier, then retry.",
    ),
    ErrorSpec(
        "xero.not_authorised",
        Kind.REAUTH,
        "Xero refused access to the organisation",
        "The Xero organisation is no longer connected to booksync (the app was disconnected "
        "in Xero, or the person who connected it lost access). Reconnect Xero from the "
        "connections page. Nothing queued is lost.",
    ),
)


# rate holds a person should see while they last (a sync error row per connection)
VISIBLE_HOLDS = frozenset({"xero.day_limit"})


class SyncFailure(Exception):
    """A classified failure of one record's sync: what went wrong and what to do."""

    def __init__(
        self,
        code: str,
        provider_message: str = "",
        *,
        retry_after: float | None = None,
        status: int | None = None,
        provider_codes: tuple[str, ...] = (),
        wait_named: bool = True,
    ) -> None:
        self.spec = CATALOG[code]
        self.provider_message = provider_message
        self.retry_after = retry_after
        # False: the provider named no wait (QBO's and QBT's 429): `retry_after` is the
        # longest its window could need, and the connection's hold escalates up to it
        self.wait_named = wait_named
        self.status = status
        self.provider_codes = provider_codes  # the provider's own error codes (QBO "6240")
        super().__init__(f"{code}: {provider_message or self.spec.title}")

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def kind(self) -> Kind:
        return self.spec.kind


# ----------------------------------------------------------------- practice API problems


class Problem(Exception):
    """An RFC 9457 problem the practice API answers with."""

    status = 500
    title = "Internal error"
    type_suffix = "internal"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        self.detail = detail
        self.field = field
        super().__init__(detail)


class InvalidInput(Problem):
    status = 400
    title = "Invalid request"
    type_suffix = "invalid-request"


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"
    type_suffix = "unauthorized"


class NotFound(Problem):
    status = 404
    title = "Not found"
    type_suffix = "not-found"


class Conflict(Problem):
    status = 409
    title = "Conflict"
    type_suffix = "conflict"


class PreconditionFailed(Problem):
    status = 412
    title = "Precondition failed"
    type_suffix = "precondition-failed"


class TooManyRequests(Problem):
    status = 429
    title = "Too many requests"
    type_suffix = "too-many-requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ProviderUnavailable(Problem):
    status = 503
    title = "The provider did not answer"
    type_suffix = "provider-unavailable"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def problem_of(failure: SyncFailure) -> Problem:
    """A provider's failure met while answering a practice API request, as the answer:
    a wait (503 with Retry-After), a reconnect (409), or what the provider refused (409)."""
    said = f"{failure.spec.title}: {failure.provider_message}".rstrip(": ")
    if failure.kind in (Kind.TRANSIENT, Kind.RATE_LIMITED):
        wait = max(1, int(failure.retry_after or 5))
        return ProviderUnavailable(f"{said}. Nothing was changed; try again.", retry_after=wait)
    return Conflict(f"{said}. {failure.spec.fix}")
