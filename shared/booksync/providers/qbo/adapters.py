"""QBO push and pull adapters (adapters.PushAdapter / PullAdapter) for contacts, work items
and staff: customers, sub-customers and employees.

Push: items without a link are created, items with one get a sparse update carrying the
link's SyncToken; up to 30 per /batch call, the call made replay-safe by a requestid
derived from the items' idempotency keys (PROVIDERS.md 1.3 Batch, requestid). Pull: a
full paged query when there is no cursor, else CDC since the cursor's server time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from booksync.engine.seam import Change, ProviderSession, Pushed, PushItem
from booksync.errors import Kind, SyncFailure
from booksync.hub import content as hub
from booksync.providers.qbo import mapping
from booksync.providers.qbo.client import (
    BATCH_MAX,
    QboClient,
    classify_item_fault,
    quote,
)
from booksync.store import links
from booksync.store.links import find_by_provider_id

PROVIDER = "qbo"
# Namespace for batch requestids: uuid5 of the items' idempotency keys, so the same items
# sent again (a redelivered message) replay QBO's first answer instead of creating twice.
_REQUESTID_NS = uuid.UUID("5b0c3f0e-6f1d-4d8e-9a57-2f4b8b1f0a71")
CDC_DAYS = 30  # CDC looks back at most 30 days (PROVIDERS.md 1.3 CDC)
CDC_SAFETY = timedelta(hours=1)  # our clock vs Intuit's: fall back to a full pull early
CDC_MAX_OBJECTS = 1000
ALL_ACTIVE_STATES = "Active IN (true,false)"  # inactive name-list rows are hidden otherwise


def _api_base(api_base: str | None) -> str:
    if api_base:
        return api_base
    from booksync.settings import get_settings

    return get_settings().providers.qbo_api_base


class _WaitForParent(Exception):
    """The item's parent has no QBO id yet; it goes after the parent (or is retried)."""


@dataclass
class _Planned:
    index: int
    item: PushItem
    body: dict[str, Any]
    fingerprint: str


class _QboPush:
    """Create-or-sparse-update of one QBO name-list entity, batched, one result per item."""

    provider = PROVIDER
    kind = ""
    entity = ""
    max_batch = BATCH_MAX

    def __init__(self, api_base: str | None = None) -> None:
        self._api_base = api_base

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        """The fingerprint `plan` would give the record that QBO object holds."""
        return mapping.customer_fingerprint(raw)

    # -- per kind

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str]
    ) -> tuple[dict[str, Any], str]:
        """(body without Id/SyncToken, fingerprint); raises _WaitForParent."""
        raise NotImplementedError

    def existing_for(self, client: QboClient, planned: list[_Planned]) -> dict[int, dict[str, Any]]:
        """Provider objects to adopt for unlinked items (index -> raw object)."""
        return {}

    def parent_key(self, item: PushItem) -> str | None:
        """Hub id this item's parent is pushed under in this same call, if any."""
        return None

    # -- the common part

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = QboClient(session, _api_base(self._api_base))
        results: dict[int, Pushed | Exception] = {}
        pushed: dict[str, str] = {}  # hub id -> QBO Id, created or updated in this call
        pending = list(range(len(items)))
        while pending:
            ready: list[_Planned] = []
            waiting: list[int] = []
            for i in pending:
                try:
                    body, fingerprint = self.plan(session, items[i], pushed)
                except _WaitForParent:
                    waiting.append(i)
                    continue
                except (SyncFailure, ValueError) as failure:
                    # ValueError: content that is not valid hub content (pydantic's error)
                    results[i] = failure
                    continue
                ready.append(_Planned(i, items[i], body, fingerprint))
            if not ready:
                for i in waiting:
                    results[i] = SyncFailure("qbo.unavailable", "parent not yet in QuickBooks")
                break
            for start in range(0, len(ready), BATCH_MAX):
                chunk = ready[start : start + BATCH_MAX]
                for p, outcome in zip(chunk, self._send(client, chunk), strict=True):
                    results[p.index] = outcome
                    if isinstance(outcome, Pushed):
                        pushed[p.item.record.record_id] = outcome.provider_id
            pending = waiting
        return [results[i] for i in range(len(items))]

    def _send(self, client: QboClient, chunk: list[_Planned]) -> list[Pushed | Exception]:
        try:
            adopt = self.existing_for(client, [p for p in chunk if p.item.link is None])
        except SyncFailure as failure:
            return [failure] * len(chunk)
        ops: list[dict[str, Any]] = []
        for n, p in enumerate(chunk):
            link = p.item.link
            target = adopt.get(p.index)
            object_id: str | None = None
            token: str | None = None
            if link is not None:
                object_id, token = link.provider_id, link.provider_version
            elif target is not None:
                object_id, token = str(target["Id"]), target.get("SyncToken")
            if object_id is not None:
                # No SyncToken known: "0" either is right or gets a 5010, re-read below.
                token = token if token is not None else "0"
                ops.append(
                    {
                        "bId": str(n + 1),
                        "operation": "update",
                        self.entity: {
                            **p.body,
                            "Id": object_id,
                            "SyncToken": str(token),
                            "sparse": True,
                        },
                    }
                )
            else:
                ops.append({"bId": str(n + 1), "operation": "create", self.entity: p.body})
        try:
            answers = self._call(client, chunk, ops)
        except SyncFailure as failure:
            return [failure] * len(chunk)
        return [
            self._outcome(client, p, op, answer)
            for p, op, answer in zip(chunk, ops, answers, strict=True)
        ]

    def _call(
        self, client: QboClient, chunk: list[_Planned], ops: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """One item: a plain create (requestid = its idempotency key) or update; more: one
        /batch whose requestid is derived from all the items' keys."""
        if len(ops) == 1:
            op, p = ops[0], chunk[0]
            try:
                if op["operation"] == "create":
                    obj = client.create(self.entity, op[self.entity], p.item.idempotency_key)
                else:
                    obj = client.update(self.entity, op[self.entity], sparse=True)
            except SyncFailure as failure:
                return [{"bId": op["bId"], "_failure": failure}]
            return [{"bId": op["bId"], self.entity: obj}]
        keys = "\n".join(p.item.idempotency_key for p in chunk)
        requestid = str(uuid.uuid5(_REQUESTID_NS, keys))
        return client.batch(ops, requestid=requestid)

    def _outcome(
        self, client: QboClient, p: _Planned, op: dict[str, Any], answer: dict[str, Any]
    ) -> Pushed | Exception:
        failure: SyncFailure | None = answer.get("_failure")
        if failure is None and "Fault" in answer:
            failure = classify_item_fault(answer["Fault"])
        if failure is None:
            return self._pushed(p, answer[self.entity])
        if failure.code == "qbo.stale_object" and op["operation"] == "update":
            # Someone changed it in QBO since our SyncToken: re-read and retry once
            # (PROVIDERS.md 1.3 Concurrency, 5010). A second 5010 stays transient.
            body = dict(op[self.entity])
            try:
                body["SyncToken"] = client.read(self.entity, body["Id"])["SyncToken"]
                return self._pushed(p, client.update(self.entity, body, sparse=True))
            except SyncFailure as again:
                return again
        if failure.code == "qbo.duplicate_name":
            return self._name_clash(client, p, failure)
        return failure

    def _pushed(self, p: _Planned, obj: dict[str, Any]) -> Pushed:
        return Pushed(
            hub_id=p.item.record.record_id,
            provider_id=str(obj["Id"]),
            provider_version=str(obj.get("SyncToken")),
            content_hash=p.fingerprint,
        )

    def _our_lost_create(
        self, client: QboClient, p: _Planned, entity: str, row: dict[str, Any]
    ) -> bool:
        """A create whose reply was lost (the connection dropped after QBO committed) and
        that came back in a batch with another requestid: the clash is with our own
        object. It is ours when it holds exactly our content and no hub record links it."""
        if not p.item.attempted_before or p.item.link is not None:
            return False
        if entity != self.entity or self.entity != "Customer":
            return False
        if self.fingerprint_of(row) != p.fingerprint:
            return False
        if _ref(p.body, "ParentRef") != _ref(row, "ParentRef"):
            return False  # the same name under another client: not ours
        session = client.session
        kind = p.item.record.kind
        return find_by_provider_id(session.tenant_id, "qbo", kind, str(row["Id"])) is None

    def _name_clash(
        self, client: QboClient, p: _Planned, failure: SyncFailure
    ) -> SyncFailure | Pushed:
        """6240: name the entry already holding the DisplayName (Customer, Vendor or
        Employee share one pool, inactive ones included, and jobs of every client too), so
        the error can offer linking; a job made from a work item asks for a rename."""
        name = str(p.body.get("DisplayName", ""))
        where = f"DisplayName = {quote(name)} AND {ALL_ACTIVE_STATES}"
        for entity in ("Customer", "Employee", "Vendor"):
            try:
                rows = client.query(entity, where)
            except SyncFailure as lookup:
                if lookup.kind in (Kind.TRANSIENT, Kind.RATE_LIMITED):
                    # the look-up itself failed: decide on a later try, not now (this
                    # may be our own create whose reply was lost)
                    return lookup
                continue
            if rows:
                row = rows[0]
                if self._our_lost_create(client, p, entity, row):
                    return self._pushed(p, row)
                state = "" if row.get("Active") is not False else ", inactive"
                note = (
                    f" [existing QuickBooks {entity} Id={row.get('Id')} "
                    f'DisplayName="{row.get("DisplayName")}"{state}]'
                )
                # a job is never the same thing as another client's entry: rename, not link
                code = "qbo.duplicate_job_name" if p.item.record.kind == "work_item" else None
                return SyncFailure(
                    code or failure.code,
                    failure.provider_message + note,
                    retry_after=failure.retry_after,
                    status=failure.status,
                )
        return failure


def _parent_id(session: ProviderSession, kind: str, hub_id: str, pushed: dict[str, str]) -> str:
    if hub_id in pushed:
        return pushed[hub_id]
    link = links.get_link(session.tenant_id, PROVIDER, kind, hub_id)
    if link is None:
        raise _WaitForParent(hub_id)
    return link.provider_id


def _model(content: Any, model: type[Any]) -> Any:
    return content if isinstance(content, model) else model.model_validate(content)


class CustomerPush(_QboPush):
    """Hub contacts -> QBO customers; a child contact -> a sub-customer of its parent."""

    kind = "contact"
    entity = "Customer"

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str]
    ) -> tuple[dict[str, Any], str]:
        contact: hub.Contact = _model(item.content, hub.Contact)
        parent = None
        if contact.parent_id:
            parent = _parent_id(session, "contact", contact.parent_id, pushed)
        return mapping.customer_from_contact(contact, parent), mapping.contact_fingerprint(contact)


class WorkItemPush(_QboPush):
    """Hub work items -> sub-customers (jobs) under their contact's customer."""

    kind = "work_item"
    entity = "Customer"

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str]
    ) -> tuple[dict[str, Any], str]:
        work: hub.WorkItem = _model(item.content, hub.WorkItem)
        parent = _parent_id(session, "contact", work.contact_id, {})
        return mapping.sub_customer_from_work_item(work, parent), mapping.work_item_fingerprint(
            work
        )

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        return mapping.job_fingerprint(raw)


class EmployeePush(_QboPush):
    """Hub users -> QBO employees; an unlinked user is matched to an existing employee by
    email, then by display name, before anything is created."""

    kind = "user"
    entity = "Employee"

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str]
    ) -> tuple[dict[str, Any], str]:
        user: hub.User = _model(item.content, hub.User)
        return mapping.employee_from_user(user), mapping.user_fingerprint(user)

    def existing_for(self, client: QboClient, planned: list[_Planned]) -> dict[int, dict[str, Any]]:
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


# ----------------------------------------------------------------------- pull


def _parse_time(value: str) -> datetime:
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def _ref(raw: dict[str, Any], field: str) -> str | None:
    ref = raw.get(field)
    if isinstance(ref, dict) and ref.get("value") not in (None, ""):
        return str(ref["value"])
    return None


_MAPPERS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "Customer": ("contact", mapping.contact_from_customer),
    "Employee": ("user", mapping.user_from_employee),
}


def _change(entity: str, raw: dict[str, Any], fallback: datetime) -> Change:
    kind, mapper = _MAPPERS[entity]
    meta = raw.get("MetaData") or {}
    stamp = meta.get("LastUpdatedTime")
    deleted = str(raw.get("status", "")).lower() == "deleted"
    return Change(
        kind=kind,
        provider_id=str(raw["Id"]),
        provider_version=None if deleted else str(raw.get("SyncToken")),
        content=None if deleted else mapper(raw),
        changed_at=_parse_time(stamp) if stamp else fallback,
        parent_provider_id=_ref(raw, "ParentRef") if entity == "Customer" else None,
    )


def _as_work_items(session: ProviderSession, changes: list[Change]) -> list[Change]:
    """Sub-customers booksync made from work items come back as work item changes, not as
    new contacts. Only the name is taken (a rename in QBO renames the job); a job's
    status is kept in the hub, since QBO has only active or not."""
    if not any(c.kind == "contact" and c.parent_provider_id for c in changes):
        return changes
    jobs = {
        link.provider_key.split("#", 1)[1]
        for link in links.links_of(session.tenant_id, PROVIDER, "work_item")
    }
    return [
        replace(
            c,
            kind="work_item",
            content=None if c.content is None else {"name": c.content["name"]},
        )
        if c.kind == "contact" and c.provider_id in jobs
        else c
        for c in changes
    ]


class QboPull:
    """Customers (contacts, sub-customers included; jobs made from work items as work
    items) and employees (users) changed in QBO."""

    provider = PROVIDER
    entities = ("Customer", "Employee")

    def __init__(
        self, api_base: str | None = None, now: Callable[[], datetime] | None = None
    ) -> None:
        self._api_base = api_base
        self._now = now or (lambda: datetime.now(UTC))

    def changes(self, session: ProviderSession, cursor: str | None) -> tuple[list[Change], str]:
        changes, new_cursor = self._read(QboClient(session, _api_base(self._api_base)), cursor)
        return _as_work_items(session, changes), new_cursor

    def _read(self, client: QboClient, cursor: str | None) -> tuple[list[Change], str]:
        if cursor is not None:
            since = _parse_time(cursor)
            if self._now() - since < timedelta(days=CDC_DAYS) - CDC_SAFETY:
                try:
                    return self._cdc(client, cursor)
                except SyncFailure as failure:
                    # 2010 on changedSince: Intuit's clock says the cursor is past its
                    # 30 days; anything else is a real failure.
                    if failure.code != "qbo.validation":
                        raise
        return self._full(client)

    def _full(self, client: QboClient) -> tuple[list[Change], str]:
        now = self._now()
        changes: list[Change] = []
        cursor: str | None = None
        for entity in self.entities:
            rows = client.query(entity, ALL_ACTIVE_STATES)
            # The first reply's server time: anything changed while we page is seen again.
            cursor = cursor or client.server_time
            changes.extend(_change(entity, raw, now) for raw in rows)
        return changes, cursor or now.isoformat()

    def _cdc(self, client: QboClient, cursor: str) -> tuple[list[Change], str]:
        now = self._now()
        found = client.cdc(list(self.entities), cursor)
        changes = [
            _change(entity, raw, now) for entity in self.entities for raw in found.get(entity, [])
        ]
        new_cursor = client.server_time or now.isoformat()
        if len(changes) >= CDC_MAX_OBJECTS:
            # Capped at 1000 objects in all: go on from the newest one returned (changedSince
            # is inclusive, so that second is read again rather than lost).
            newest = max(changes, key=lambda c: c.changed_at)
            stamps = [
                raw["MetaData"]["LastUpdatedTime"]
                for entity in self.entities
                for raw in found.get(entity, [])
                if raw.get("MetaData", {}).get("LastUpdatedTime")
                and _parse_time(raw["MetaData"]["LastUpdatedTime"]) == newest.changed_at
            ]
            new_cursor = stamps[0] if stamps else newest.changed_at.isoformat()
        return changes, new_cursor


def list_customers(session: ProviderSession, api_base: str | None = None) -> list[dict[str, Any]]:
    """Every customer, active and inactive, raw (the importer's listing)."""
    return QboClient(session, _api_base(api_base)).query("Customer", ALL_ACTIVE_STATES)
