"""QuickBooks Time REST API v1 wire protocol: paging, batched writes, error envelopes.

Wire facts (PROVIDERS.md s2; TSheetsTeam/api_docs `source/includes/Overview/*`):
- GET answers `{"results": {"<endpoint>": {"<id>": {...}}}, "more": bool,
  "supplemental_data": {...}}`: results are maps keyed by id, not arrays; `page` is 1-based,
  `limit` at most 200 (`Overview/_request_formats.md.erb`).
- Writes are `POST`/`PUT {"data": [...]}` of at most 50 items (51 -> HTTP 413); the reply
  is HTTP 200 with one result per item keyed by its 1-based position, each with its own
  `_status_code` / `_status_message` / `_status_extra` (`Jobcodes/Examples/_create-response`).
- Errors are `{"error": {"code": n, "message": "..."}}`; 429 carries no Retry-After or rate
  header (`Overview/_welcome.md.erb`, "Request Throttling": 300 calls per 5-minute window).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from booksync.engine.seam import ProviderSession
from booksync.errors import Kind, SyncFailure

PAGE_LIMIT = 200  # docs: every retrieve page, `limit` "Default is 200. Max is 200."
MAX_BATCH = 50  # docs: every create/update page, "The maximum batch size is 50"
# QBT sends no Retry-After: a 429 lasts until the 5-minute window ends. We do not know where
# in the window we are, so wait a minute and try again (the budget in front of us keeps the
# retries from piling up).
THROTTLE_RETRY_SECONDS = 60.0
TIME_TRACKING_DISABLED = "TS-1006"  # docs: Users/_create.md.erb, the 403's quoted code

_VALIDATION = {400, 402, 404, 405, 406, 409, 413, 417, 499}

# A refused timesheet says why only in its words (417/406 with a text; docs:
# Timesheets/_create.md.erb lists the statuses, not the texts; the wordings below are the
# simulator's readings of the documented rules (U)). Matched here and nowhere else, each to
# a code whose fix a bookkeeper can follow.
_TIMESHEET_REFUSALS = (
    (re.compile(r"jobcode that has children", re.I), "qbt.jobcode_has_children"),
    (re.compile(r"\blocked\b", re.I), "qbt.timesheet_locked"),
    (re.compile(r"user does not exist or is archived", re.I), "qbt.user_inactive"),
    (re.compile(r"not a valid value for customfield", re.I), "qbt.custom_field_value"),
    (
        re.compile(r"\boverlaps?\b|conflict exists with another timesheet", re.I),
        "qbt.timesheet_overlap",
    ),
)


def _message(body: Any) -> str:
    """The provider's own words, verbatim: the error envelope's message, else the text."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("message") or "")
        if isinstance(error, str):  # OAuth-shaped {"error", "error_description"}
            return f"{error}: {body.get('error_description', '')}".rstrip(": ")
        return ""
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")[:500]
    return str(body or "")[:500]


def classify(status: int, body: Any, headers: Mapping[str, str] | None = None) -> SyncFailure:
    """The one place a QBT failure (whole request or one item of a batch) gets its code.

    Keyed on the HTTP status or the item's `_status_code`; the only text looked at is
    TS-1006, which QBT gives in the 403's message alone (docs: Users/_create.md.erb "403:
    Forbidden. TS-1006: User is not allowed to track time").
    """
    message = _message(body)
    if status == 429:
        return SyncFailure(  # no wait named: the hold escalates up to the window
            "qbt.throttled",
            message,
            retry_after=THROTTLE_RETRY_SECONDS,
            status=status,
            wait_named=False,
        )
    if status >= 500:
        return SyncFailure("qbt.unavailable", message, status=status)
    if status == 401:
        return SyncFailure("qbt.reauth_required", message, status=status)
    if status == 403 and TIME_TRACKING_DISABLED in message:
        return SyncFailure("qbt.time_tracking_disabled", message, status=status)
    if status in _VALIDATION or 400 <= status < 500:
        for pattern, code in _TIMESHEET_REFUSALS:
            if pattern.search(message):
                return SyncFailure(code, message, status=status)
        return SyncFailure("qbt.validation", message, status=status)
    return SyncFailure("qbt.unavailable", f"unexpected HTTP {status}: {message}", status=status)


def item_failure(result: Mapping[str, Any]) -> SyncFailure | None:
    """None when one item of a batch write succeeded (2xx), else its classified failure."""
    code = int(result.get("_status_code") or 0)
    if 200 <= code < 300:
        return None
    text = str(result.get("_status_extra") or result.get("_status_message") or "")
    return classify(code, {"error": {"code": code, "message": text}})


def _body(reply: requests.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text


def chunks(items: list[Any], size: int = MAX_BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class QbtClient:
    """Authorised calls to one connection's QuickBooks Time account."""

    def __init__(self, session: ProviderSession, api_base: str | None = None) -> None:
        self.session = session
        self.api_base = (api_base or session.api_base).rstrip("/")  # ends in /api/v1
        self.answered_at: datetime | None = None  # the last reply's `Date`: QBT's clock

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        url = f"{self.api_base}/{endpoint}"
        try:
            reply = self.session.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SyncFailure("qbt.unavailable", f"{type(exc).__name__}: {exc}") from exc
        body = _body(reply)
        with contextlib.suppress(TypeError, ValueError):
            self.answered_at = parsedate_to_datetime(reply.headers.get("Date") or "")
        # docs (Overview/_request_formats): "All 2xx response codes indicate that the
        # request was successful"; a write says per item how it went (_status_code), and
        # the whole answer may be 200, 201 or 207 Multi-Status (Intuit's .NET SDK)
        if not 200 <= reply.status_code < 300:
            raise classify(reply.status_code, body, reply.headers)
        if not isinstance(body, dict):
            raise SyncFailure("qbt.unavailable", f"not a JSON object: {str(body)[:200]}")
        return body

    def get_all(
        self, endpoint: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every object of `GET /<endpoint>` matching `params`, page after page while
        `more`, in id order; side-loads are not asked for (`supplemental_data=no`)."""
        query = {**(params or {}), "limit": PAGE_LIMIT, "supplemental_data": "no"}
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._call("GET", endpoint, params={**query, "page": page})
            results = (body.get("results") or {}).get(endpoint) or {}
            # docs: results are an object keyed by id (PROVIDERS.md s4: "treating results as
            # arrays" is the classic mistake); an empty page may come back as [].
            rows = results.values() if isinstance(results, dict) else results
            out.extend(dict(row) for row in rows)
            if not body.get("more"):
                return out
            page += 1

    def get(self, endpoint: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One raw GET (for endpoints that are not lists, e.g. last_modified_timestamps)."""
        body: dict[str, Any] = self._call("GET", endpoint, params=dict(params or {}))
        return body

    def delete(self, endpoint: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """DELETE `?ids=`: the reply keyed by id, each with its `_status_code` (docs:
        Timesheets/_delete.md.erb: "OK, deleted")."""
        body = self._call("DELETE", endpoint, params={"ids": ",".join(ids)})
        results = (body.get("results") or {}).get(endpoint) or {}
        return {str(k): dict(v) for k, v in results.items()} if isinstance(results, dict) else {}

    def create(
        self, endpoint: str, items: list[dict[str, Any]]
    ) -> list[dict[str, Any] | SyncFailure]:
        return self.write("POST", endpoint, items)

    def update(
        self, endpoint: str, items: list[dict[str, Any]]
    ) -> list[dict[str, Any] | SyncFailure]:
        return self.write("PUT", endpoint, items)

    def write(
        self, method: str, endpoint: str, items: list[dict[str, Any]]
    ) -> list[dict[str, Any] | SyncFailure]:
        """POST/PUT `items` in writes of 50; one answer per item, in order: the item's result
        (with `_status_code`, 2xx) or its classified failure.

        A whole-request failure is every item's failure in that write; after a transient or
        rate-limited one the remaining writes are not tried (they would fail alike).
        """
        answers: list[dict[str, Any] | SyncFailure] = []
        stop: SyncFailure | None = None
        for chunk in chunks(items):
            if stop is not None:
                answers.extend(stop for _ in chunk)
                continue
            try:
                body = self._call(method, endpoint, json={"data": chunk})
            except SyncFailure as failure:
                answers.extend(failure for _ in chunk)
                if failure.kind is not Kind.NEEDS_FIX:
                    stop = failure
                continue
            results = (body.get("results") or {}).get(endpoint) or {}
            for position in range(1, len(chunk) + 1):
                # docs: the write reply is keyed by the item's 1-based request position.
                result = results.get(str(position)) if isinstance(results, dict) else None
                if result is None:
                    answers.append(SyncFailure("qbt.unavailable", f"no result for item {position}"))
                    continue
                refused = item_failure(result)
                answers.append(refused if refused is not None else dict(result))
        return answers
