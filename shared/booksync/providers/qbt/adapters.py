"""booksync's QuickBooks Time adapters: contacts and work items as jobcodes, users, and the
two timesheet custom fields time entries need.

QBT has no idempotency key (PROVIDERS.md s2; DESIGN.md "exactly-once out"), so before
creating anything we look for it: a jobcode with the same name under the same parent, a
user with the same email. A retry after a write whose reply (or link) was lost therefore
finds the object instead of duplicating it. For jobcodes QBT looks too: a create whose
parent, name and type already exist answers 202 with that jobcode instead of making a
second one, so a batch of many new names is sent straight away and the 202s are linked
(a GET per name, or a listing of every sibling, would cost more calls than the batch
itself). Jobcodes are pushed only: a rename in QBT does not change the hub (the link is
the id, not the name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from booksync.engine.seam import Change, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub import content as hub
from booksync.providers.qbt import mapping
from booksync.providers.qbt.client import MAX_BATCH, PAGE_LIMIT, QbtClient
from booksync.settings import get_settings
from booksync.store import links

PROVIDER = "qbt"
JobcodeKind = Literal["contact", "work_item"]
# Few unlinked records under one parent are looked up first, one GET by name each (a
# found one costs no write). More go straight to the create, which is QBT's own look-up
# (202, above): listing the parent's jobcodes instead would cost one call per 200 of them
# for every batch, 25 a batch at 5,000 clients.
LOOKUP_BY_NAME_UP_TO = 3

MAX_ACTIVE_CUSTOMFIELDS = 6  # docs: CustomFields/_custom_fields.md.erb
TASK_TYPE_FIELD = "Task type"
ROLE_FIELD = "Role"
CUSTOM_FIELDS = {"task_type": TASK_TYPE_FIELD, "role": ROLE_FIELD}


def client_for(session: ProviderSession, api_base: str | None = None) -> QbtClient:
    """A client for the session's account; the base URL from settings unless given."""
    return QbtClient(session, api_base or get_settings().providers.qbt_api_base)


def _model(kind: str, content: Any) -> Any:
    model = hub.KIND_MODELS[kind]
    return content if isinstance(content, model) else model.model_validate(content)


def _hash(content: BaseModel) -> str:
    """Hash of the hub content as QBT holds it. For a user that is only the fields a pull
    maps back (mapping.HUB_USER_FIELDS), so our own write read back is seen as an echo."""
    if isinstance(content, hub.User):
        return hub.content_hash(content.model_dump(mode="json", include=mapping.HUB_USER_FIELDS))
    return hub.content_hash(content.model_dump(mode="json"))


def _pushed(item: PushItem, content: BaseModel, obj: Mapping[str, Any]) -> Pushed:
    return Pushed(
        hub_id=item.record.record_id,
        provider_id=str(obj["id"]),
        provider_version=str(obj.get("last_modified") or "") or None,
        content_hash=_hash(content),
    )


def _linked_elsewhere(
    session: ProviderSession, kind: str, provider_id: Any, hub_id: str
) -> SyncFailure | None:
    """A failure if the object found by name/email already belongs to another hub record."""
    other = links.find_by_provider_id(session.tenant_id, PROVIDER, kind, str(provider_id))
    if other is None or other.hub_key == f"{kind}#{hub_id}":
        return None
    return SyncFailure(
        "qbt.validation",
        f"QuickBooks Time {'user' if kind == 'user' else 'jobcode'} {provider_id} already "
        f"belongs to another {kind.replace('_', ' ')} in booksync",
    )


def _by_ids(client: QbtClient, endpoint: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted(set(ids), key=int)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), PAGE_LIMIT):
        part = wanted[start : start + PAGE_LIMIT]
        params: dict[str, Any] = {"ids": ",".join(part), "active": "both"}
        if endpoint == "jobcodes":
            params["type"] = "all"
        for row in client.get_all(endpoint, params):
            found[str(row["id"])] = row
    return found


# ----------------------------------------------------------------------------- jobcodes


@dataclass
class _Plan:
    """One item's way through a push: what QBT should say, and what it says now."""

    index: int
    item: PushItem
    content: BaseModel
    wanted: dict[str, Any]
    current: dict[str, Any] | None = None


class JobcodePush:
    """Contacts (top-level) and work items (children of their contact's jobcode) as QBT
    jobcodes. `assign_to_all_users`: new jobcodes are assigned to every user (None: the
    connection's `assign_new_jobcodes_to_all_users` setting)."""

    provider = PROVIDER
    max_batch = MAX_BATCH

    def __init__(
        self,
        kind: JobcodeKind,
        *,
        api_base: str | None = None,
        assign_to_all_users: bool | None = None,
    ) -> None:
        if kind not in ("contact", "work_item"):
            raise ValueError(f"jobcodes are made from contacts and work items, not {kind}")
        self.kind: str = kind
        self.api_base = api_base
        self.assign_to_all_users = assign_to_all_users

    def _assign_all(self, session: ProviderSession) -> bool:
        if self.assign_to_all_users is not None:
            return self.assign_to_all_users
        settings = session.connection.settings or {}
        return bool(settings.get("assign_new_jobcodes_to_all_users", False))

    def _wanted(self, session: ProviderSession, content: Any) -> dict[str, Any]:
        if isinstance(content, hub.Contact):
            return mapping.jobcode_from_contact(content)
        assert isinstance(content, hub.WorkItem)
        parent = links.get_link(session.tenant_id, PROVIDER, "contact", content.contact_id)
        if parent is None:
            # Parent before child: the contact's push is queued ahead of its work items
            # (same FIFO group), so this is a matter of waiting, not of fixing.
            raise SyncFailure("qbt.unavailable", "client jobcode not yet in QuickBooks Time")
        return mapping.jobcode_from_work_item(content, int(parent.provider_id))

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = client_for(session, self.api_base)
        results: list[Pushed | Exception | None] = [None] * len(items)
        plans: list[_Plan] = []
        for index, item in enumerate(items):
            try:
                content = _model(self.kind, item.content)
                plans.append(_Plan(index, item, content, self._wanted(session, content)))
            except SyncFailure as failure:
                results[index] = failure

        # 1. Linked: update by id (the link is the id, not the name). Renames go first so
        #    that a name they free can be taken by a new record of the same batch.
        linked = [p for p in plans if p.item.link is not None]
        try:
            current = _by_ids(
                client, "jobcodes", (p.item.link.provider_id for p in linked if p.item.link)
            )
        except SyncFailure as failure:
            for p in plans:
                results[p.index] = failure
            return _finish(results)
        unlinked = [p for p in plans if p.item.link is None]
        for p in linked:
            assert p.item.link is not None
            p.current = current.get(p.item.link.provider_id)
            if p.current is None:  # gone from QBT (another account?): find or create again
                unlinked.append(p)
        self._update(client, [p for p in linked if p.current is not None], results)

        # 2. Unlinked: a jobcode with the same name under the same parent is linked, not
        #    duplicated (QBT has no idempotency key); the rest are created.
        try:
            self._find(client, session, unlinked, results)
        except SyncFailure as failure:
            for p in unlinked:
                results[p.index] = results[p.index] or failure
            return _finish(results)
        found = [p for p in unlinked if results[p.index] is None and p.current is not None]
        missing = [p for p in unlinked if results[p.index] is None and p.current is None]
        self._create(client, session, missing, results)
        # A create answered 202 (the same name appeared meanwhile) joins the found ones.
        found += [p for p in missing if results[p.index] is None and p.current is not None]
        self._update(client, found, results)
        return _finish(results)

    def _find(
        self,
        client: QbtClient,
        session: ProviderSession,
        plans: list[_Plan],
        results: list[Pushed | Exception | None],
    ) -> None:
        by_parent: dict[int, list[_Plan]] = {}
        claimed: dict[tuple[int, str], int] = {}
        for p in plans:
            key = (int(p.wanted["parent_id"]), p.wanted["name"].casefold())
            if key in claimed:
                results[p.index] = SyncFailure(
                    "qbt.validation",
                    f"Another {self.kind.replace('_', ' ')} sent with this one is also named "
                    f"'{p.wanted['name']}'; QuickBooks Time needs names unique under a parent",
                )
                continue
            claimed[key] = p.index
            by_parent.setdefault(key[0], []).append(p)
        for group in by_parent.values():
            if len(group) <= LOOKUP_BY_NAME_UP_TO:
                self._look_up(client, session, group, results)

    def _look_up(
        self,
        client: QbtClient,
        session: ProviderSession,
        plans: list[_Plan],
        results: list[Pushed | Exception | None],
    ) -> None:
        """Set each plan's `current` to the jobcode of its name under its parent, if any:
        one GET each."""
        for p in plans:
            params = {
                "parent_ids": p.wanted["parent_id"],
                "active": "both",
                "type": "regular",
                "name": p.wanted["name"],
            }
            # docs: Jobcodes/_retrieve.md.erb `name`: "*" is a wildcard, so a name with "*"
            # matches more: the exact (case-insensitive) match is made here.
            p.current = next(
                (
                    row
                    for row in client.get_all("jobcodes", params)
                    if mapping.jobcode_name(str(row["name"])).casefold()
                    == p.wanted["name"].casefold()
                ),
                None,
            )
            if p.current is not None:
                failure = _linked_elsewhere(
                    session, self.kind, p.current["id"], p.item.record.record_id
                )
                if failure is not None:
                    results[p.index] = failure

    def _create(
        self,
        client: QbtClient,
        session: ProviderSession,
        plans: list[_Plan],
        results: list[Pushed | Exception | None],
    ) -> None:
        if not plans:
            return
        extra = {"assigned_to_all": True} if self._assign_all(session) else {}
        answers: list[dict[str, Any] | SyncFailure] = client.create(
            "jobcodes", [{**p.wanted, **extra} for p in plans]
        )
        unnamed: list[_Plan] = []
        for p, answer in zip(plans, answers, strict=True):
            if isinstance(answer, SyncFailure):
                results[p.index] = answer
            elif answer.get("_status_code") == 202:
                # docs: Jobcodes/_create.md.erb 202 "accepted but not created because a
                # jobcode with the same parent_id, name and type already exists".
                if not answer.get("id"):
                    unnamed.append(p)  # whether 202 carries the id is unconfirmed
                    continue
                p.current = dict(answer)
                failure = _linked_elsewhere(
                    session, self.kind, answer["id"], p.item.record.record_id
                )
                if failure is not None:
                    results[p.index] = failure
            else:
                results[p.index] = _pushed(p.item, p.content, answer)
        self._look_up(client, session, unnamed, results)
        for p in unnamed:
            if p.current is None and results[p.index] is None:
                results[p.index] = SyncFailure(
                    "qbt.validation",
                    "QuickBooks Time answered that a jobcode of this name exists under this "
                    "parent, but none was found by name",
                )

    def _update(
        self, client: QbtClient, plans: list[_Plan], results: list[Pushed | Exception | None]
    ) -> None:
        writes: list[_Plan] = []
        for p in plans:
            assert p.current is not None
            still_archived = not p.wanted["active"] and not p.current.get("active")
            if still_archived or not mapping.jobcode_differs(p.wanted, p.current):
                # Nothing to write; an archived jobcode cannot be edited (it keeps its old
                # name until the hub record is active again and the restore renames it).
                results[p.index] = _pushed(p.item, p.content, p.current)
            else:
                writes.append(p)
        if not writes:
            return
        bodies = [
            mapping.jobcode_update(int(p.current["id"]), p.wanted, bool(p.current.get("active")))
            for p in writes
            if p.current is not None
        ]
        answers = client.update("jobcodes", bodies)
        for p, answer in zip(writes, answers, strict=True):
            results[p.index] = (
                answer if isinstance(answer, SyncFailure) else _pushed(p.item, p.content, answer)
            )


def _finish(results: list[Pushed | Exception | None]) -> list[Pushed | Exception]:
    return [
        r if r is not None else SyncFailure("qbt.unavailable", "no answer for this record")
        for r in results
    ]


# -------------------------------------------------------------------------------- users


def _user_differs(user: hub.User, current: Mapping[str, Any]) -> bool:
    return (
        str(current.get("email") or "") != user.email
        or str(current.get("first_name") or "") != user.first_name
        or str(current.get("last_name") or "") != user.last_name
        or bool(current.get("active")) != user.active
    )


class UserPush:
    """Hub users as QBT users: matched by email (not username) before anything is created;
    created with time tracking on."""

    provider = PROVIDER
    kind = "user"
    max_batch = MAX_BATCH

    def __init__(self, *, api_base: str | None = None) -> None:
        self.api_base = api_base

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = client_for(session, self.api_base)
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
            if mapping.normal_email(u.get("email")):
                by_email.setdefault(mapping.normal_email(u.get("email")), u)
        taken = {str(u.get("username") or "").lower() for u in everyone}

        updates: list[tuple[int, hub.User, dict[str, Any]]] = []
        creates: list[tuple[int, hub.User, dict[str, Any]]] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            user: hub.User = _model("user", item.content)
            email = mapping.normal_email(user.email)
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
                    taken_by = _linked_elsewhere(
                        session, "user", current["id"], item.record.record_id
                    )
                    if taken_by is not None:
                        results[index] = taken_by
                        continue
            if current is None:
                username = mapping.username_for(user.email, taken)
                taken.add(username)
                creates.append((index, user, mapping.user_from_hub(user, username)))
            elif _user_differs(user, current):
                updates.append((index, user, mapping.user_update(int(current["id"]), user)))
            else:
                results[index] = _pushed(item, user, current)
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
                    else _pushed(items[index], user, answer)
                )
        return _finish(results)


# ------------------------------------------------------------------------ custom fields


def _names(values: Iterable[str]) -> list[str]:
    out: dict[str, str] = {}
    for value in values:
        name = value.strip()
        if name:
            out.setdefault(name.casefold(), name)
    return list(out.values())


def _check(answers: list[dict[str, Any] | SyncFailure]) -> list[dict[str, Any]]:
    for answer in answers:
        if isinstance(answer, SyncFailure):
            raise answer
    return [a for a in answers if not isinstance(a, SyncFailure)]


def ensure_custom_fields(
    session: ProviderSession,
    task_types: list[str],
    roles: list[str],
    *,
    api_base: str | None = None,
    known: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Find or create the timesheet custom fields "Task type" and "Role" (managed lists)
    and keep their items in step with the hub's lists: missing ones added (or restored),
    ones no longer listed deactivated (never deleted: old timesheets keep their values).

    Returns {"task_type": id, "role": id}. `known`: ids from an earlier run, found first
    (so a field renamed in QBT is still ours). QBT allows 6 active custom fields (docs:
    CustomFields/_custom_fields.md.erb); without room for ours this fails with
    `qbt.too_many_custom_fields`, naming the active fields that could be deactivated.
    """
    client = client_for(session, api_base)
    # applies_to defaults to 'timesheet'; the cap counts every active field, so read all.
    fields = client.get_all("customfields", {"active": "both", "applies_to": "all"})
    ours: dict[str, dict[str, Any]] = {}
    for key, name in CUSTOM_FIELDS.items():
        by_id = next((f for f in fields if known and str(f["id"]) == known.get(key)), None)
        by_name = [
            f
            for f in fields
            if f.get("applies_to", "timesheet") == "timesheet"
            and str(f.get("name", "")).strip().casefold() == name.casefold()
        ]
        by_name.sort(key=lambda f: not f.get("active"))  # an active one first
        match = by_id or (by_name[0] if by_name else None)
        if match is not None:
            ours[key] = match

    need = [key for key in CUSTOM_FIELDS if not (key in ours and ours[key].get("active"))]
    ours_ids = {str(f["id"]) for f in ours.values()}
    active_others = [f for f in fields if f.get("active") and str(f["id"]) not in ours_ids]
    active_ours = sum(1 for f in ours.values() if f.get("active"))
    free = MAX_ACTIVE_CUSTOMFIELDS - len(active_others) - active_ours
    if free < len(need):
        names = ", ".join(f"'{f['name']}'" for f in active_others)
        short = len(need) - free
        raise SyncFailure(
            "qbt.too_many_custom_fields",
            f"QuickBooks Time allows {MAX_ACTIVE_CUSTOMFIELDS} active custom fields and "
            f"booksync needs {len(need)} more ({', '.join(CUSTOM_FIELDS[k] for k in need)}). "
            f"Active now: {names}. Deactivate {short} of them.",
        )

    restores = [key for key in need if key in ours]
    if restores:
        restored = [{"id": int(ours[key]["id"]), "active": True} for key in restores]
        for key, row in zip(restores, _check(client.update("customfields", restored)), strict=True):
            ours[key] = row
    creates = [key for key in need if key not in ours]
    if creates:
        bodies = [
            {
                "name": CUSTOM_FIELDS[key],
                "type": "managed-list",
                "applies_to": "timesheet",
                # Not required: a required field with an empty list would stop every clock-in.
                "required": False,
                "show_to_all": True,
                "active": True,
            }
            for key in creates
        ]
        for key, made in zip(creates, _check(client.create("customfields", bodies)), strict=True):
            ours[key] = made

    wanted = {"task_type": _names(task_types), "role": _names(roles)}
    new_items: list[dict[str, Any]] = []
    changed_items: list[dict[str, Any]] = []
    for key, field in ours.items():
        items = client.get_all(
            "customfielditems", {"customfield_id": field["id"], "active": "both"}
        )
        have = {str(i["name"]).strip().casefold(): i for i in items}
        keep = {n.casefold() for n in wanted[key]}
        for name in wanted[key]:
            existing = have.get(name.casefold())
            if existing is None:
                new_items.append({"customfield_id": int(field["id"]), "name": name})
            elif not existing.get("active"):
                changed_items.append({"id": int(existing["id"]), "active": True})
        for folded, row in have.items():
            if folded not in keep and row.get("active"):
                changed_items.append({"id": int(row["id"]), "active": False})
    if new_items:
        _check(client.create("customfielditems", new_items))
    if changed_items:
        _check(client.update("customfielditems", changed_items))
    return {key: str(field["id"]) for key, field in ours.items()}


# ------------------------------------------------------------------------------ pulling


def _stamp(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class QbtPull:
    """Users changed in QBT since the cursor, as hub-shaped changes.

    The cursor is the newest `last_modified` seen (the provider's own clock, not ours).
    `modified_since` is inclusive (docs: Users/_retrieve.md.erb), so the newest users come
    back once more on the next pull: their content equals the link's hash and the engine
    ignores them as echoes. Skipping them instead would lose a change made later within the
    same second. Jobcodes are not pulled: a rename in QBT does not change the hub."""

    provider = PROVIDER

    def __init__(self, *, api_base: str | None = None) -> None:
        self.api_base = api_base

    def changes(self, session: ProviderSession, cursor: str | None) -> tuple[list[Change], str]:
        client = client_for(session, self.api_base)
        params: dict[str, Any] = {"active": "both"}
        if cursor:
            params["modified_since"] = cursor
        newest = cursor or ""
        out: list[Change] = []
        for raw in client.get_all("users", params):
            modified = str(raw.get("last_modified") or "")
            if not modified:
                continue
            if not newest or _stamp(modified) > _stamp(newest):
                newest = modified
            content = mapping.hub_user_from_qbt(raw)
            if content is None:  # no email or name: cannot be a hub user (unmatched_users)
                continue
            out.append(
                Change(
                    kind="user",
                    provider_id=str(raw["id"]),
                    provider_version=modified,
                    content=content,
                    changed_at=_stamp(modified),
                )
            )
        return out, newest


# ----------------------------------------------------------------------- unmatched users

UNMATCHED_REASONS = {
    "no_email": "This QuickBooks Time user has no email address",
    "no_hub_user": "No booksync user has this email address",
    "archived": "This QuickBooks Time user is archived",
}


def unmatched_users(
    session: ProviderSession, hub_users: list[dict[str, Any]], *, api_base: str | None = None
) -> list[dict[str, Any]]:
    """QBT users no hub user matches by email, each with why: {"qbt_user_id", "username",
    "name", "email", "active", "reason" (a key of UNMATCHED_REASONS), "explanation"}."""
    hub_emails = {mapping.normal_email(u.get("email")) for u in hub_users}
    hub_emails.discard("")
    out: list[dict[str, Any]] = []
    for raw in client_for(session, api_base).get_all("users", {"active": "both"}):
        email = mapping.normal_email(raw.get("email"))
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
