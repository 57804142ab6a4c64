"""Pushing QBO name-list entities (Customer, Employee, ...): what every such family shares.

Items without a link are created, items with one get a sparse update carrying the link's
SyncToken; up to 30 per /batch call (PROVIDERS.md 1.3 Batch). A single create carries
the record's own idempotency key as `requestid` (stable for the connection and record,
whatever bundle it travels in and however the record changed since). A batch has one
requestid of its own, so a re-bundled retry is not a replay: a create whose reply was
lost is instead found by what it wrote (its DisplayName, kept in the create's intent)
before anything is sent again, so no mode of requestid replay (honoured, ignored, or
answered with 6000) makes a second object.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from booksync.engine.seam import Family, ProviderSession, Pushed, PushItem
from booksync.errors import Kind, SyncFailure
from booksync.providers.qbo.changes import ALL_ACTIVE_STATES, every_row, parse_time
from booksync.providers.qbo.client import (
    BATCH_MAX,
    PAGE_SIZE,
    QboClient,
    classify_item_fault,
    quote,
)
from booksync.store import links

CREATE_TIME_SLACK = timedelta(seconds=2)  # CreateTime has whole seconds; clocks differ a little

PROVIDER = "qbo"
# Namespace for batch requestids: uuid5 of the items' idempotency keys and attempts.
_REQUESTID_NS = uuid.UUID("5b0c3f0e-6f1d-4d8e-9a57-2f4b8b1f0a71")
# Names share one pool across these (6240); a clash is looked for in each.
NAME_POOL = ("Customer", "Employee", "Vendor")


class WaitForParent(Exception):
    """The item's parent has no QBO id yet; it goes after the parent (or is retried)."""


@dataclass
class Planned:
    index: int
    item: PushItem
    body: dict[str, Any]
    fingerprint: str
    target: dict[str, Any] | None = None  # an existing object to update instead of creating
    # a check only the recovery could make (an earlier try's object not found after all):
    # the item is not sent, and this is its outcome
    refusal: SyncFailure | None = None


def parent_id(session: ProviderSession, kind: str, hub_id: str, pushed: dict[str, str]) -> str:
    """The QBO Id of a parent record, pushed in this call or linked before."""
    if hub_id in pushed:
        return pushed[hub_id]
    link = links.get_link(session.tenant_id, PROVIDER, kind, hub_id)
    if link is None:
        raise WaitForParent(hub_id)
    return str(link.provider_id)


def ref(raw: dict[str, Any], field: str) -> str | None:
    value = raw.get(field)
    if isinstance(value, dict) and value.get("value") not in (None, ""):
        return str(value["value"])
    return None


# a removal's batch operation: a delete, or a void (an update with optionsData "void")
_REMOVALS: dict[str, dict[str, str]] = {
    "delete": {"operation": "delete"},
    "void": {"operation": "update", "optionsData": "void"},
}


def _removes(op: dict[str, Any]) -> bool:
    return op["operation"] == "delete" or op.get("optionsData") == "void"


class NameListFamily(Family):
    """A QBO name-list entity pushed in batches; subclasses say how a record is planned."""

    provider = PROVIDER
    entity = ""  # "Customer", "Employee"
    max_batch = BATCH_MAX
    listing_page = PAGE_SIZE
    deletes = False  # a deleted record deletes its object (else its content says inactive)
    # how a removal reaches QBO: "delete", or "void" (a transaction kept, its amounts zeroed)
    removal = "delete"

    # -- per family

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str], context: Any = None
    ) -> tuple[dict[str, Any], str]:
        """(body without Id/SyncToken, fingerprint of the content QBO will hold); raises
        WaitForParent. `context`: what `read_context` read for the whole call."""
        raise NotImplementedError

    def read_context(self, session: ProviderSession, items: list[PushItem]) -> Any:
        """What planning the items needs, read once for all of them (batched)."""
        return None

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        """The fingerprint `plan` would give the record that QBO object holds."""
        raise NotImplementedError

    def existing_for(self, client: QboClient, planned: list[Planned]) -> dict[int, dict[str, Any]]:
        """Provider objects to adopt for unlinked items (index -> raw object)."""
        return {}

    def clash_code(self, failure: SyncFailure) -> str:
        return failure.code

    def holds(self, obj: dict[str, Any], p: Planned) -> bool:
        """Does QBO's answer to a create hold what we planned (else a replayed requestid
        answered with the object as first created: it is brought up to date)?"""
        return self.fingerprint_of(obj) == p.fingerprint

    def removes(self, item: PushItem) -> bool:
        """Does this push remove the object (deleted in the hub, or retired: void)?"""
        return bool(item.record.deleted or self.retired(item.record.data or {}))

    def intent(self, item: PushItem) -> dict[str, Any]:
        """What a create writes that finds it again: its DisplayName."""
        raise NotImplementedError

    def unchanged_since(self, version: str | None, raw: dict[str, Any]) -> bool:
        return version is not None and str(raw.get("SyncToken")) == str(version)

    def intent_lookup(self, intent: dict[str, Any]) -> str | None:
        name = str(intent.get("name") or "").strip()
        return name.casefold() or None

    def lookup_of(self, raw: dict[str, Any]) -> str | None:
        name = str(raw.get("DisplayName") or "").strip()
        return name.casefold() or None

    def made_by(self, intent: dict[str, Any], raw: dict[str, Any]) -> bool:
        """The DisplayName the create sent, on an object QBO made after the create left
        (MetaData.CreateTime; whole seconds, hence the slack): an older namesake is the
        firm's own, which the importer's review is for."""
        name = str(intent.get("name") or "")
        created = (raw.get("MetaData") or {}).get("CreateTime")
        if not name or not created or not intent.get("at"):
            return False
        sent_at = parse_time(str(intent["at"])) - CREATE_TIME_SLACK
        same = str(raw.get("DisplayName") or "").casefold() == name.casefold()
        return same and parse_time(str(created)) >= sent_at

    # -- the common part

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = QboClient(session)
        results: dict[int, Pushed | Exception] = {}
        pushed: dict[str, str] = {}  # hub id -> QBO Id, created or updated in this call
        pending = list(range(len(items)))
        try:
            context = self.read_context(session, [i for i in items if not i.record.deleted])
        except SyncFailure as failure:
            return [failure] * len(items)
        while pending:
            ready: list[Planned] = []
            waiting: list[int] = []
            for i in pending:
                try:
                    body, fingerprint = self.plan(session, items[i], pushed, context)
                except WaitForParent:
                    waiting.append(i)
                    continue
                except (SyncFailure, ValueError) as failure:
                    # ValueError: content that is not valid hub content (pydantic's error)
                    results[i] = failure
                    continue
                link = items[i].link
                if (
                    link is not None
                    and link.content_hash == fingerprint
                    and not self.removes(items[i])
                ):
                    # QBO already holds this content (a new version changed only what QBO
                    # does not keep, e.g. an invoice's balance after a payment): no call
                    results[i] = Pushed(
                        hub_id=items[i].record.record_id,
                        provider_id=str(link.provider_id),
                        provider_version=link.provider_version,
                        content_hash=fingerprint,
                    )
                    pushed[items[i].record.record_id] = str(link.provider_id)
                    continue
                ready.append(Planned(i, items[i], body, fingerprint))
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

    def unlinked(
        self, client: QboClient, rows: list[dict[str, Any]], mine: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """The rows no record links yet, or linked to one of `mine` (hub ids: a pull may
        have linked a lost create's object to its record meanwhile); one batched read."""
        found = links.by_provider_ids(
            client.session.tenant_id,
            PROVIDER,
            [(self.object_type, str(r["Id"])) for r in rows],
        )
        own = set(mine)
        return [
            r
            for r in rows
            if (link := found.get((self.object_type, str(r["Id"])))) is None
            or links.hub_id_of(link) in own
        ]

    def _recover(self, client: QboClient, planned: list[Planned]) -> None:
        """Creates sent before whose reply never came back: find the object each made
        (`find_created`); a found one is updated with the record as it is now."""
        tried = [p for p in planned if p.item.link is None and p.item.sent_before]
        if tried:
            self.find_created(client, tried)

    def find_created(self, client: QboClient, tried: list[Planned]) -> None:
        """By the name each sent (and its parent), among objects no record links yet:
        one query for all of them."""
        names = sorted({str(s.get("name") or "") for p in tried for s in p.item.sent_before} - {""})
        if not names:
            return
        where = f"DisplayName IN ({', '.join(quote(n) for n in names)}) AND {ALL_ACTIVE_STATES}"
        mine = [p.item.record.record_id for p in tried]  # a pull may have linked it already
        rows = self.unlinked(client, client.query(self.entity, where), mine)
        by_name: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_name.setdefault(str(row.get("DisplayName", "")).casefold(), []).append(row)
        for p in tried:
            parent = ref(p.body, "ParentRef")
            for s in p.item.sent_before:
                candidates = by_name.get(str(s.get("name") or "").casefold(), [])
                # the same name under another parent is someone else's object
                row = next((r for r in candidates if ref(r, "ParentRef") == parent), {})
                if row:
                    p.target = row
                    candidates.remove(row)
                    break

    def _send(self, client: QboClient, chunk: list[Planned]) -> list[Pushed | Exception]:
        try:
            self._recover(client, chunk)
            unlinked = [p for p in chunk if p.item.link is None and p.target is None]
            for index, raw in self.existing_for(client, unlinked).items():
                next(p for p in chunk if p.index == index).target = raw
        except SyncFailure as failure:
            return [failure] * len(chunk)
        outcomes: dict[int, Pushed | Exception] = {
            p.index: p.refusal for p in chunk if p.refusal is not None
        }
        live = [p for p in chunk if p.refusal is None]
        if not live:
            return [outcomes[p.index] for p in chunk]
        ops: list[dict[str, Any]] = []
        for n, p in enumerate(live):
            link = p.item.link
            object_id: str | None = None
            token: str | None = None
            if link is not None:
                object_id, token = str(link.provider_id), link.provider_version
            elif p.target is not None:
                object_id, token = str(p.target["Id"]), p.target.get("SyncToken")
            if object_id is not None and self.deletes and self.removes(p.item):
                ops.append(
                    {
                        "bId": str(n + 1),
                        **_REMOVALS[self.removal],
                        self.entity: {"Id": object_id, "SyncToken": str(token or "0")},
                    }
                )
            elif object_id is not None:
                # No SyncToken known: "0" either is right or gets a 5010, re-read below.
                body = {
                    **p.body,
                    "Id": object_id,
                    "SyncToken": str(token if token is not None else "0"),
                    "sparse": True,
                }
                ops.append({"bId": str(n + 1), "operation": "update", self.entity: body})
            else:
                ops.append({"bId": str(n + 1), "operation": "create", self.entity: p.body})
        try:
            answers = self._call(client, live, ops)
        except SyncFailure as failure:
            return [outcomes.get(p.index, failure) for p in chunk]
        for p, op, answer in zip(live, ops, answers, strict=True):
            outcomes[p.index] = self._outcome(client, p, op, answer)
        return [outcomes[p.index] for p in chunk]

    def _call(
        self, client: QboClient, chunk: list[Planned], ops: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """One item: a plain create (requestid = the record's idempotency key) or update;
        more: one /batch whose requestid is derived from the items' keys and attempts."""
        if len(ops) == 1:
            op, p = ops[0], chunk[0]
            try:
                if op["operation"] == "create":
                    obj = client.create(self.entity, op[self.entity], p.item.idempotency_key)
                elif _removes(op):
                    obj = self._remove(client, op[self.entity])
                else:
                    obj = client.update(self.entity, op[self.entity], sparse=True)
            except SyncFailure as failure:
                return [{"bId": op["bId"], "_failure": failure}]
            return [{"bId": op["bId"], self.entity: obj}]
        keys = "\n".join(
            f"{p.item.idempotency_key}:{op.get('optionsData') or op['operation']}:"
            f"{len(p.item.sent_before)}"
            for p, op in zip(chunk, ops, strict=True)
        )
        return client.batch(ops, requestid=str(uuid.uuid5(_REQUESTID_NS, keys)))

    def _outcome(
        self, client: QboClient, p: Planned, op: dict[str, Any], answer: dict[str, Any]
    ) -> Pushed | Exception:
        failure: SyncFailure | None = answer.get("_failure")
        if failure is None and "Fault" in answer:
            failure = classify_item_fault(answer["Fault"])
        if failure is None and _removes(op):  # (content_hash: nothing held)
            return self._removed(p, str(op[self.entity]["Id"]))
        if failure is not None and failure.code == "qbo.stale_object" and _removes(op):
            # changed in QBO since our SyncToken: removed with the current one
            try:
                current = client.read(self.entity, str(op[self.entity]["Id"]))
                self._remove(client, {"Id": current["Id"], "SyncToken": current["SyncToken"]})
            except SyncFailure as again:
                return again
            return self._removed(p, str(current["Id"]))
        if failure is None:
            obj = answer[self.entity]
            if op["operation"] == "create" and not self.holds(obj, p):
                # a replayed requestid answered with the object as first created: the
                # record has changed since; bring it up to date now
                return self._update_now(client, p, obj)
            return self._pushed(p, obj)
        if failure.code == "qbo.stale_object" and op["operation"] == "update":
            # Someone changed it in QBO since our SyncToken: re-read and retry once
            # (PROVIDERS.md 1.3 Concurrency, 5010). A second 5010 stays transient.
            try:
                current = client.read(self.entity, str(op[self.entity]["Id"]))
            except SyncFailure as again:
                return again
            return self._update_now(client, p, current)
        if failure.code == "qbo.duplicate_name":
            return self._name_clash(client, p, failure)
        if (
            failure.code == "qbo.validation"
            and p.item.sent_before
            and "6000" in (failure.provider_codes)
        ):
            # A repeated batch may be answered 6000 for every item (a replay QBO refused):
            # not the record's fault. Retried, found by its intent or created anew.
            return SyncFailure("qbo.unavailable", failure.provider_message, status=failure.status)
        return failure

    def _remove(self, client: QboClient, body: dict[str, Any]) -> dict[str, Any]:
        if self.removal == "void":
            return client.void(self.entity, body)
        return client.delete(self.entity, body)

    def _removed(self, p: Planned, object_id: str) -> Pushed:
        return Pushed(
            hub_id=p.item.record.record_id,
            provider_id=object_id,
            provider_version=None,
            content_hash="voided" if self.removal == "void" else "deleted",
        )

    def _update_now(
        self, client: QboClient, p: Planned, current: dict[str, Any]
    ) -> Pushed | Exception:
        body = {**p.body, "Id": str(current["Id"]), "SyncToken": str(current.get("SyncToken"))}
        try:
            return self._pushed(p, client.update(self.entity, body, sparse=True))
        except SyncFailure as again:
            return again

    def _pushed(self, p: Planned, obj: dict[str, Any]) -> Pushed:
        return Pushed(
            hub_id=p.item.record.record_id,
            provider_id=str(obj["Id"]),
            provider_version=str(obj.get("SyncToken")),
            content_hash=p.fingerprint,
        )

    def _name_clash(
        self, client: QboClient, p: Planned, failure: SyncFailure
    ) -> SyncFailure | Pushed:
        """6240: name the entry already holding the DisplayName (Customer, Vendor or
        Employee share one pool, inactive ones included, and jobs of every client too), so
        the error can offer linking or ask for a rename."""
        name = str(p.body.get("DisplayName", ""))
        where = f"DisplayName = {quote(name)} AND {ALL_ACTIVE_STATES}"
        for entity in NAME_POOL:
            try:
                rows = client.query(entity, where)
            except SyncFailure as lookup:
                if lookup.kind in (Kind.TRANSIENT, Kind.RATE_LIMITED):
                    return lookup  # decide on a later try, not now
                continue
            if rows:
                row = rows[0]
                state = "" if row.get("Active") is not False else ", inactive"
                note = (
                    f" [existing QuickBooks {entity} Id={row.get('Id')} "
                    f'DisplayName="{row.get("DisplayName")}"{state}]'
                )
                return SyncFailure(
                    self.clash_code(failure),
                    failure.provider_message + note,
                    retry_after=failure.retry_after,
                    status=failure.status,
                )
        return failure


def list_all(session: ProviderSession, entity: str) -> list[dict[str, Any]]:
    """Every object of an entity (a name list's inactive ones included), raw."""
    return QboClient(session).query(entity, every_row(entity))


def families_of(families: Sequence[Family], entity: str) -> list[NameListFamily]:
    return [f for f in families if isinstance(f, NameListFamily) and f.entity == entity]
