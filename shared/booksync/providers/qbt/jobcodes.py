"""QuickBooks Time jobcodes <- hub contacts (top level) and work items (children of their
contact's jobcode): client:job, for time tracking. Pushed only: a rename in QBT does not
change the hub (the link is the id, not the name).

QBT has no idempotency key (PROVIDERS.md s2; DESIGN.md "exactly-once out"), so before
creating anything we look for it: a jobcode with the same name under the same parent. A
retry after a write whose reply (or link) was lost therefore finds the object instead of
duplicating it. QBT looks too: a create whose parent, name and type already exist answers
202 with that jobcode instead of making a second one, so a batch of many new names is sent
straight away and the 202s are linked (a GET per name, or a listing of every sibling,
would cost more calls than the batch itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from booksync.engine.seam import Family, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub import content as hub
from booksync.hub.settings import ASSIGN_ALL, CONTACT_TYPES, SYNC
from booksync.providers.qbt.client import MAX_BATCH, QbtClient
from booksync.providers.qbt.common import PROVIDER, by_ids, finish, linked_elsewhere, pushed
from booksync.store import links

JobcodeKind = Literal["contact", "work_item"]
# Few unlinked records under one parent are looked up first, one GET by name each (a
# found one costs no write). More go straight to the create, which is QBT's own look-up
# (202, above): listing the parent's jobcodes instead would cost one call per 200 of them
# for every batch, 25 a batch at 5,000 clients.
LOOKUP_BY_NAME_UP_TO = 3

# ----------------------------------------------------------------------- mapper

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


def location_from(address: hub.Address, label: str) -> dict[str, Any] | None:
    """A QBT location (docs: Locations/_create.md.erb; addr1, addr2, city, state, zip,
    country, label) from a hub address; None for an address with nothing in it."""
    body = {
        "addr1": address.line1,
        "addr2": address.line2,
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country": address.country,
    }
    if not any(body.values()):
        return None
    return {**body, "label": label}


LOCATIONS: Any = (
    bool,
    Field(
        default=False,
        description="a contact's address (physical, else mailing) becomes its jobcode's "
        "QuickBooks Time location (the nearby-jobs feature)",
    ),
)


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


def _content(kind: str, content: Any) -> BaseModel:
    model = hub.Contact if kind == "contact" else hub.WorkItem
    return content if isinstance(content, model) else model.model_validate(content)


def _hash(content: BaseModel) -> str:
    return hub.content_hash(content.model_dump(mode="json"))


# ----------------------------------------------------------------------- family


@dataclass
class _Plan:
    """One item's way through a push: what QBT should say, and what it says now."""

    index: int
    item: PushItem
    content: BaseModel
    wanted: dict[str, Any]
    current: dict[str, Any] | None = None


class Jobcodes(Family):
    """Contacts (top-level) and work items (children of their contact's jobcode) as QBT
    jobcodes: one instance per kind. `assign_to_all_users`: new jobcodes are assigned to
    every user (None: the connection's `assign_new_jobcodes_to_all_users` setting)."""

    provider = PROVIDER
    object_type = "jobcode"
    max_batch = MAX_BATCH

    def __init__(self, kind: JobcodeKind, *, assign_to_all_users: bool | None = None) -> None:
        if kind not in ("contact", "work_item"):
            raise ValueError(f"jobcodes are made from contacts and work items, not {kind}")
        self.kind = kind
        self.assign_to_all_users = assign_to_all_users
        self.settings = {"sync": SYNC, "assign_new_jobcodes_to_all_users": ASSIGN_ALL}
        if kind == "contact":
            self.settings["contact_types"] = CONTACT_TYPES
            self.settings["addresses_as_locations"] = LOCATIONS

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        if self.kind == "contact":
            return data.get("contact_type") in (settings.get("contact_types") or [])
        return bool(settings.get("sync") == "contacts_and_work_items")

    def _assign_all(self, session: ProviderSession) -> bool:
        if self.assign_to_all_users is not None:
            return self.assign_to_all_users
        return bool(session.settings.get("assign_new_jobcodes_to_all_users", False))

    def _wanted(self, session: ProviderSession, content: Any) -> dict[str, Any]:
        if isinstance(content, hub.Contact):
            return jobcode_from_contact(content)
        assert isinstance(content, hub.WorkItem)
        parent = links.get_link(session.tenant_id, PROVIDER, "contact", content.contact_id)
        if parent is None:
            # Parent before child: the contact's push is queued ahead of its work items
            # (same FIFO group), so this is a matter of waiting, not of fixing.
            raise SyncFailure("qbt.unavailable", "client jobcode not yet in QuickBooks Time")
        return jobcode_from_work_item(content, int(parent.provider_id))

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = QbtClient(session)
        results: list[Pushed | Exception | None] = [None] * len(items)
        plans: list[_Plan] = []
        for index, item in enumerate(items):
            try:
                content = _content(self.kind, item.content)
                plans.append(_Plan(index, item, content, self._wanted(session, content)))
            except SyncFailure as failure:
                results[index] = failure

        # 1. Linked: update by id (the link is the id, not the name). Renames go first so
        #    that a name they free can be taken by a new record of the same batch.
        linked = [p for p in plans if p.item.link is not None]
        try:
            current = by_ids(
                client, "jobcodes", (p.item.link.provider_id for p in linked if p.item.link)
            )
        except SyncFailure as failure:
            for p in plans:
                results[p.index] = failure
            return finish(results)
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
            return finish(results)
        found = [p for p in unlinked if results[p.index] is None and p.current is not None]
        missing = [p for p in unlinked if results[p.index] is None and p.current is None]
        self._create(client, session, missing, results)
        # A create answered 202 (the same name appeared meanwhile) joins the found ones.
        found += [p for p in missing if results[p.index] is None and p.current is not None]
        self._update(client, found, results)
        if self.kind == "contact" and session.settings.get("addresses_as_locations"):
            self._locate(client, plans, results)
        return finish(results)

    @staticmethod
    def _locate(
        client: QbtClient, plans: list[_Plan], results: list[Pushed | Exception | None]
    ) -> None:
        """Each pushed contact's address as its jobcode's location: created and linked to
        the jobcode, or the location it has brought up to date. Reads: the jobcodes (their
        `locations`) and those locations, by id; writes only what differs, 50 a call. A
        refusal fails the contact's push with QBT's words (the jobcode is in step)."""
        wanted: dict[str, tuple[int, dict[str, Any]]] = {}
        for p in plans:
            done = results[p.index]
            if not isinstance(done, Pushed) or not isinstance(p.content, hub.Contact):
                continue
            address = p.content.physical_address or p.content.mailing_address
            body = location_from(address, p.content.name) if address else None
            if body is not None:
                wanted[done.provider_id] = (p.index, body)
        if not wanted:
            return
        try:
            jobs = by_ids(client, "jobcodes", wanted)
            held = {str(i) for j in jobs.values() for i in j.get("locations") or []}
            places = by_ids(client, "locations", held) if held else {}
        except SyncFailure as failure:
            for index, _ in wanted.values():
                results[index] = failure
            return
        creates: list[tuple[int, dict[str, Any]]] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        for jid, (index, body) in wanted.items():
            mine = [
                places[str(i)] for i in jobs.get(jid, {}).get("locations") or [] if str(i) in places
            ]
            if not mine:
                creates.append((index, {**body, "linked_objects": {"jobcodes": [int(jid)]}}))
            elif any(str(mine[0].get(k) or "") != v for k, v in body.items()):
                updates.append((index, {**body, "id": int(mine[0]["id"])}))
        for write, batch in ((client.create, creates), (client.update, updates)):
            if batch:
                answers = write("locations", [b for _, b in batch])
                for (index, _), answer in zip(batch, answers, strict=True):
                    if isinstance(answer, SyncFailure):
                        results[index] = answer

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
                    if jobcode_name(str(row["name"])).casefold() == p.wanted["name"].casefold()
                ),
                None,
            )
            if p.current is not None:
                failure = linked_elsewhere(
                    session, self.object_type, self.kind, p.current["id"], p.item.record.record_id
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
                failure = linked_elsewhere(
                    session, self.object_type, self.kind, answer["id"], p.item.record.record_id
                )
                if failure is not None:
                    results[p.index] = failure
            else:
                results[p.index] = pushed(p.item, answer, _hash(p.content))
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
            if still_archived or not jobcode_differs(p.wanted, p.current):
                # Nothing to write; an archived jobcode cannot be edited (it keeps its old
                # name until the hub record is active again and the restore renames it).
                results[p.index] = pushed(p.item, p.current, _hash(p.content))
            else:
                writes.append(p)
        if not writes:
            return
        bodies = [
            jobcode_update(int(p.current["id"]), p.wanted, bool(p.current.get("active")))
            for p in writes
            if p.current is not None
        ]
        answers = client.update("jobcodes", bodies)
        for p, answer in zip(writes, answers, strict=True):
            results[p.index] = (
                answer
                if isinstance(answer, SyncFailure)
                else pushed(p.item, answer, _hash(p.content))
            )


CLIENTS = Jobcodes("contact")
WORK_ITEMS = Jobcodes("work_item")
