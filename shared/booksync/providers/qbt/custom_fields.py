"""The two timesheet custom fields time entries need in QuickBooks Time ("Task type",
"Role"), kept in step with the hub's lists; made by "save and sync" (engine/outbox.py).

QBT allows 6 active custom fields (docs: CustomFields/_custom_fields.md.erb); without room
for ours this fails with `qbt.too_many_custom_fields`, naming the fields to deactivate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from booksync.engine.seam import ProviderSession
from booksync.errors import Kind, SyncFailure
from booksync.providers.qbt.client import QbtClient
from booksync.store import Cursor, cursors
from booksync.store import records as hub_records

MAX_ACTIVE_CUSTOMFIELDS = 6  # docs: CustomFields/_custom_fields.md.erb
TASK_TYPE_FIELD = "Task type"
ROLE_FIELD = "Role"
CUSTOM_FIELDS = {"task_type": TASK_TYPE_FIELD, "role": ROLE_FIELD}
CURSOR_FAMILY = "qbt_custom_fields"


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
    client = QbtClient(session)
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
        answers = client.create("customfields", bodies)
        refused = [a for a in answers if isinstance(a, SyncFailure)]
        if refused and not fields and refused[0].kind is Kind.NEEDS_FIX:
            # No field listed at all and ours refused: the Custom Fields add-on is not
            # installed (QuickBooks help "Set up and manage custom fields"; the API's own
            # answer without it is not documented, so the refusal is named by its context)
            raise SyncFailure("qbt.custom_fields_unavailable", refused[0].provider_message)
        for key, made in zip(creates, _check(answers), strict=True):
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


def setup(session: ProviderSession) -> dict[str, str]:
    """The two custom fields, their items the task types and roles of the hub's users;
    their ids kept with the connection's cursors. Raises SyncFailure."""
    users = hub_records.all_of_kind(session.tenant_id, "user")
    task_types = sorted({t for u in users for t in u.data.get("task_types", [])})
    roles = sorted({r for u in users for r in u.data.get("roles", [])})
    conn_id = str(session.connection.connection_id)
    known = cursors.get(conn_id, CURSOR_FAMILY)
    ids = ensure_custom_fields(
        session,
        task_types,
        roles,
        known=json.loads(known.position) if known is not None and known.position else None,
    )
    cursors.save(Cursor(conn_id, CURSOR_FAMILY, position=json.dumps(ids)))
    return ids


def add_values(session: ProviderSession, task_types: Iterable[str], roles: Iterable[str]) -> None:
    """Make sure these task types and roles are items of the two fields (added, or
    restored if deactivated; nothing removed): a user who joins or gains a task type
    after "save and sync" can have time with it at once. Two reads (one per field) and at
    most two writes; nothing before the fields exist. Raises SyncFailure."""
    ids = field_ids(str(session.connection.connection_id))
    wanted = {"task_type": _names(task_types), "role": _names(roles)}
    if not ids or not any(wanted.values()):
        return
    client = QbtClient(session)
    new_items: list[dict[str, Any]] = []
    restored: list[dict[str, Any]] = []
    for key, names in wanted.items():
        if not names or key not in ids:
            continue
        items = client.get_all("customfielditems", {"customfield_id": ids[key], "active": "both"})
        have = {str(i["name"]).strip().casefold(): i for i in items}
        for name in names:
            existing = have.get(name.casefold())
            if existing is None:
                new_items.append({"customfield_id": int(ids[key]), "name": name})
            elif not existing.get("active"):
                restored.append({"id": int(existing["id"]), "active": True})
    if new_items:
        _check(client.create("customfielditems", new_items))
    if restored:
        _check(client.update("customfielditems", restored))


def field_ids(connection_id: str) -> dict[str, str]:
    """The custom fields' ids from the last setup ({} before the first)."""
    row = cursors.get(connection_id, CURSOR_FAMILY)
    return dict(json.loads(row.position)) if row is not None and row.position else {}
