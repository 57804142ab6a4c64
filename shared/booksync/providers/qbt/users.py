"""QuickBooks Time users <-> hub users (staff).

Matched by email before anything is created (QBT allows two users with one email: the
first active one is taken); created with time tracking on (QBT's default is off, and
timesheets for such a user fail with TS-1006: docs Users/_create.md.erb). Pulled from the
newest `last_modified` seen; a QBT user without an email or a name cannot be a hub user and
is listed by `unmatched_users` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from booksync.engine.seam import Change, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub import content as hub
from booksync.providers.qbt import custom_fields, time_off
from booksync.providers.qbt.changes import ReadByEndpoint, stamp
from booksync.providers.qbt.client import MAX_BATCH, PAGE_LIMIT, QbtClient
from booksync.providers.qbt.common import PROVIDER, finish, linked_elsewhere, pushed

# ----------------------------------------------------------------------- mapper


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


def _user(content: Any) -> hub.User:
    return content if isinstance(content, hub.User) else hub.User.model_validate(content)


def _hash(user: hub.User) -> str:
    """Hash of the user as QBT holds it: only the fields a pull maps back, so our own
    write read back is seen as an echo."""
    return hub.content_hash(user.model_dump(mode="json", include=HUB_USER_FIELDS))


# ----------------------------------------------------------------------- family


def _user_differs(user: hub.User, current: Mapping[str, Any]) -> bool:
    return (
        str(current.get("email") or "") != user.email
        or str(current.get("first_name") or "") != user.first_name
        or str(current.get("last_name") or "") != user.last_name
        or bool(current.get("active")) != user.active
    )


class Users(ReadByEndpoint):
    """Hub users as QBT users: matched by email (not username) before anything is created;
    created with time tracking on. Pulled from `modified_since`; unlinked QBT users are
    matched to hub users by email (hub/staff.py)."""

    provider = PROVIDER
    kind = "user"
    object_type = "user"
    max_batch = MAX_BATCH
    listing_page = PAGE_LIMIT
    managed_fields = ("first_name", "last_name", "email", "active")
    adopts = True
    endpoints = ("users",)

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return hub_user_from_qbt(raw)

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        """Every user, active or not (drift)."""
        return QbtClient(session).get_all("users", {"active": "both"})

    def unchanged_since(self, version: str | None, raw: dict[str, Any]) -> bool:
        """The link keeps the user's last_modified."""
        return version is not None and str(raw.get("last_modified")) == version

    def read_endpoint(
        self, session: ProviderSession, client: QbtClient, endpoint: str, since: str | None
    ) -> tuple[list[Change], str | None]:
        """Users changed since `since` (all of them the first time)."""
        params: dict[str, Any] = {"active": "both"}
        if since:
            params["modified_since"] = since
        newest: str | None = None
        out: list[Change] = []
        for raw in client.get_all("users", params):
            modified = str(raw.get("last_modified") or "")
            if not modified:
                continue
            if newest is None or stamp(modified) > stamp(newest):
                newest = modified
            out.append(
                Change(
                    object_type="user",
                    provider_id=str(raw["id"]),
                    provider_version=modified,
                    raw=raw,
                    changed_at=stamp(modified),
                )
            )
        users = [c.raw for c in out if c.raw is not None]
        return out + time_off.reapproved(session, client, users), newest

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = QbtClient(session)
        results: list[Pushed | Exception | None] = [None] * len(items)
        try:
            # docs: Users/_retrieve.md.erb has no email filter: matching by email means
            # reading the account's users (one call per 200).
            everyone = client.get_all("users", {"active": "both"})
        except SyncFailure as failure:
            return [failure for _ in items]
        by_id = {str(u["id"]): u for u in everyone}
        by_email: dict[str, dict[str, Any]] = {}
        for u in sorted(everyone, key=lambda u: not u.get("active")):  # active ones first
            if normal_email(u.get("email")):
                by_email.setdefault(normal_email(u.get("email")), u)
        taken = {str(u.get("username") or "").lower() for u in everyone}

        updates: list[tuple[int, hub.User, dict[str, Any]]] = []
        creates: list[tuple[int, hub.User, dict[str, Any]]] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            user = _user(item.content)
            email = normal_email(user.email)
            if email in seen:
                results[index] = SyncFailure(
                    "qbt.validation", f"Another user sent with this one has the email {email}"
                )
                continue
            seen.add(email)
            current: dict[str, Any] | None = by_id.get(item.link.provider_id) if item.link else None
            if current is None:
                current = by_email.get(email)
                if current is not None:
                    taken_by = linked_elsewhere(
                        session, "user", "user", current["id"], item.record.record_id
                    )
                    if taken_by is not None:
                        results[index] = taken_by
                        continue
            if current is None:
                username = username_for(user.email, taken)
                taken.add(username)
                creates.append((index, user, user_from_hub(user, username)))
            elif _user_differs(user, current):
                updates.append((index, user, user_update(int(current["id"]), user)))
            else:
                results[index] = pushed(item, current, _hash(user))
        for method, batch in (("POST", creates), ("PUT", updates)):
            if not batch:
                continue
            answers: list[dict[str, Any] | SyncFailure] = client.write(
                method, "users", [body for _, _, body in batch]
            )
            for (index, user, _), answer in zip(batch, answers, strict=True):
                results[index] = (
                    answer
                    if isinstance(answer, SyncFailure)
                    else pushed(items[index], answer, _hash(user))
                )
        synced = [
            _user(i.content) for i, r in zip(items, results, strict=True) if isinstance(r, Pushed)
        ]
        try:  # their task types and roles become values of the timesheet custom fields
            custom_fields.add_values(
                session,
                (t for u in synced for t in u.task_types),
                (r for u in synced for r in u.roles),
            )
        except SyncFailure as failure:  # tried again with the users (matched, not re-made)
            results = [failure if isinstance(r, Pushed) else r for r in results]
        return finish(results)


# ----------------------------------------------------------------------- unmatched users


UNMATCHED_REASONS = {
    "no_email": "This QuickBooks Time user has no email address",
    "no_hub_user": "No booksync user has this email address",
    "archived": "This QuickBooks Time user is archived",
}


def unmatched_users(
    session: ProviderSession, hub_users: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """QBT users no hub user matches by email, each with why: {"qbt_user_id", "username",
    "name", "email", "active", "reason" (a key of UNMATCHED_REASONS), "explanation"}."""
    hub_emails = {normal_email(u.get("email")) for u in hub_users}
    hub_emails.discard("")
    out: list[dict[str, Any]] = []
    for raw in QbtClient(session).get_all("users", {"active": "both"}):
        email = normal_email(raw.get("email"))
        if email and email in hub_emails:
            continue
        if not email:
            reason = "no_email"
        elif not raw.get("active"):
            reason = "archived"
        else:
            reason = "no_hub_user"
        out.append(
            {
                "qbt_user_id": str(raw["id"]),
                "username": str(raw.get("username") or ""),
                "name": f"{raw.get('first_name') or ''} {raw.get('last_name') or ''}".strip(),
                "email": str(raw.get("email") or ""),
                "active": bool(raw.get("active")),
                "reason": reason,
                "explanation": UNMATCHED_REASONS[reason],
            }
        )
    return out
