"""QBO employees <-> hub users (staff).

An unlinked user is matched to an existing employee by email, then by display name,
before anything is created (the time tracker we replace matches by display name).
DisplayName shares the customer/vendor/employee pool (6240). Pulled through CDC;
unlinked employees are matched to hub users or reviewed (hub/staff.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from booksync.engine.seam import ProviderSession, PushItem
from booksync.hub import content as hub
from booksync.providers.qbo.changes import ALL_ACTIVE_STATES, QboChanges
from booksync.providers.qbo.client import QboClient
from booksync.providers.qbo.mapping import display_name, valid_email
from booksync.providers.qbo.namelist import NameListFamily, Planned, list_all


def employee_from_user(user: hub.User) -> dict[str, Any]:
    """An Employee body; DisplayName shares the Customer/Vendor/Employee pool (6240)."""
    return {
        "GivenName": user.first_name,
        "FamilyName": user.last_name,
        "DisplayName": display_name(f"{user.first_name} {user.last_name}"),
        "PrimaryEmailAddr": {"Address": user.email},
        "Active": user.active,
    }


def user_from_employee(raw: dict[str, Any]) -> dict[str, Any]:
    """An Employee as hub user fields (first_name, last_name, email, active); task types
    and roles stay the caller's. An Employee without Given/FamilyName is split from its
    DisplayName; email is "" when QBO has none (or one the hub would refuse)."""
    given = str(raw.get("GivenName") or "").strip()
    family = str(raw.get("FamilyName") or "").strip()
    if not given and not family:
        parts = str(raw.get("DisplayName") or "").strip().split(" ", 1)
        given, family = parts[0], (parts[1] if len(parts) > 1 else "")
    email = str((raw.get("PrimaryEmailAddr") or {}).get("Address") or "").strip()
    return {
        "first_name": given[:100],
        "last_name": family[:100],
        "email": email if email and valid_email(email) else "",
        "active": raw.get("Active") is not False,
    }


def user_fingerprint(user: hub.User) -> str:
    return hub.content_hash(user_from_employee(employee_from_user(user)))


def employee_fingerprint(raw: dict[str, Any]) -> str:
    return hub.content_hash(user_from_employee(raw))


def match_user_for_employee(raw: dict[str, Any], users: Mapping[str, hub.User]) -> str | None:
    """The hub id of the user an Employee is: same email (case-insensitive) first, then the
    same display name ("First Last"); None when neither matches."""
    email = str((raw.get("PrimaryEmailAddr") or {}).get("Address") or "").strip().casefold()
    if email:
        for hub_id, user in users.items():
            if user.email.casefold() == email:
                return hub_id
    name = display_name(str(raw.get("DisplayName") or "")).casefold()
    if name:
        for hub_id, user in users.items():
            if display_name(f"{user.first_name} {user.last_name}").casefold() == name:
                return hub_id
    return None


def _user(content: Any) -> hub.User:
    return content if isinstance(content, hub.User) else hub.User.model_validate(content)


class Employees(NameListFamily):
    kind = "user"
    object_type = "Employee"
    entity = "Employee"
    managed_fields = ("first_name", "last_name", "email", "active")
    adopts = True
    source = QboChanges

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str], context: Any = None
    ) -> tuple[dict[str, Any], str]:
        user = _user(item.content)
        return employee_from_user(user), user_fingerprint(user)

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        return employee_fingerprint(raw)

    def intent(self, item: PushItem) -> dict[str, Any]:
        user = _user(item.content)
        return {"name": display_name(f"{user.first_name} {user.last_name}")}

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return user_from_employee(raw)

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        return list_all(session, self.entity)

    def existing_for(self, client: QboClient, planned: list[Planned]) -> dict[int, dict[str, Any]]:
        """An unlinked user is an existing employee of the same email, else of the same
        display name (one listing of the employees for the whole batch)."""
        if not planned:
            return {}
        employees = client.query("Employee", ALL_ACTIVE_STATES)
        by_email: dict[str, dict[str, Any]] = {}
        by_name: dict[str, dict[str, Any]] = {}
        for e in employees:
            email = str((e.get("PrimaryEmailAddr") or {}).get("Address") or "").casefold()
            if email:
                by_email.setdefault(email, e)
            by_name.setdefault(str(e.get("DisplayName") or "").strip().casefold(), e)
        found: dict[int, dict[str, Any]] = {}
        taken: set[str] = set()
        for p in planned:
            email = str(p.body["PrimaryEmailAddr"]["Address"]).casefold()
            name = str(p.body["DisplayName"]).casefold()
            match = by_email.get(email) or by_name.get(name)
            if match is not None and str(match["Id"]) not in taken:
                taken.add(str(match["Id"]))
                found[p.index] = match
        return found
