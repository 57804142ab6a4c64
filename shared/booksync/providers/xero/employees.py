"""Xero Payroll UK employees -> hub users (in only: booksync does not create employees).

Payroll UK has no If-Modified-Since: every employee is read, and those changed since the
cursor are kept. An organisation without Payroll UK answers 403/404: contacts still sync,
and the pull says so in its log. Matched to hub users on first name, last name and email
together (hub/staff.py), as the integration booksync replaces does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import Field

from booksync.engine.seam import Change, Family, Page, ProviderSession
from booksync.errors import Kind, SyncFailure
from booksync.hub.content import User
from booksync.observability import logger
from booksync.providers.xero.client import XeroClient, one_second_before, parse_date


def user_from_payroll_employee(raw: dict[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """A hub User dump from a Payroll UK employee. An employee whose `endDate` has passed
    has left: inactive. Raises pydantic.ValidationError when the employee cannot be a hub
    user (no email: booksync matches users on first name, last name and email)."""
    today = today or datetime.now(UTC).date()
    end = _text(raw.get("endDate"))
    left = bool(end) and date.fromisoformat(end[:10]) < today
    user = User(
        first_name=_text(raw.get("firstName")),
        last_name=_text(raw.get("lastName")),
        email=_text(raw.get("email")),
        active=not left,
    )
    return user.model_dump(mode="json", exclude={"task_types", "roles"})


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


class XeroEmployees:
    """Payroll UK employees changed since the cursor (Xero's own clock, less a second)."""

    name = "xero.employees"
    topics = ()  # Xero sends no payroll webhooks: read by the schedules and by hand

    def __init__(self, families: Sequence[Family] = ()) -> None:
        self.families = tuple(families)

    def read(self, session: ProviderSession, cursor: str | None) -> Page:
        since = parse_date(cursor) if cursor else None
        out: list[Change] = []
        latest = since
        try:
            employees = list(XeroClient(session).employees())
        except SyncFailure as failure:
            # an organisation without Payroll UK (403, 404): contacts still sync. A 401
            # is not caught: the token service has already judged the grant.
            if failure.kind is not Kind.NEEDS_FIX and failure.code != "xero.not_authorised":
                raise
            logger.warning(
                "xero payroll employees not readable; users skipped",
                extra={"code": failure.code, "provider_message": failure.provider_message},
            )
            return Page([], cursor or "")
        for raw in employees:
            stamp = parse_date(str(raw.get("updatedDateUTC") or raw.get("createdDateUTC")))
            if since is not None and stamp.replace(microsecond=0) <= since:
                continue
            before = one_second_before(stamp)
            latest = before if latest is None or before > latest else latest
            out.append(
                Change(
                    object_type="Employee",
                    provider_id=str(raw["employeeID"]),
                    provider_version=stamp.isoformat(),
                    raw=raw,
                    changed_at=stamp,
                )
            )
        return Page(out, latest.isoformat() if latest else "")


class PayrollEmployees(Family):
    provider = "xero"
    kind = "user"
    object_type = "Employee"
    managed_fields = ("first_name", "last_name", "email", "active")
    adopts = True
    pushes = False
    source = XeroEmployees
    settings = {
        "leave_mapping": (
            dict[str, str],
            Field(
                default_factory=dict,
                description="QuickBooks Time time-off code (PTO jobcode id) -> Xero leave "
                "type id; set with PUT /v1/connections/xero/leave-mapping",
            ),
        ),
    }

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return False  # in only

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return user_from_payroll_employee(raw)

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        """Every payroll employee (the source's read from the start: one listing)."""
        return [c.raw for c in XeroEmployees().read(session, None).changes if c.raw]
