"""The two timesheet custom fields time entries need in QuickBooks Time ("Task type",
"Role"), kept in step with the hub's lists; made by "save and sync" (engine/outbox.py).

QBT allows 6 active custom fields (docs: CustomFields/_custom_fields.md.erb); without room
for ours this fails with `qbt.too_many_custom_fields`, naming the fields to deactivate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
NAMED_FAMILY = "qbt_named_fields"  # the other fields timesheets carry (the Xero import's)


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


@dataclass(frozen=True)
class Value:
    """One value of a managed-list field. `source_id`: its id where it comes from (a Xero
    ItemID or TrackingOptionID), so a rename there renames it here."""

    name: str
    source_id: str | None = None


@dataclass(frozen=True)
class FieldSpec:
    """A timesheet custom field booksync keeps: its key (task_type, role, item,
    tracking:<TrackingCategoryID>), name, values and whether a timesheet must have one."""

    key: str
    name: str
    values: tuple[Value, ...]
    required: bool = False


@dataclass
class FieldPlan:
    """What keeping one field in step will do (a dry run shows it; `apply` does it)."""

    key: str
    name: str
    current: dict[str, Any] | None  # the QBT field (None: to be made)
    spec: FieldSpec | None  # None: no longer wanted, deactivated
    added: list[Value] = field(default_factory=list)
    restored: list[dict[str, Any]] = field(default_factory=list)  # items made active again
    renamed: list[tuple[dict[str, Any], Value]] = field(default_factory=list)
    archived: list[dict[str, Any]] = field(default_factory=list)
    matched: dict[str, int] = field(default_factory=dict)  # source id -> QBT item id
    listed: int = 0  # custom fields the account listed (none at all: no add-on)

    @property
    def action(self) -> str:
        if self.spec is None:
            return "archive" if self.current is not None and self.current.get("active") else "none"
        if self.current is None:
            return "create"
        changes = []
        if not self.current.get("active"):
            changes.append("restore")
        if str(self.current.get("name")) != self.spec.name:
            changes.append("rename")
        if bool(self.current.get("required")) != self.spec.required:
            changes.append("required" if self.spec.required else "optional")
        return "+".join(changes) or "keep"

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.name,
            "action": self.action,
            "required": bool(self.spec.required) if self.spec else False,
            "values": len(self.spec.values) if self.spec else 0,
            "added": [v.name for v in self.added],
            "renamed": [{"from": str(i["name"]), "to": v.name} for i, v in self.renamed],
            "restored": [str(i["name"]) for i in self.restored],
            "archived": [str(i["name"]) for i in self.archived],
        }


def _find_field(
    fields: list[dict[str, Any]], name: str, known_id: str | None
) -> dict[str, Any] | None:
    """A field by the id an earlier run kept (renamed in QBT, it is still ours), else by
    name among timesheet fields, an active one first."""
    by_id = next((f for f in fields if known_id and str(f["id"]) == known_id), None)
    by_name = [
        f
        for f in fields
        if f.get("applies_to", "timesheet") == "timesheet"
        and str(f.get("name", "")).strip().casefold() == name.casefold()
    ]
    by_name.sort(key=lambda f: not f.get("active"))
    return by_id or (by_name[0] if by_name else None)


def plan_fields(
    client: QbtClient,
    specs: list[FieldSpec],
    *,
    known: Mapping[str, str] | None = None,
    known_values: Mapping[str, Mapping[str, int]] | None = None,
    retire: Iterable[str] = (),
    avoid: set[str] | None = None,
) -> list[FieldPlan]:
    """What keeping `specs` in step takes, read from QBT (one read of the fields, one of
    each existing field's items); nothing written. `known`: field ids of an earlier run
    by key; `known_values`: per key, source id -> QBT item id; `retire`: keys of fields
    an earlier run made that are no longer wanted (deactivated, never deleted); `avoid`:
    ids of fields that are another spec's (never matched by name).

    QBT allows 6 active custom fields (docs: CustomFields/_custom_fields.md.erb); without
    room this fails with `qbt.too_many_custom_fields`, naming the active fields that could
    be deactivated."""
    known = known or {}
    known_values = known_values or {}
    # applies_to defaults to 'timesheet'; the cap counts every active field, so read all.
    fields = client.get_all("customfields", {"active": "both", "applies_to": "all"})
    others = [f for f in fields if str(f["id"]) not in (avoid or set())]
    plans = [
        FieldPlan(
            s.key, s.name, _find_field(others, s.name, known.get(s.key)), s, listed=len(fields)
        )
        for s in specs
    ]
    taken = {str(p.current["id"]) for p in plans if p.current is not None}
    for key in retire:
        found = next((f for f in fields if str(f["id"]) == known.get(key)), None)
        if found is not None and str(found["id"]) not in taken:
            plans.append(FieldPlan(key, str(found["name"]), found, None, listed=len(fields)))
            taken.add(str(found["id"]))

    need = [p for p in plans if p.spec is not None and not (p.current and p.current.get("active"))]
    freed = sum(1 for p in plans if p.action == "archive")
    active_others = [f for f in fields if f.get("active") and str(f["id"]) not in taken]
    active_ours = sum(1 for p in plans if p.current is not None and p.current.get("active"))
    free = MAX_ACTIVE_CUSTOMFIELDS - len(active_others) - active_ours + freed
    if free < len(need):
        names = ", ".join(f"'{f['name']}'" for f in active_others)
        short = len(need) - free
        raise SyncFailure(
            "qbt.too_many_custom_fields",
            f"QuickBooks Time allows {MAX_ACTIVE_CUSTOMFIELDS} active custom fields and "
            f"booksync needs {len(need)} more ({', '.join(p.name for p in need)}). "
            f"Active now: {names or 'only booksync' + chr(39) + 's'}. Deactivate {short} of them.",
        )

    for p in plans:
        if p.spec is None or p.current is None:
            if p.spec is not None:
                p.added = list(_unique(p.spec.values))
            continue
        items = client.get_all(
            "customfielditems", {"customfield_id": p.current["id"], "active": "both"}
        )
        by_id = {int(i["id"]): i for i in items}
        by_name = {str(i["name"]).strip().casefold(): i for i in items}
        ids = known_values.get(p.key, {})
        kept: set[int] = set()
        for value in _unique(p.spec.values):
            item = by_id.get(ids.get(value.source_id, -1)) if value.source_id else None
            item = item or by_name.get(value.name.casefold())
            if item is None or int(item["id"]) in kept:
                p.added.append(value)
                continue
            kept.add(int(item["id"]))
            if value.source_id:
                p.matched[value.source_id] = int(item["id"])
            if str(item["name"]) != value.name:
                p.renamed.append((item, value))
            elif not item.get("active"):
                p.restored.append(item)
        p.archived = [i for i in items if i.get("active") and int(i["id"]) not in kept]
    return plans


def apply_fields(
    client: QbtClient, plans: list[FieldPlan]
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Carry out `plans`: fields made, restored, renamed, made (not) required or
    deactivated; their items added, restored, renamed, deactivated. Returns the field
    ids by key and, per key, source id -> QBT item id."""
    field_updates = []
    for p in plans:
        if p.current is None:
            continue
        change: dict[str, Any] = {}
        if p.spec is None:
            if p.current.get("active"):
                change["active"] = False
        else:
            if not p.current.get("active"):
                change["active"] = True
            if str(p.current.get("name")) != p.spec.name:
                change["name"] = p.spec.name
            if bool(p.current.get("required")) != p.spec.required:
                change["required"] = p.spec.required
        if change:
            field_updates.append((p, {"id": int(p.current["id"]), **change}))
    # deactivations first: they make room for what is restored or made
    field_updates.sort(key=lambda pair: pair[1].get("active", True) is not False)
    if field_updates:
        rows = _check(client.update("customfields", [body for _, body in field_updates]))
        for (p, _), row in zip(field_updates, rows, strict=True):
            p.current = row
    creates = [p for p in plans if p.current is None and p.spec is not None]
    if creates:
        bodies = [
            {
                "name": p.name,
                "type": "managed-list",
                "applies_to": "timesheet",
                # a required field with an empty list would stop every clock-in
                "required": bool(p.spec and p.spec.required and p.spec.values),
                "show_to_all": True,
                "active": True,
            }
            for p in creates
        ]
        created = client.create("customfields", bodies)
        refused = [a for a in created if isinstance(a, SyncFailure)]
        if refused and not creates[0].listed and refused[0].kind is Kind.NEEDS_FIX:
            # No field listed at all and ours refused: the Custom Fields add-on is not
            # installed (QuickBooks help "Set up and manage custom fields"; the API's own
            # answer without it is not documented, so the refusal is named by its context)
            raise SyncFailure("qbt.custom_fields_unavailable", refused[0].provider_message)
        for p, row in zip(creates, _check(created), strict=True):
            p.current = row

    new_items: list[tuple[FieldPlan, Value, dict[str, Any]]] = []
    changed: list[dict[str, Any]] = []
    for p in plans:
        if p.current is None or p.spec is None:
            continue
        fid = int(p.current["id"])
        new_items += [(p, v, {"customfield_id": fid, "name": v.name}) for v in p.added]
        changed += [{"id": int(i["id"]), "name": v.name, "active": True} for i, v in p.renamed]
        changed += [{"id": int(i["id"]), "active": True} for i in p.restored]
        changed += [{"id": int(i["id"]), "active": False} for i in p.archived]
    if new_items:
        items = _check(client.create("customfielditems", [body for *_, body in new_items]))
        for (p, value, _), row in zip(new_items, items, strict=True):
            if value.source_id:
                p.matched[value.source_id] = int(row["id"])
    if changed:
        _check(client.update("customfielditems", changed))
    ids = {p.key: str(p.current["id"]) for p in plans if p.current is not None and p.spec}
    return ids, {p.key: dict(p.matched) for p in plans if p.spec is not None}


def _unique(values: Iterable[Value]) -> list[Value]:
    out: dict[str, Value] = {}
    for value in values:
        name = value.name.strip()
        if name:
            out.setdefault(name.casefold(), Value(name, value.source_id))
    return list(out.values())


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
    (so a field renamed in QBT is still ours); see `plan_fields` for the cap."""
    client = QbtClient(session)
    wanted = {"task_type": task_types, "role": roles}
    specs = [
        FieldSpec(key, name, tuple(Value(v) for v in wanted[key]))
        for key, name in CUSTOM_FIELDS.items()
    ]
    plans = plan_fields(client, specs, known=known)
    for p in plans:  # the name and the rule the firm may have given them in QBT stay
        if p.current is not None and p.spec is not None:
            held = str(p.current.get("name")), bool(p.current.get("required"))
            p.spec = FieldSpec(p.key, held[0], p.spec.values, held[1])
    ids, _ = apply_fields(client, plans)
    return ids


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


def named_fields(connection_id: str) -> dict[str, str]:
    """Name -> id of the custom fields besides task type and role whose values a
    timesheet and its hub entry share (`custom_fields`): the Xero import's "Item" and
    tracking categories ({} when there are none)."""
    row = cursors.get(connection_id, NAMED_FAMILY)
    return dict(json.loads(row.position)) if row is not None and row.position else {}


def remember_named_fields(connection_id: str, fields: Mapping[str, str]) -> None:
    cursors.save(Cursor(connection_id, NAMED_FAMILY, position=json.dumps(dict(fields))))
