"""Xero's date formats: the Microsoft JSON `/Date(ms+0000)/` form and its ISO siblings.

Accounting 2.0 answers JSON dates as `/Date(1552326816230+0000)/` (the envelope's
`DateTimeUTC` has no offset: `/Date(1552326816230)/`), with ISO `DateString`/`DueDateString`
siblings on invoices (Xero-OpenAPI `xero_accounting.yaml`, e.g. the Invoice example
`"Date":"\\/Date(1518685950940+0000)\\/","DateString":"2018-02-15T00:00:00"`). Clients send
either form: xero-python serialises `date[ms-format]` fields as `/Date(ms)/`
(`api_client/serializer.py: serialize_date_ms`) while curl users send `YYYY-MM-DD`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from email.utils import parsedate_to_datetime

_MS_DATE = re.compile(r"^/Date\((?P<ms>-?\d+)(?P<tz>[+-]\d{4})?\)/$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class DateFormatError(ValueError):
    """A value that is neither `/Date(..)/` nor ISO 8601."""


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def ms_date(dt: datetime | date, offset: bool = True) -> str:
    """`/Date(ms+0000)/` (or `/Date(ms)/` with offset=False) for a datetime or a date."""
    if not isinstance(dt, datetime):
        dt = datetime.combine(dt, time(), tzinfo=UTC)
    return f"/Date({to_ms(dt)}{'+0000' if offset else ''})/"


def iso_string(d: date | datetime) -> str:
    """The `*String` sibling: `2018-02-15T00:00:00` (naive, no zone, as Xero prints it)."""
    if not isinstance(d, datetime):
        d = datetime.combine(d, time())
    return d.replace(tzinfo=None, microsecond=0).isoformat()


def parse_datetime(value: str) -> datetime:
    """A Xero date value as an aware UTC datetime.

    Accepts `/Date(ms)/`, `/Date(ms+hhmm)/`, `YYYY-MM-DD`, and ISO date-times with or
    without a zone (naive ones are taken as UTC, as Xero does for `*UTC` fields).
    """
    if not isinstance(value, str) or not value.strip():
        raise DateFormatError(f"not a date: {value!r}")
    value = value.strip()
    m = _MS_DATE.match(value)
    if m:
        dt = datetime.fromtimestamp(int(m.group("ms")) / 1000, tz=UTC)
        return dt
    if _ISO_DATE.match(value):
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DateFormatError(f"not a date: {value!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_date(value: str) -> date:
    """A transaction date (invoice `Date`, payment `Date`): the calendar day.

    A `/Date(ms+hhmm)/` with an offset names the local day; Xero stores the day only.
    """
    m = _MS_DATE.match(value.strip()) if isinstance(value, str) else None
    if m and m.group("tz"):
        tz = m.group("tz")
        sign = 1 if tz[0] == "+" else -1
        offset = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])))
        return datetime.fromtimestamp(int(m.group("ms")) / 1000, tz=offset).date()
    return parse_datetime(value).date()


def parse_if_modified_since(value: str) -> datetime:
    """The `If-Modified-Since` header: ISO 8601 (what xero-python sends, `datetime.isoformat()`)
    or the RFC 1123 HTTP date. Second precision: fractions are dropped, as Xero compares
    to the second (developer.xero.com/documentation/api/accounting/requests-and-responses).
    """
    value = value.strip()
    try:
        dt = parse_datetime(value)
    except DateFormatError:
        try:
            dt = parsedate_to_datetime(value)
        except (TypeError, ValueError) as exc:
            raise DateFormatError(f"bad If-Modified-Since: {value!r}") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).replace(microsecond=0)
