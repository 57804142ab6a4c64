"""Pure mappers between hub records and QuickBooks Time objects (no I/O).

Jobcodes: a contact is a top-level jobcode, a work item a child of its contact's jobcode
(client:job). Users: matched by email; created with time tracking on (QBT's default is off
and timesheets for such a user fail with TS-1006: docs Users/_create.md.erb).
"""

from __future__ import annotations

from typing import Any

from booksync.hub import content as hub

MAX_JOBCODE_NAME = 64  # docs: Jobcodes/_jobcodes.md.erb `name` "Cannot be more than 64 characters"
TOP_LEVEL = 0  # docs: Jobcodes `parent_id` "0 if the jobcode is a top-level jobcode"


def jobcode_name(name: str) -> str:
    """The hub name as QBT can hold it: trimmed, at most 64 characters."""
    return name.strip()[:MAX_JOBCODE_NAME].rstrip()


def same_name(a: str, b: str) -> bool:
    """QBT keeps jobcode names unique per parent regardless of case (U: the simulator's
    reading of docs' "unique for all jobcodes that share the same parent_id")."""
    return jobcode_name(a).casefold() == jobcode_name(b).casefold()


def jobcode_from_contact(contact: hub.Contact) -> dict[str, Any]:
    """A contact is a top-level regular jobcode; an inactive contact an archived one."""
    return {
        "name": jobcode_name(contact.name),
        "parent_id": TOP_LEVEL,
        "type": "regular",
        "active": contact.active,
    }


def jobcode_from_work_item(item: hub.WorkItem, parent_jobcode_id: int) -> dict[str, Any]:
    """A work item is a child of its contact's jobcode; once completed or cancelled nobody
    should track time on it, so its jobcode is archived."""
    return {
        "name": jobcode_name(item.name),
        "parent_id": int(parent_jobcode_id),
        "type": "regular",
        "active": item.status == "active",
    }


def jobcode_differs(wanted: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a write is needed to make the QBT jobcode say what the hub says."""
    return (
        str(current.get("name", "")) != wanted["name"]
        or int(current.get("parent_id") or 0) != int(wanted["parent_id"])
        or bool(current.get("active")) != bool(wanted["active"])
    )


def jobcode_update(jobcode_id: int, wanted: dict[str, Any], current_active: bool) -> dict[str, Any]:
    """The PUT item that brings a jobcode in line with the hub.

    An archived jobcode cannot be edited unless the same edit restores it, and archiving
    cascades to children (docs: Jobcodes/_jobcodes.md.erb `active`; _update.md.erb). So: an
    active hub record sends `active: true` with its name (restore and rename at once); an
    inactive one archives the jobcode as it is renamed.
    """
    body: dict[str, Any] = {"id": int(jobcode_id), "name": wanted["name"]}
    body["parent_id"] = int(wanted["parent_id"])
    if wanted["active"] or current_active:
        body["active"] = bool(wanted["active"])
    return body


def username_for(email: str, taken: set[str]) -> str:
    """The QBT username for a new user: the email, made unique if someone already uses it
    (usernames are unique per account: docs Users/_users.md.erb)."""
    base = email.strip().lower()
    if base not in taken:
        return base
    local, _, domain = base.partition("@")
    n = 2
    while f"{local}+{n}@{domain}" in taken:
        n += 1
    return f"{local}+{n}@{domain}"


def user_from_hub(user: hub.User, username: str | None = None) -> dict[str, Any]:
    """A QBT user to create: username from the email, time tracking on."""
    return {
        "username": username or user.email.strip().lower(),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "active": user.active,
        # docs: Users/_create.md.erb: `time_tracking` defaults to false, and timesheets for
        # such a user are refused with "403 TS-1006".
        "permissions": {"time_tracking": True},
    }


def user_update(user_id: int, user: hub.User) -> dict[str, Any]:
    """The PUT item for a linked user. The username (their login) and permissions are left
    as the firm's QBT admin set them."""
    return {
        "id": int(user_id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "active": user.active,
    }


def normal_email(value: Any) -> str:
    return str(value or "").strip().casefold()


HUB_USER_FIELDS = {"first_name", "last_name", "email", "active"}


def hub_user_from_qbt(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The hub-shaped content of a QBT user, or None if it cannot be a hub user (no email or
    no name). Only the fields QBT knows: task types and roles are the hub's own."""
    email = str(raw.get("email") or "").strip()
    first = str(raw.get("first_name") or "").strip()
    last = str(raw.get("last_name") or "").strip()
    if not (email and first and last):
        return None
    try:
        user = hub.User(
            first_name=first,
            last_name=last,
            email=email,
            active=bool(raw.get("active", True)),
        )
    except ValueError:
        return None
    return user.model_dump(mode="json", include=HUB_USER_FIELDS)
