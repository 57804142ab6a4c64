"""Push: hub records of one connection and kind to the provider, through its family.

Chunk by chunk (a provider batch each), in the messages' order: read each record and its
link (batched, consistent) just before its chunk goes; skip what the link already
reflects (a repeated delivery, or a later version already sent); derive an idempotency
key from (connection, hub id, operation), stable across re-bundling and edits; note each
create's intent before sending it, so a create whose reply is lost is found again by what
it wrote; hand the chunk to the family; write each link right after the provider answers,
so a retry finds it. A chunk stopped by the budget or a 429 ends the push.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from booksync.engine.seam import Family, ProviderSession, Pushed, PushItem
from booksync.errors import Kind, SyncFailure
from booksync.hub.entities import entity
from booksync.store import Link, Record, leases, links, sync_errors, utcnow
from booksync.store import records as store

INTENT_TTL_SECONDS = 14 * 24 * 3600  # past the longest a message lives in its queues
INTENTS_KEPT = 5


def idempotency_key(
    connection_id: str, hub_id: str, operation: str, attempt: int | str = 0, retry: int = 0
) -> str:
    """The provider's idempotency key for one write of one record: the same for every try
    whose outcome is unknown, a new one once the provider has answered for good.

    A create's `attempt` counts the creates of the record the provider refused (a name
    clash fixed by a rename must not be answered with QBO's cached refusal); otherwise a
    create keeps its key across re-bundling and edits, so a lost reply is replayed. An
    update's `attempt` is the record's version: a new version is a new write, a retried
    one is the same. `retry`: an operator's retry of a sync error. 36 characters fit QBO's
    batch requestid limit."""
    raw = f"{connection_id}|{hub_id}|{operation}|{attempt}" + (f"|retry{retry}" if retry else "")
    return hashlib.sha256(raw.encode()).hexdigest()[:36]


@dataclass(frozen=True)
class Wanted:
    """A record a message asks to push: (kind, id), the message's operator retry count,
    whether the firm asked for this send (creates of an on-request family need it)."""

    kind: str
    record_id: str
    retry: int = 0
    explicit: bool = False


@dataclass
class PushOutcome:
    """Per record id: None = done (sent, or nothing to send), else the failure."""

    results: dict[str, Exception | None] = field(default_factory=dict)
    sent: int = 0
    skipped: int = 0
    resolved: int = 0  # sync errors of records that reached the provider this time


def push_records(session: ProviderSession, family: Family, wanted: Iterable[Wanted]) -> PushOutcome:
    """Push the records of one connection and kind; one outcome per record id.

    Chunk by chunk, in the messages' order: each chunk's records, links and intents are
    read just before it is sent. A chunk that the budget or the provider's 429 stopped
    before any write left booksync ends the push: the records after it are not read and
    go back to their queue with the same wait (a worker's deadline, a spent budget or a
    throttle would meet each of them too, and reading them now would be read again on
    their next try: at 5,000 records that was a read and two intent writes per record
    more than at 1,000)."""
    push = _Push(session, family)
    for w in wanted:
        push.retries[w.record_id] = max(push.retries.get(w.record_id, 0), w.retry)
        if w.explicit:
            push.asked.add(w.record_id)
    order = list(push.retries)  # in the messages' order
    size = max(1, family.max_batch)
    ready: list[PushItem] = []
    read = 0
    while read < len(order) or ready:
        while len(ready) < size and read < len(order):
            ready += push.read(order[read : read + size])
            read += size
        chunk, ready = ready[:size], ready[size:]
        if not chunk:
            continue
        stopped = push.send(chunk)
        if stopped is not None:
            for rid in [i.record.record_id for i in ready] + order[read:]:
                push.outcome.results[rid] = stopped
            break
    if push.synced:  # their sync errors, if any, are over
        conn = session.connection
        push.outcome.resolved = sync_errors.resolve_synced(
            conn.tenant_id, conn.provider, push.synced
        )
    return push.outcome


@dataclass
class _Push:
    """One push of a connection's records of one kind: what the messages asked, and what
    came of each record so far."""

    session: ProviderSession
    family: Family
    retries: dict[str, int] = field(default_factory=dict)  # record id -> operator retries
    asked: set[str] = field(default_factory=set)  # the firm asked for these sends
    outcome: PushOutcome = field(default_factory=PushOutcome)
    synced: list[tuple[str, str]] = field(default_factory=list)  # (kind, id) now there

    def read(self, ids: list[str]) -> list[PushItem]:
        """The records of `ids` and their links (by key, batched, consistent); what is left
        to send as push items; the rest answered in the outcome (nothing to send)."""
        conn, family, outcome = self.session.connection, self.family, self.outcome
        stored = store.get_many(conn.tenant_id, [(family.kind, rid) for rid in ids])
        found = {str(r.record_id): r for r in stored.values()}
        current = links.get_links(conn.tenant_id, conn.provider, family.kind, list(found))
        items: list[PushItem] = []
        model = entity(family.kind).model
        for rid in ids:
            record = found.get(rid)
            if record is None:
                outcome.results[rid] = None  # nothing to send: it never existed or was purged
                outcome.skipped += 1
                continue
            link = current.get(rid)
            if (
                (link is not None and link.synced_version >= record.version)
                or ((record.deleted or family.retired(record.data or {})) and link is None)
                or (link is None and family.on_request and rid not in self.asked)
            ):
                outcome.results[rid] = None
                outcome.skipped += 1
                if link is not None:
                    self.synced.append((family.kind, rid))
                continue
            content = model.model_validate(record.data)
            if record.deleted and "active" in model.model_fields:
                content = content.model_copy(update={"active": False})
            key = idempotency_key(
                str(conn.connection_id), rid, "update", int(record.version), self.retries[rid]
            )
            items.append(PushItem(record=record, content=content, link=link, idempotency_key=key))
        return items

    def send(self, chunk: list[PushItem]) -> SyncFailure | None:
        """One provider-sized chunk: its creates' intents noted, sent, each link written as
        the provider answers. Answers the rate limit that stopped it before any write left
        booksync, if one did."""
        session, family, outcome = self.session, self.family, self.outcome
        conn = session.connection
        intents = _Intents(session, family, [i for i in chunk if i.link is None])
        chunk = [intents.prepare(item, self.retries[item.record.record_id]) for item in chunk]
        intents.write()  # before any create is sent
        writes_before = session.writes_out
        try:
            results = family.push(session, chunk)
        except SyncFailure as failure:  # the whole call failed (throttled, unavailable, ...)
            results = [failure] * len(chunk)
        stopped: SyncFailure | None = None
        if session.writes_out == writes_before:
            # no write of this chunk left booksync (the budget refused it first, or the
            # provider's 429): its creates made nothing, and their next try looks for none
            intents.withdraw(
                [i for i, r in zip(chunk, results, strict=True) if not isinstance(r, Pushed)]
            )
            limited = [
                r for r in results if isinstance(r, SyncFailure) and r.kind is Kind.RATE_LIMITED
            ]
            if limited and not any(isinstance(r, Pushed) for r in results):
                stopped = max(limited, key=lambda f: f.retry_after or 0)
        new_links: list[tuple[links.NewLink, Link | None]] = []
        for item, result in zip(chunk, results, strict=True):
            rid = item.record.record_id
            if isinstance(result, Pushed):
                new_links.append((_link_of(family, item.record, result), item.link))
                if result.behind:
                    # the object holds what an earlier try sent: linked now, updated next
                    outcome.results[rid] = SyncFailure(
                        f"{conn.provider}.unavailable",
                        "found the object an earlier try created; sending the latest changes",
                        retry_after=1,
                    )
                else:
                    outcome.results[rid] = None
                    outcome.sent += 1
                    self.synced.append((family.kind, rid))
            else:
                outcome.results[rid] = result
                if item.link is None and isinstance(result, SyncFailure):
                    intents.answered(item, result)
        links.save_links(conn.tenant_id, conn.provider, new_links)
        intents.save()
        return stopped


def _link_of(family: Family, record: Record, result: Pushed) -> links.NewLink:
    return links.NewLink(
        kind=family.kind,
        hub_id=str(record.record_id),
        object_type=family.object_type,
        provider_id=result.provider_id,
        provider_version=result.provider_version,
        content_hash=result.content_hash,
        # `behind`: the provider holds an older state than this version
        synced_version=0 if result.behind else int(record.version),
    )


class _Intents:
    """The creates of a push and what earlier tries of them did, kept per (connection,
    record) in the Leases table: each create's intent is written before it is sent, so a
    create whose reply is lost is found again by what it wrote (`sent_before`), however
    the record changed and whatever bundle it travels in next; and the provider's
    definitive refusals are counted, so a fixed record gets a new idempotency key."""

    def __init__(self, session: ProviderSession, family: Family, creates: list[PushItem]) -> None:
        self.session = session
        self.family = family
        self.keys = {i.record.record_id: self._key(i.record.record_id) for i in creates}
        self.rows = leases.read_many(list(self.keys.values())) if creates else {}
        self.lookups: dict[str, dict[str, Any]] = {}
        self.changed: set[str] = set()  # hub ids whose row changed since it was written

    def _key(self, hub_id: str) -> str:
        conn = self.session.connection
        return leases.intent_key(str(conn.connection_id), self.family.kind, hub_id)

    def prepare(self, item: PushItem, retry: int) -> PushItem:
        """A create: its key, the intents of earlier tries, and this try's intent noted."""
        if item.link is not None:
            return item
        hub_id = item.record.record_id
        row = self.rows.get(self.keys[hub_id], {})
        before = tuple(row.get("sent") or ())
        refused = int(row.get("refused") or 0)
        conn_id = str(self.session.connection.connection_id)
        prepared = replace(
            item,
            idempotency_key=idempotency_key(conn_id, hub_id, "create", refused, retry),
            sent_before=before,
        )
        # what this try writes, and when (a provider object made before it is not its)
        now = {**self.family.intent(prepared), "at": utcnow().isoformat()}
        sent = [*before, now][-INTENTS_KEPT:]
        self.rows[self.keys[hub_id]] = {"sent": sent, "refused": refused}
        lookup = self.family.intent_lookup(now)
        if lookup:  # a pull that meets the object before its link finds the record by it
            conn_id = str(self.session.connection.connection_id)
            key = leases.intent_lookup_key(conn_id, self.family.kind, lookup)
            held = self.lookups.get(key)
            # two records showing the same (two clients of one name): neither is found by it
            self.lookups[key] = {"hub_id": hub_id if held in (None, {"hub_id": hub_id}) else None}
        return prepared

    def write(self) -> None:
        if self.lookups:  # another record's create in flight under the same name: ambiguous
            for key, row in leases.read_many(list(self.lookups)).items():
                if row.get("hub_id") != self.lookups[key]["hub_id"]:
                    self.lookups[key] = {"hub_id": None}
        if self.rows:
            leases.write_many({**self.lookups, **self.rows}, INTENT_TTL_SECONDS)

    def answered(self, item: PushItem, failure: SyncFailure) -> None:
        """A create the provider refused for good (a person must fix something): the next
        try is a new request, not a replay of this refusal."""
        if failure.kind is Kind.NEEDS_FIX:
            row = self.rows[self.keys[item.record.record_id]]
            row["refused"] = int(row.get("refused") or 0) + 1
            self.changed.add(item.record.record_id)

    def withdraw(self, items: list[PushItem]) -> None:
        """Creates whose try never reached the provider: their rows go back to the earlier
        tries' intents. Else each next try looks for an object this one never made: a query
        to the provider and a read of links per chunk, for every chunk a worker's deadline,
        the budget or a 429 stopped."""
        for item in items:
            if item.link is None:
                self.rows[self.keys[item.record.record_id]]["sent"] = list(item.sent_before)
                self.changed.add(item.record.record_id)

    def save(self) -> None:
        if self.changed:
            leases.write_many(
                {self.keys[h]: self.rows[self.keys[h]] for h in self.changed}, INTENT_TTL_SECONDS
            )
            self.changed.clear()
