"""Xero's XML answers: what the Accounting API sends a client that does not ask for JSON.

XML is Xero's default format: "The Xero API supports XML (default) and JSON" (developer.xero
.com/documentation/api/accounting/requests-and-responses; Xero-OpenAPI issue #534; PROVIDERS.md
3.2). A client that forgets `Accept: application/json` gets a 200 with an XML body, not an
error, and must notice that itself. The shape, from Xero's published XML examples: a
`<Response>` root (`<ApiException>` for errors) with the JSON envelope's properties as
elements; each collection is a plural element holding singular ones (`<Contacts><Contact>`,
`<LineItems><LineItem>`, `<Elements><DataContractBase>` in a validation error); dates are ISO
(`2019-03-11T00:00:00`), not `/Date(ms)/`, and the JSON-only `*String` twins are absent;
booleans are `true`/`false`; null properties are left out.

Request bodies in XML are not covered (the simulator reads JSON bodies only).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from ..core import Response

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_SINGULAR = {
    "Tracking": "TrackingCategory",
    "Elements": "DataContractBase",
    "Addresses": "Address",
    "Organisations": "Organisation",
    "Options": "Option",
}
_NS = (
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
)


def singular(plural: str) -> str:
    if plural in _SINGULAR:
        return _SINGULAR[plural]
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith(("sses", "xes")):
        return plural[:-2]
    if plural.endswith("s"):
        return plural[:-1]
    return plural


def wants_json(accept: str | None) -> bool:
    """Only an Accept naming JSON gets JSON; none, `*/*` or XML types get XML."""
    return "json" in (accept or "").lower()


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        m = _MS_DATE.match(value)
        if m:
            when = datetime.fromtimestamp(int(m.group(1)) / 1000, UTC).replace(tzinfo=None)
            text = when.isoformat(timespec="milliseconds")
            return text[:-4] if text.endswith(".000") else text
        return escape(value)
    return escape(str(value))


def _element(name: str, value: Any, out: list[str]) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        out.append(f"<{name}>")
        _members(value, out)
        out.append(f"</{name}>")
    elif isinstance(value, list):
        out.append(f"<{name}>")
        child = singular(name)
        for item in value:
            _element(child, item, out)
        out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{_scalar(value)}</{name}>")


def _members(obj: dict[str, Any], out: list[str]) -> None:
    for key, value in obj.items():
        if key.endswith("String") and key[: -len("String")] in obj:
            continue  # DateString, DueDateString...: JSON-only twins of a date
        _element(key, value, out)


def to_xml(body: Any) -> str:
    root = "ApiException" if isinstance(body, dict) and "ErrorNumber" in body else "Response"
    out: list[str] = [f"<{root} {_NS}>"]
    if isinstance(body, dict):
        _members(body, out)
    out.append(f"</{root}>")
    return "".join(out)


def as_xml(resp: Response) -> Response:
    """The same answer in XML, if it is a JSON one (plain-text 404s and 204s stay)."""
    ctype = str(resp.headers.get("Content-Type", ""))
    if "json" not in ctype or not resp.body:
        return resp
    try:
        body = json.loads(resp.body)
    except ValueError:
        return resp
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-type"}
    return Response.text(resp.status, to_xml(body), "text/xml; charset=utf-8", headers)
