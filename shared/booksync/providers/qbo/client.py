"""QuickBooks Online Accounting API v3, wire protocol only: URLs, paging, batch, CDC and
error envelopes turned into booksync.errors.SyncFailure (PROVIDERS.md section 1).

Everything goes through engine.seam.ProviderSession (tokens, 401 refresh, rate budget);
this module never sees a token and knows nothing about hub records.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests

from booksync.engine.seam import ProviderSession
from booksync.errors import SyncFailure

# Every value below 75 (or none) acts as 75 since 2025-08-01 (blogs.intuit.com 2025/01/21);
# we name it so a later default cannot change answers under us.
MINOR_VERSION = "75"
PAGE_SIZE = 1000  # MAXRESULTS ceiling (PROVIDERS.md 1.3 Query)
BATCH_MAX = 30  # more -> 1040 (PROVIDERS.md 1.3 Batch)
# QBO names no wait (PROVIDERS.md 1.4: Retry-After (U)); its longest window is a minute,
# and the connection's hold escalates up to it (engine/budget.py Budget.hold)
DEFAULT_RETRY_AFTER = 60.0
JSON_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def quote(value: str) -> str:
    """A query string literal: `'` escaped as `\\'` (PROVIDERS.md 1.3 Query; an unescaped
    quote is a 4000 parser error, mcohen01/node-quickbooks #56). The URL encoding is
    requests' job."""
    return "'" + value.replace("'", "\\'") + "'"


# ----------------------------------------------------------------------- errors


def _errors_of(body: Any) -> tuple[list[dict[str, str]], str]:
    """(errors as {code, message, detail}, fault type) from either Fault shape:
    `{"Fault":{"Error":[{"Message","Detail","code"}],"type"}}` (API) or the gateway's
    lowercase `{"fault":{"error":[{"message","detail","code"}]}}` (401/403; PROVIDERS.md 1.5)."""
    if not isinstance(body, Mapping):
        return [], ""
    fault = body.get("Fault") or body.get("fault")
    if not isinstance(fault, Mapping):
        return [], ""
    raw = fault.get("Error") or fault.get("error") or []
    out = []
    for err in raw if isinstance(raw, list) else [raw]:
        if isinstance(err, Mapping):
            out.append(
                {
                    "code": str(err.get("code") or "").strip(),
                    "message": str(err.get("Message") or err.get("message") or ""),
                    "detail": str(err.get("Detail") or err.get("detail") or ""),
                }
            )
    return out, str(fault.get("type") or "")


_XML_FAULT = re.compile(r"<(?:\w+:)?Fault\b[^>]*?\btype=\"([^\"]*)\"", re.DOTALL)
_XML_ERROR = re.compile(
    r"<(?:\w+:)?Error\b[^>]*?\bcode=\"([^\"]*)\"[^>]*>(.*?)</(?:\w+:)?Error>", re.DOTALL
)


def _xml_text(inner: str, tag: str) -> str:
    found = re.search(rf"<(?:\w+:)?{tag}>(.*?)</(?:\w+:)?{tag}>", inner, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


def _xml_errors(text: str) -> tuple[list[dict[str, str]], str]:
    """The XML Fault QBO often sends with a 429 even to Accept: application/json
    (PROVIDERS.md 1.4): `<IntuitResponse><Fault type><Error code><Message/><Detail/>`.
    Read with two patterns rather than an XML parser: the body is untrusted and flat."""
    fault = _XML_FAULT.search(text)
    errors = [
        {
            "code": code.strip(),
            "message": _xml_text(inner, "Message"),
            "detail": _xml_text(inner, "Detail"),
        }
        for code, inner in _XML_ERROR.findall(text)
    ]
    return errors, fault.group(1) if fault else ""


def _parse_body(body: Any) -> tuple[list[dict[str, str]], str, str]:
    """(errors, fault type, raw text) from a dict, JSON text or XML text."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, Mapping):
        errors, ftype = _errors_of(body)
        return errors, ftype, json.dumps(body)[:1000]
    text = str(body or "")
    stripped = text.lstrip()
    if stripped.startswith("<"):
        errors, ftype = _xml_errors(stripped)
        return errors, ftype, text[:1000]
    try:
        errors, ftype = _errors_of(json.loads(text))
    except ValueError:
        errors, ftype = [], ""
    return errors, ftype, text[:1000]


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The wait QBO named (it usually names none)."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(1.0, float(value))
            except ValueError:
                break
    return None


# The one place that matches text: a 5010 whose Message says the period is closed
# (python-quickbooks #208 shows "Account Period Closed, Cannot Update Through Services API"
# with code 5010; PROVIDERS.md 1.5). Classified as period closed, not as a stale object.
_PERIOD_CLOSED_TEXT = re.compile(r"account\s+period\s+closed", re.IGNORECASE)
# A customer (or job) with an open balance cannot be made inactive: QBO answers a 6000
# business validation error whose text names it ("Delete List Has Balance Error";
# ruckus/quickbooks-ruby #390). Only the text tells it from other 6000s.
_HAS_BALANCE_TEXT = re.compile(r"has\s+balance|open\s+balance", re.IGNORECASE)
# Past an app's monthly CorePlus allowance (Intuit App Partner Program, blogs.intuit.com
# 2025-08-11, 2026-01-08) reads are refused; the answer is not documented (403 or 429 in
# the simulator's modes, (U)), so the one sure sign is that it names CorePlus.
_COREPLUS_TEXT = re.compile(r"coreplus", re.IGNORECASE)
# A company on QuickBooks Payroll may refuse an employee's time activity (the issue tracker
# asks for it; Intuit documents no code, so the simulator offers it as a mode with a 6000):
# the text naming payroll is the one sign.
_PAYROLL_TEXT = re.compile(r"\bpayroll\b", re.IGNORECASE)


def classify(status: int, body: Any, headers: Mapping[str, str] | None = None) -> SyncFailure:
    """A QBO error answer as a SyncFailure, on HTTP status and QBO code (PROVIDERS.md 1.5).

    `body`: the reply body (dict, JSON or XML text). The provider's Message and Detail are
    kept verbatim in provider_message. Batch items pass their Fault with the status its
    type implies (SystemFault 500, else 400)."""
    errors, _ftype, text = _parse_body(body)
    codes = [e["code"] for e in errors]
    message = (
        "; ".join(": ".join(p for p in (e["message"], e["detail"]) if p) for e in errors)
        or text
        or f"HTTP {status}"
    )

    def failure(
        code: str, retry_after: float | None = None, wait_named: bool = True
    ) -> SyncFailure:
        return SyncFailure(
            code,
            message,
            retry_after=retry_after,
            status=status,
            provider_codes=tuple(codes),
            wait_named=wait_named,
        )

    if _COREPLUS_TEXT.search(message):
        return failure("qbo.app_blocked")
    if status == 429 or "3001" in codes:
        named = _retry_after(headers)
        if named is None:
            return failure("qbo.throttled", DEFAULT_RETRY_AFTER, wait_named=False)
        return failure("qbo.throttled", named)
    if "6240" in codes:
        return failure("qbo.duplicate_name")
    if "6140" in codes:
        return failure("qbo.duplicate_doc_number")
    if "620" in codes:  # "TxnID Cannot Be Linked": another customer's invoice, or gone
        return failure("qbo.payment_not_linkable")
    if "6200" in codes or "6210" in codes:
        return failure("qbo.period_closed")
    if "5010" in codes:
        if any(_PERIOD_CLOSED_TEXT.search(e["message"] + " " + e["detail"]) for e in errors):
            return failure("qbo.period_closed")
        return failure("qbo.stale_object")
    if "610" in codes:
        return failure("qbo.object_not_found")
    if _HAS_BALANCE_TEXT.search(message):
        return failure("qbo.has_open_balance")
    if "6000" in codes and _PAYROLL_TEXT.search(message):
        return failure("qbo.payroll_refused")
    if "6180" in codes:
        return failure("qbo.depth_limit")
    if status == 401 or "3200" in codes or (status == 403 and "3100" in codes):
        # The gateway refused the grant (TokenService already refreshed once).
        return failure("qbo.reauth_required")
    if status >= 500 or "10000" in codes:
        return failure("qbo.unavailable")
    return failure("qbo.validation")


def classify_item_fault(fault: Mapping[str, Any]) -> SyncFailure:
    """A batch item's `Fault` (HTTP 200 overall), classified like a whole reply."""
    status = 500 if str(fault.get("type", "")).lower() == "systemfault" else 400
    return classify(status, {"Fault": fault})


# ----------------------------------------------------------------------- client


class QboClient:
    """One QBO company (realm) through a ProviderSession."""

    def __init__(self, session: ProviderSession, api_base: str | None = None) -> None:
        self.session = session
        base = api_base or session.api_base
        self.base = f"{base.rstrip('/')}/v3/company/{session.company_id}"
        self.server_time: str | None = None  # the `time` of the last reply (server clock)

    # -- plumbing

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        cost: int = 1,
    ) -> dict[str, Any]:
        query = {"minorversion": MINOR_VERSION, **(params or {})}
        try:
            reply = self.session.request(
                method,
                f"{self.base}/{path}",
                cost=cost,
                params=query,
                headers=JSON_HEADERS,
                data=json.dumps(body) if body is not None else None,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SyncFailure("qbo.unavailable", f"{type(exc).__name__}: {exc}") from exc
        if reply.status_code >= 400:
            raise classify(reply.status_code, reply.text, reply.headers)
        try:
            data = reply.json()
        except ValueError as exc:
            raise SyncFailure(
                "qbo.unavailable", f"HTTP {reply.status_code}, not JSON: {reply.text[:300]}"
            ) from exc
        if not isinstance(data, dict):
            raise SyncFailure("qbo.unavailable", f"unexpected reply: {reply.text[:300]}")
        if "Fault" in data:  # a 200 that carries a Fault (seen on /batch-level errors)
            raise classify(400, data, reply.headers)
        if isinstance(data.get("time"), str):
            self.server_time = data["time"]
        return data

    # -- reads

    def read(self, entity: str, object_id: str) -> dict[str, Any]:
        data = self._call("GET", f"{entity.lower()}/{object_id}")
        obj: dict[str, Any] = data[entity]
        return obj

    def query(self, entity: str, where: str = "", order: str = "") -> list[dict[str, Any]]:
        """Every row of `SELECT * FROM entity [WHERE] [ORDERBY]`, paged by STARTPOSITION
        (1-based) and MAXRESULTS 1000 until a short page (PROVIDERS.md 1.3 Query).
        Values in `where` must be written with `quote()`."""
        text = f"SELECT * FROM {entity}"  # noqa: S608 - QBO query language, values quote()d
        if where:
            text += f" WHERE {where}"
        if order:
            text += f" ORDERBY {order}"
        rows: list[dict[str, Any]] = []
        start = 1
        while True:
            data = self._call(
                "GET",
                "query",
                params={"query": f"{text} STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"},
            )
            page = (data.get("QueryResponse") or {}).get(entity) or []
            rows.extend(page)
            if len(page) < PAGE_SIZE:
                return rows
            start += PAGE_SIZE

    def cdc(
        self, entities: list[str], changed_since: datetime | str
    ) -> dict[str, list[dict[str, Any]]]:
        """Objects of `entities` changed since then, deletions included as
        `{"Id","status":"Deleted","MetaData"}` (PROVIDERS.md 1.3 CDC: <= 30 days back,
        <= 1000 objects in all). The reply's server time is left in `server_time`."""
        since = changed_since if isinstance(changed_since, str) else changed_since.isoformat()
        data = self._call(
            "GET", "cdc", params={"entities": ",".join(entities), "changedSince": since}
        )
        out: dict[str, list[dict[str, Any]]] = {e: [] for e in entities}
        for block in data.get("CDCResponse") or []:
            for qr in block.get("QueryResponse") or []:
                for key, value in qr.items():
                    if isinstance(value, list):
                        out.setdefault(key, []).extend(value)
        return out

    # -- writes

    def create(
        self, entity: str, body: dict[str, Any], requestid: str | None = None
    ) -> dict[str, Any]:
        """POST /{entity}; a repeated `requestid` returns the first answer without
        creating again (PROVIDERS.md 1.3 requestid, <= 50 chars)."""
        params = {"requestid": requestid} if requestid else None
        data = self._call("POST", entity.lower(), params=params, body=body)
        obj: dict[str, Any] = data[entity]
        return obj

    def update(self, entity: str, body: dict[str, Any], sparse: bool = True) -> dict[str, Any]:
        """POST /{entity} with Id and SyncToken. Sparse by default: a full update clears
        every field not sent (PROVIDERS.md 1.3 Concurrency, 4 "commonly got wrong")."""
        data = self._call("POST", entity.lower(), body={**body, "sparse": sparse})
        obj: dict[str, Any] = data[entity]
        return obj

    def delete(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /{entity}?operation=delete with Id and SyncToken (transactions; PROVIDERS.md
        1.2): the answer names the object with `status: Deleted`."""
        data = self._call("POST", entity.lower(), params={"operation": "delete"}, body=body)
        obj: dict[str, Any] = data.get(entity) or {}
        return obj

    def void(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /{entity}?operation=void with Id and SyncToken (Invoice; PROVIDERS.md 1.2):
        the transaction stays, its amounts zeroed and "Voided" in its PrivateNote."""
        data = self._call("POST", entity.lower(), params={"operation": "void"}, body=body)
        obj: dict[str, Any] = data.get(entity) or {}
        return obj

    def send_invoice(self, invoice_id: str, to: str) -> dict[str, Any]:
        """POST /invoice/{id}/send?sendTo=: QBO e-mails the invoice to `to`, which becomes
        its BillEmail (PROVIDERS.md 1.3 Invoice); the answer is the Invoice with
        EmailStatus EmailSent. Sending is not replay-safe: callers send once per request."""
        data = self._call("POST", f"invoice/{invoice_id}/send", params={"sendTo": to})
        obj: dict[str, Any] = data.get("Invoice") or {}
        return obj

    def batch(
        self, items: list[dict[str, Any]], requestid: str | None = None
    ) -> list[dict[str, Any]]:
        """POST /batch with up to 30 items, each with its `bId`; the answers in the items'
        order (a Fault per failed item, HTTP 200 overall; PROVIDERS.md 1.3 Batch).
        `requestid` (<= 36 chars on /batch) makes the whole call replay-safe."""
        if not items:
            return []
        if len(items) > BATCH_MAX:
            raise ValueError(f"a QBO batch takes at most {BATCH_MAX} items, not {len(items)}")
        params = {"requestid": requestid} if requestid else None
        # QBO counts every batch item against the rate limit (PROVIDERS.md 1.3)
        data = self._call(
            "POST", "batch", params=params, body={"BatchItemRequest": items}, cost=len(items)
        )
        answers = {str(a.get("bId")): a for a in data.get("BatchItemResponse") or []}
        out = []
        for item in items:
            answer = answers.get(str(item["bId"]))
            if answer is None:
                answer = {
                    "bId": item["bId"],
                    "Fault": {
                        "type": "SystemFault",
                        "Error": [{"code": "10000", "Message": "no answer for this batch item"}],
                    },
                }
            out.append(answer)
        return out
