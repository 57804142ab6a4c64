"""Xero's wire protocol, nothing else: tenant header, JSON, paging, `/Date()/`, batched
writes with per-element results, and one place that turns Xero's errors into SyncFailures.

Wire facts (../shared/PROVIDERS.md section 3; Xero-OpenAPI `xero_accounting.yaml`,
`xero-payroll-uk.yaml`; developer.xero.com/documentation/api/accounting/
requests-and-responses):
- Every call names the organisation in `xero-tenant-id` (a wrong or disconnected one is
  403 `AuthenticationUnsuccessful`) and asks for `Accept: application/json` (XML otherwise).
- Lists page with `page` (1-based) and `pageSize` (100 default, 1000 max on Contacts); a
  short page is the last. Payroll UK pages are 100 and take no `pageSize`.
- `If-Modified-Since` is UTC with second precision and filters on UpdatedDateUTC; Xero
  compares to the second and misses some edits (contact Balances, IsCustomer), so callers
  keep a second of overlap.
- Dates are `/Date(1552326816230+0000)/` (ms since the epoch, UTC; the offset is only a
  hint); Payroll UK uses naive ISO strings in UTC with up to 7 fractional digits.
- `summarizeErrors=false` answers 200 with every element carrying
  `StatusAttributeString` OK|WARNING|ERROR and its `ValidationErrors`; the default (true)
  answers 400 while still saving the valid elements, without telling us their ids.
- `Idempotency-Key` (<= 128 characters) on PUT/POST replays the first answer.
- 429 carries `Retry-After` (seconds) and `X-Rate-Limit-Problem`
  (minute|day|concurrent|appminute; PROVIDERS.md 3.4).
- Region: the Payroll UK API (`/payroll.xro/2.0`); its shape (camelCase, ISO dates,
  `problem`) is the one Payroll NZ and AU v2 share. The Accounting `/Employees` endpoint
  was removed on 2026-04-28 (PROVIDERS.md 3.3).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from booksync.engine.seam import ProviderSession
from booksync.errors import SyncFailure

ACCOUNTING = "/api.xro/2.0"
PAYROLL = "/payroll.xro/2.0"
CONTACTS_PAGE_SIZE = 1000  # Xero's maximum pageSize on Contacts (PROVIDERS.md 3.2)
PAYROLL_PAGE_SIZE = 100  # Payroll UK pages are fixed at 100
MAX_IDEMPOTENCY_KEY = 128
# near the end of the day's allowance booksync stops for an hour (Xero counts a rolling 24
# hours, so calls come back as the oldest of the day age out)
DAY_RESERVE = 50
DAY_HOLD_SECONDS = 3600
NUMBERED_PER_CALL = 10  # ContactNumbers ORed in one filter
IDS_PER_CALL = 40  # GUIDs or numbers in one list filter (~52 fit a URL, PROVIDERS.md 3.2)
HIGH_VOLUME = "HighVolumeException"  # the error Type of an inefficient filter (ErrorNumber 51)

_MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?:[+-]\d{4})?\)/$")
_FRACTION = re.compile(r"(\.\d{6})\d+")

# Xero gives a name clash only as text (no code): "The contact name X is already assigned
# to another contact. The contact name must be unique across all active contacts."
# (developer.xero.com/documentation/api/accounting/contacts; PROVIDERS.md 3.3).
_DUPLICATE_NAME = re.compile(r"\bcontact name\b.*\bis already assigned to another contact\b", re.S)

# Billing refusals Xero gives only as text (no code), matched here and nowhere else, in
# this order (a paid invoice answers "Invoice not of valid status for modification" and
# the allocation message together). Wordings: "Invoice # must be unique." (PROVIDERS.md
# 3.3); "The document date cannot be before the period lock date, currently set at ..." /
# "... the end of year lock date ..." (waynerobinson/xeroizer #92; help.dext.com 105721);
# "This document cannot be edited as it has a payment or credit note allocated to it."
# (civicrm civixero, fooman connect, Garage Hive); "Payment amount exceeds the amount
# outstanding on this document" (PROVIDERS.md 3.3); "The payment date cannot be in the
# future." (drdroid.io xero-api-invalid-payment-date, secondary).
_BILLING_REFUSALS = (
    (re.compile(r"\binvoice # must be unique\b", re.I), "xero.duplicate_invoice_number"),
    (
        re.compile(r"\bcannot be before the (period|end of year) lock date\b", re.I),
        "xero.period_locked",
    ),
    (
        re.compile(r"\bcannot be edited as it has a payment or credit note allocated\b", re.I),
        "xero.invoice_paid",
    ),
    (
        re.compile(r"\bpayment amount exceeds the amount outstanding\b", re.I),
        "xero.payment_overpays",
    ),
    (re.compile(r"\bpayment date cannot be in the future\b", re.I), "xero.payment_date_future"),
    (re.compile(r"\bpay period that has already been paid\b", re.I), "xero.leave_period_paid"),
)

RATE_PROBLEMS = {
    "minute": "the 60 calls a minute limit for this organisation",
    "day": "the daily limit of 5,000 calls for this organisation (a rolling 24 hours): "
    "syncing resumes when Xero allows",
    "concurrent": "the limit of 5 calls at once for this organisation",
    "appminute": "booksync's app-wide limit of 10,000 calls a minute",
}


# ------------------------------------------------------------------------------- dates


def parse_date(value: str) -> datetime:
    """An aware UTC datetime from `/Date(ms+0000)/` or an ISO string (naive = UTC)."""
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        return datetime.fromtimestamp(int(match.group("ms")) / 1000, tz=UTC)
    # Payroll prints 7 fractional digits ("2017-09-05T04:05:18.4009114"); Python reads 6
    parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def if_modified_since(since: datetime) -> str:
    """The header value: UTC, to the second, ISO (what xero-python sends)."""
    return since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------------------------ errors


def is_duplicate_name(message: str) -> bool:
    """Xero's duplicate contact name message (text only: the one place it is matched)."""
    return bool(_DUPLICATE_NAME.search(message))


def error_messages(body: Any) -> list[str]:
    """Xero's own messages from any of its error shapes, verbatim."""
    if isinstance(body, str):
        return [body.strip()] if body.strip() else []
    if not isinstance(body, Mapping):
        return []
    messages: list[str] = []
    for element in body.get("Elements") or []:
        messages.extend(error_messages(element))
    for item in body.get("ValidationErrors") or []:
        if isinstance(item, Mapping) and item.get("Message"):
            messages.append(str(item["Message"]))
    problem = body.get("problem")
    if isinstance(problem, Mapping):  # Payroll UK
        for field in problem.get("invalidFields") or []:
            if isinstance(field, Mapping):
                messages.append(f"{field.get('name')}: {field.get('reason')}")
        if not messages and problem.get("detail"):
            messages.append(str(problem["detail"]))
    if not messages:
        for key in ("Detail", "Message", "Title"):
            if body.get(key):
                messages.append(str(body[key]))
                break
    return messages


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = _header(headers, "Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def classify(status: int, body: Any, headers: Mapping[str, str]) -> SyncFailure:
    """The one mapping of a Xero error (HTTP status, error type, per-element errors) to a
    SyncFailure; Xero's message is kept verbatim.

    `body` is the parsed JSON (a whole answer or one `summarizeErrors=false` element) or
    the text of a non-JSON answer (503 outages are plain text, PROVIDERS.md 3.5).
    401 reaches here only if the token service let it through (it refreshes once and
    marks the connection needs_reauth on a second 401)."""
    message = "; ".join(error_messages(body))
    if status == 401:
        return SyncFailure("xero.token_expired", message, status=status)
    if status == 403:
        # wrong or disconnected xero-tenant-id: AuthenticationUnsuccessful (PROVIDERS.md 3.1)
        return SyncFailure("xero.not_authorised", message, status=status)
    if status == 429:
        problem = (_header(headers, "X-Rate-Limit-Problem") or "").strip().lower()
        what = RATE_PROBLEMS.get(problem, problem or "a rate limit")
        text = f"{message} (X-Rate-Limit-Problem: {problem or 'not given'}: {what})"
        # the day limit: Retry-After says when the rolling 24 hours allow a call again
        code = "xero.day_limit" if problem == "day" else "xero.rate_limited"
        return SyncFailure(code, text, retry_after=_retry_after(headers), status=status)
    if status >= 500:
        return SyncFailure(
            "xero.unavailable", message, retry_after=_retry_after(headers), status=status
        )
    messages = error_messages(body)
    if any(is_duplicate_name(m) for m in messages):
        return SyncFailure("xero.duplicate_name", message, status=status)
    for pattern, code in _BILLING_REFUSALS:
        if any(pattern.search(m) for m in messages):
            return SyncFailure(code, message, status=status)
    kind = str(body.get("Type") or "") if isinstance(body, Mapping) else ""
    return SyncFailure(
        "xero.validation",
        message or f"HTTP {status}",
        status=status,
        provider_codes=(kind,) if kind else (),
    )


def element_failure(element: Mapping[str, Any]) -> SyncFailure | None:
    """The failure of one `summarizeErrors=false` element, or None if Xero saved it."""
    status = str(element.get("StatusAttributeString") or "").upper()
    if status == "ERROR" or element.get("ValidationErrors"):
        return classify(400, element, {})
    return None


# ------------------------------------------------------------------------------ client


class XeroClient:
    """Authorised calls to one organisation (`session.company_id` is its tenant id)."""

    def __init__(
        self,
        session: ProviderSession,
        api_base: str | None = None,
        *,
        page_size: int = CONTACTS_PAGE_SIZE,
    ) -> None:
        self.session = session
        self.api_base = (api_base or session.api_base).rstrip("/")
        self.page_size = page_size

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        reply = self.session.request(
            method,
            f"{self.api_base}{path}",
            params=dict(params or {}),
            json=json,
            headers={
                "xero-tenant-id": self.session.company_id,
                "Accept": "application/json",
                **(headers or {}),
            },
        )
        body = _body(reply)
        self._mind_the_day(reply.headers)
        if not 200 <= reply.status_code < 300:
            raise classify(reply.status_code, body, reply.headers)
        if not isinstance(body, dict):
            raise SyncFailure(
                "xero.unavailable", f"HTTP {reply.status_code}: not JSON: {str(body)[:300]}"
            )
        return body

    def _mind_the_day(self, headers: Mapping[str, str]) -> None:
        """Every answer says how many calls the organisation's day allows still
        (X-DayLimit-Remaining, PROVIDERS.md 3.4). Near the end, the connection is held for
        DAY_HOLD_SECONDS with a sync error saying so, rather than running into 429s: the
        firm's other Xero apps share the allowance."""
        remaining = _header(headers, "X-DayLimit-Remaining")
        if remaining is None or not remaining.strip().isdigit():
            return
        left = int(remaining)
        if left > DAY_RESERVE:
            return
        until = datetime.now(UTC) + timedelta(seconds=DAY_HOLD_SECONDS)
        self.session.hold(
            DAY_HOLD_SECONDS,
            SyncFailure(
                "xero.day_limit",
                f"X-DayLimit-Remaining: {left}. booksync pauses this organisation's sync "
                f"until {until:%Y-%m-%d %H:%M} UTC to leave the rest of the day's calls "
                "to the firm's other Xero apps",
                retry_after=DAY_HOLD_SECONDS,
            ),
        )

    # -- contacts ------------------------------------------------------------------------

    def contacts(
        self,
        *,
        modified_since: datetime | None = None,
        include_archived: bool = True,
        where: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every contact (changed since `modified_since`; matching `where`), page by page."""
        headers = {"If-Modified-Since": if_modified_since(modified_since)} if modified_since else {}
        page = 1
        while True:
            params: dict[str, str | int] = {"page": page, "pageSize": self.page_size}
            if include_archived:
                params["includeArchived"] = "true"
            if where:
                params["where"] = where
            body = self._call("GET", f"{ACCOUNTING}/Contacts", params=params, headers=headers)
            items: list[dict[str, Any]] = list(body.get("Contacts") or [])
            yield from items
            if len(items) < self.page_size:
                return
            page += 1

    def contacts_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        """The contacts of these ContactIDs (`IDs`, 50 a call), archived included."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 50):
            part = ",".join(ids[start : start + 50])
            body = self._call("GET", f"{ACCOUNTING}/Contacts", params={"IDs": part})
            found += list(body.get("Contacts") or [])
        return found

    def contacts_numbered(self, numbers: list[str]) -> list[dict[str, Any]]:
        """Contacts whose ContactNumber is one of `numbers` (booksync writes the hub id
        there), archived included: a GET with a `where` of ORs per NUMBERED_PER_CALL. A
        long OR filter on a large organisation is refused with HighVolumeException
        (XeroAPI/xero-python issues), so the filter is kept short."""
        found: list[dict[str, Any]] = []
        size = NUMBERED_PER_CALL
        start = 0
        while start < len(numbers):
            part = numbers[start : start + size]
            where = " OR ".join(f'ContactNumber=="{n}"' for n in part)
            # paged, and (past a refusal) without OR: what a very large organisation takes
            # (developer.xero.com/documentation/api/efficient-data-retrieval)
            params: dict[str, str | int] = {"where": where, "includeArchived": "true", "page": 1}
            try:
                body = self._call("GET", f"{ACCOUNTING}/Contacts", params=params, headers={})
            except SyncFailure as failure:
                # a very large organisation refuses any OR filter: one number a call then
                if size > 1 and HIGH_VOLUME in failure.provider_codes:
                    size = 1
                    continue
                raise
            found.extend(body.get("Contacts") or [])
            start += len(part)
        return found

    def put_contacts(
        self, contacts: list[dict[str, Any]], idempotency_key: str
    ) -> list[dict[str, Any]]:
        """Create only (PUT): a name clash fails instead of updating the namesake."""
        return self._write("PUT", contacts, idempotency_key)

    def post_contacts(
        self, contacts: list[dict[str, Any]], idempotency_key: str
    ) -> list[dict[str, Any]]:
        """Create or update (POST; updates carry ContactID). Beware: Xero merges a POSTed
        contact without ContactID into the active contact of the same name (PROVIDERS.md
        3.3), so creates that must not merge go through `put_contacts`."""
        return self._write("POST", contacts, idempotency_key)

    def _write(
        self, method: str, contacts: list[dict[str, Any]], idempotency_key: str
    ) -> list[dict[str, Any]]:
        return self.write_elements(method, "Contacts", contacts, idempotency_key)

    def write_elements(
        self,
        method: str,
        path: str,
        elements: list[dict[str, Any]],
        idempotency_key: str,
        plural: str | None = None,
    ) -> list[dict[str, Any]]:
        """One PUT/POST of `elements` with `summarizeErrors=false`: one answer per element
        (`element_failure` tells a refused one), in order. `path` is under the Accounting
        base ("Invoices", "Payments/{id}"); `plural` the envelope's key (path's first part)."""
        if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise ValueError("a Xero Idempotency-Key has 1 to 128 characters")
        key = plural or path.split("/")[0]
        body = self._call(
            method,
            f"{ACCOUNTING}/{path}",
            params={"summarizeErrors": "false"},
            json={key: elements},
            headers={"Idempotency-Key": idempotency_key},
        )
        results: list[dict[str, Any]] = list(body.get(key) or [])
        if len(results) != len(elements):
            raise SyncFailure(
                "xero.unavailable",
                f"Xero answered {len(results)} {key.lower()} for {len(elements)} sent",
            )
        return results

    # -- billing -------------------------------------------------------------------------

    def listed(
        self,
        plural: str,
        params: Mapping[str, str | int] | None = None,
        *,
        modified_since: datetime | None = None,
        paged: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """A list endpoint's objects (`plural`: Invoices, Payments, Items, TaxRates,
        Accounts, BatchPayments); `paged` ones (Invoices, Payments) page by `pageSize`."""
        headers = {"If-Modified-Since": if_modified_since(modified_since)} if modified_since else {}
        page = 1
        while True:
            query: dict[str, str | int] = dict(params or {})
            if paged:
                query.update({"page": page, "pageSize": self.page_size})
            body = self._call("GET", f"{ACCOUNTING}/{plural}", params=query, headers=headers)
            items: list[dict[str, Any]] = list(body.get(plural) or [])
            yield from items
            if not paged or len(items) < self.page_size:
                return
            page += 1

    def invoices_numbered(self, numbers: list[str]) -> list[dict[str, Any]]:
        """ACCREC invoices whose InvoiceNumber is one of `numbers` (any status)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(numbers), IDS_PER_CALL):
            part = numbers[start : start + IDS_PER_CALL]
            found.extend(self.listed("Invoices", {"InvoiceNumbers": ",".join(part), "page": 1}))
        return found

    def invoices_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        """Invoices by InvoiceID, with AmountDue, Contact and their Payments."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), IDS_PER_CALL):
            part = ids[start : start + IDS_PER_CALL]
            found.extend(self.listed("Invoices", {"IDs": ",".join(part), "page": 1}))
        return found

    def payments_by_id(self, ids: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), IDS_PER_CALL):
            part = ids[start : start + IDS_PER_CALL]
            found.extend(self.listed("Payments", {"IDs": ",".join(part), "page": 1}))
        return found

    def batch_payment(self, batch_id: str) -> dict[str, Any] | None:
        """One BatchPayment (None: no such batch)."""
        try:
            body = self._call("GET", f"{ACCOUNTING}/BatchPayments/{batch_id}")
        except SyncFailure as failure:
            if failure.status == 404:
                return None
            raise
        found = list(body.get("BatchPayments") or [])
        return dict(found[0]) if found else None

    def organisation(self) -> dict[str, Any]:
        body = self._call("GET", f"{ACCOUNTING}/Organisation")
        found = list(body.get("Organisations") or [])
        return dict(found[0]) if found else {}

    # -- payroll -------------------------------------------------------------------------

    def employees(self) -> Iterator[dict[str, Any]]:
        """Every Payroll UK employee, page by page (no If-Modified-Since there)."""
        return self._payroll("Employees", "employees")

    def leave_types(self) -> Iterator[dict[str, Any]]:
        """Every Payroll UK leave type (`leaveTypeID`, `name`, `isPaidLeave`, `isActive`)."""
        return self._payroll("LeaveTypes", "leaveTypes")

    def employee_leave(self, employee_id: str) -> list[dict[str, Any]]:
        """An employee's leave applications (Payroll UK answers them in one list)."""
        body = self._call("GET", f"{PAYROLL}/Employees/{employee_id}/Leave")
        return list(body.get("leave") or [])

    def save_leave(
        self, employee_id: str, leave_id: str | None, body: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """Create (`leave_id` None: POST) or replace (PUT) a leave application."""
        path = f"{PAYROLL}/Employees/{employee_id}/Leave"
        answer = self._call(
            "PUT" if leave_id else "POST",
            f"{path}/{leave_id}" if leave_id else path,
            json=body,
            headers={"Idempotency-Key": idempotency_key[:128]},
        )
        return dict(answer.get("leave") or {})

    def delete_leave(self, employee_id: str, leave_id: str) -> None:
        """Remove a leave application; one already gone (404) is removed."""
        try:
            self._call("DELETE", f"{PAYROLL}/Employees/{employee_id}/Leave/{leave_id}")
        except SyncFailure as failure:
            if failure.status != 404:
                raise

    def _payroll(self, path: str, key: str) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self._call("GET", f"{PAYROLL}/{path}", params={"page": page})
            items: list[dict[str, Any]] = list(body.get(key) or [])
            yield from items
            pagination = body.get("pagination") or {}
            page_count = pagination.get("pageCount") if isinstance(pagination, dict) else None
            if len(items) < PAYROLL_PAGE_SIZE or (page_count is not None and page >= page_count):
                return
            page += 1


def _body(reply: requests.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text


def one_second_before(moment: datetime) -> datetime:
    """A cursor one second before `moment`, at second precision (If-Modified-Since gaps)."""
    return (moment - timedelta(seconds=1)).replace(microsecond=0)
