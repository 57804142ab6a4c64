"""The generic part of every sync: push hub records to a provider, pull its changes back.

Push (hub -> provider), for a batch of PushRecord messages of one connection and kind:
load each record and its link; skip what the link already reflects (a repeated
delivery); derive an idempotency key from (connection, hub id, hub version, operation);
hand the rest to the provider's adapter in one batched call; write each link right
after the provider answers, so a retry finds it.

Pull (provider -> hub), for a Pull message: ask the adapter what changed since the
connection's cursor; for each change, recognise our own echo by its content hash; else
apply it to the linked record, with the later change winning when both sides changed
(the loser is kept in the record's audit history); new provider objects go through
import matching; save the cursor after the page.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from booksync.engine.messages import Pull, PushRecord
from booksync.engine.seam import (
    Change,
    ProviderSession,
    PullAdapter,
    PushAdapter,
    Pushed,
    PushItem,
)
from booksync.errors import InvalidInput, SyncFailure
from booksync.hub.content import KIND_MODELS, content_hash
from booksync.observability import logger
from booksync.store.links import find_by_provider_id, get_links, link_key, save_link
from booksync.store.models import Connection, Cursor, Lease, Link, Record, utcnow
from booksync.store.sync_errors import resolve_synced

# provider-managed fields of a contact: what a pull may change in the hub
PROVIDER_FIELDS = {
    "contact": (
        "name",
        "kind",
        "first_name",
        "last_name",
        "emails",
        "phones",
        "physical_address",
        "mailing_address",
        "active",
    ),
    "user": ("first_name", "last_name", "email", "active"),
    "work_item": ("name", "status"),
}


def idempotency_key(
    connection_id: str, hub_id: str, version: int, operation: str, retry: int = 0
) -> str:
    """Stable per (connection, record, version, operation, operator retry): a replay sends
    the same key. 36 characters fit QBO's batch requestid limit."""
    raw = f"{connection_id}|{hub_id}|{version}|{operation}" + (f"|retry{retry}" if retry else "")
    return hashlib.sha256(raw.encode()).hexdigest()[:36]


@dataclass
class PushOutcome:
    """Per message id: None = done (sent or nothing to send), else the failure."""

    results: dict[str, Exception | None] = field(default_factory=dict)
    sent: int = 0
    skipped: int = 0
    resolved: int = 0  # sync errors of records that reached the provider this time


def push_batch(
    session: ProviderSession,
    adapter: PushAdapter,
    messages: list[tuple[str, PushRecord]],
) -> PushOutcome:
    """Push the records of (message id, message) pairs of one connection and kind."""
    outcome = PushOutcome()
    conn = session.connection
    latest: dict[str, tuple[Record, list[str]]] = {}
    retries: dict[str, int] = {}
    # batched, consistent reads: a bundle is up to 500 records per invocation, and a stale
    # read of a record just changed would look already synced
    keys = {(m.tenant_id, Record.key(m.kind, m.record_id)) for _, m in messages}
    stored = {r.record_key: r for r in Record.batch_get(list(keys), consistent_read=True)}
    for message_id, message in messages:
        retries[message.record_id] = max(retries.get(message.record_id, 0), message.retry)
        record = stored.get(Record.key(message.kind, message.record_id))
        if record is None:
            outcome.results[message_id] = None  # nothing to send: it never existed or was purged
            outcome.skipped += 1
            continue
        known = latest.get(record.record_id)
        latest[record.record_id] = (record, ([*known[1]] if known else []) + [message_id])

    items: list[PushItem] = []
    item_messages: list[list[str]] = []
    synced: list[tuple[str, str]] = []  # (kind, id) of the records now at the provider
    links = {
        kind: get_links(
            conn.tenant_id,
            conn.provider,
            kind,
            [r.record_id for r, _ in latest.values() if r.kind == kind],
        )
        for kind in {r.kind for r, _ in latest.values()}
    }
    for record, message_ids in latest.values():
        link = links[record.kind].get(record.record_id)
        if link is not None and link.synced_version >= record.version:
            for mid in message_ids:
                outcome.results[mid] = None
            outcome.skipped += 1
            synced.append((record.kind, record.record_id))
            continue
        if record.deleted and link is None:
            for mid in message_ids:
                outcome.results[mid] = None
            outcome.skipped += 1
            continue
        content = KIND_MODELS[record.kind].model_validate(record.data)
        if record.deleted:
            content = (
                content.model_copy(update={"active": False})
                if hasattr(content, "active")
                else content
            )
        operation = "update" if link else "create"
        items.append(
            PushItem(
                record=record,
                content=content,
                link=link,
                idempotency_key=idempotency_key(
                    conn.connection_id,
                    record.record_id,
                    int(record.version),
                    operation,
                    retries.get(record.record_id, 0),
                ),
            )
        )
        item_messages.append(message_ids)

    items = _mark_create_attempts(conn, items)
    for start in range(0, len(items), adapter.max_batch):
        chunk = items[start : start + adapter.max_batch]
        chunk_messages = item_messages[start : start + adapter.max_batch]
        try:
            results = adapter.push(session, chunk)
        except SyncFailure as failure:  # the whole call failed (throttled, unavailable, ...)
            results = [failure] * len(chunk)
        for item, result, message_ids in zip(chunk, results, chunk_messages, strict=True):
            if isinstance(result, Pushed):
                save_link(
                    conn.tenant_id,
                    conn.provider,
                    item.record.kind,
                    item.record.record_id,
                    result.provider_id,
                    provider_version=result.provider_version,
                    content_hash=result.content_hash,
                    synced_version=int(item.record.version),
                )
                outcome.sent += 1
                synced.append((item.record.kind, item.record.record_id))
                for mid in message_ids:
                    outcome.results[mid] = None
            else:
                for mid in message_ids:
                    outcome.results[mid] = result
    if synced:  # their sync errors, if any, are over
        outcome.resolved = resolve_synced(conn.tenant_id, conn.provider, synced)
    return outcome


INTENT_TTL_SECONDS = 7 * 24 * 3600


def _intent_key(conn: Connection, item: PushItem) -> str:
    return f"intent#{conn.connection_id}#{item.record.kind}#{item.record.record_id}"


def _mark_create_attempts(conn: Connection, items: list[PushItem]) -> list[PushItem]:
    """Record that a create is about to be sent, and flag the creates sent before whose
    outcome never reached a link (the provider may hold them already)."""
    creates = [item for item in items if item.link is None]
    if not creates:
        return items
    keys = [_intent_key(conn, item) for item in creates]
    seen = {row.pk for row in Lease.batch_get(keys)}
    expires = int(time.time()) + INTENT_TTL_SECONDS
    with Lease.batch_write() as batch:
        for key in keys:
            if key not in seen:
                batch.save(Lease(key, expires_at=expires))
    return [
        replace(item, attempted_before=True)
        if item.link is None and _intent_key(conn, item) in seen
        else item
        for item in items
    ]


# ---------------------------------------------------------------------------------- pull


@dataclass
class PullResult:
    changes: int = 0
    echoes: int = 0
    applied: int = 0
    created: int = 0
    hub_won: int = 0
    rejected: int = 0
    cursor: str | None = None


SaveRecord = Callable[..., Record]
AdoptNew = Callable[[Connection, list[Change]], int]
Fanout = Callable[[Record, str | None], Any]


@dataclass
class PullDeps:
    """What pull needs from the rest of booksync (records API, importer, fan-out)."""

    save_record: SaveRecord  # records.save_record
    fanout: Fanout  # (record, exclude_provider) -> enqueue pushes
    adopt_new: AdoptNew  # import matching for objects with no link, all at once


PULL_FAMILY = "changes"


def covered_by_a_later_pull(connection_id: str, sent_at: datetime | None) -> bool:
    """True when a pull that began after this notice was sent has completed: it read
    everything the notice is about. A burst of webhooks (a bulk push echoing back) then
    costs one pull, not one each."""
    if sent_at is None:
        return False
    try:
        row = Cursor.get(connection_id, PULL_FAMILY, consistent_read=True)
    except Cursor.DoesNotExist:
        return False
    # a second's margin for the clocks of SQS and of the worker
    margin = timedelta(seconds=1)
    return row.started_at is not None and _aware(row.started_at) > _aware(sent_at) + margin


def pull_changes(
    session: ProviderSession, adapter: PullAdapter, message: Pull, deps: PullDeps
) -> PullResult:
    conn = session.connection
    started = utcnow()
    try:
        cursor_row = Cursor.get(conn.connection_id, PULL_FAMILY, consistent_read=True)
    except Cursor.DoesNotExist:
        cursor_row = Cursor(conn.connection_id, PULL_FAMILY, runs=0)
    changes, new_cursor = adapter.changes(session, cursor_row.position)
    result = PullResult(changes=len(changes), cursor=new_cursor)
    latest: dict[tuple[str, str], Change] = {}
    for change in changes:  # an object met twice in one read: its later state only
        key = (change.kind, change.provider_id)
        if key not in latest or _aware(change.changed_at) >= _aware(latest[key].changed_at):
            latest[key] = change
    changes = list(latest.values())
    known = _linked_records(conn, changes)
    unlinked: list[Change] = []
    for change in changes:
        try:
            if not apply_change(conn, change, deps, result, known):
                unlinked.append(change)
        except InvalidInput as exc:
            # content the hub cannot hold (e.g. an employee without an email): say which
            # object and why, and go on with the rest of the page
            result.rejected += 1
            logger.warning(
                "provider object not taken into the hub",
                extra={
                    "provider_id": change.provider_id,
                    "kind": change.kind,
                    "reason": exc.detail,
                },
            )
    if unlinked:
        result.created += deps.adopt_new(conn, unlinked)
    cursor_row.position = new_cursor
    cursor_row.runs = (cursor_row.runs or 0) + 1
    cursor_row.last_run_at = utcnow()
    cursor_row.started_at = started
    cursor_row.save()
    logger.info(
        "pull applied",
        extra={
            "reason": message.reason,
            "changes": result.changes,
            "echoes": result.echoes,
            "applied": result.applied,
            "records_created": result.created,
            "hub_won": result.hub_won,
        },
    )
    return result


# past this many changes a pull reads the connection's links in one pass, not one by one
# (a bulk push echoes back as a page of up to 1,000 changes)
LINKS_IN_ONE_PASS = 25
Known = dict[tuple[str, str], tuple[Link, Record | None]]


def _linked_records(conn: Connection, changes: list[Change]) -> Known:
    """(kind, provider id) -> (its link, its hub record or None), for the linked ones."""
    wanted = {(c.kind, c.provider_id) for c in changes}
    found: list[Link] = []
    if len(wanted) > LINKS_IN_ONE_PASS:
        keys = {f"{kind}#{pid}" for kind, pid in wanted}
        found = [
            link
            for link in Link.query(link_key(conn.tenant_id, conn.provider))
            if link.provider_key in keys
        ]
    else:
        for kind, pid in wanted:
            link = find_by_provider_id(conn.tenant_id, conn.provider, kind, pid)
            if link is not None:
                found.append(link)
    hub_keys = {(conn.tenant_id, link.hub_key) for link in found}
    records = {r.record_key: r for r in Record.batch_get(list(hub_keys), consistent_read=True)}
    known: Known = {}
    for link in found:
        kind, _, provider_id = link.provider_key.partition("#")
        known[(kind, provider_id)] = (link, records.get(link.hub_key))
    return known


def apply_change(
    conn: Connection,
    change: Change,
    deps: PullDeps,
    result: PullResult,
    known: Known | None = None,
) -> bool:
    """Apply a change to its linked record; False if the object has no link yet.
    `known`: the links and records of the page, read ahead (else looked up here)."""
    if known is None:
        known = _linked_records(conn, [change])
    link, record = known.get((change.kind, change.provider_id), (None, None))
    if link is None:
        return change.content is None  # a deletion of something never linked: done
    hub_id = link.hub_key.split("#", 1)[1]
    if record is None:
        return True
    if record.deleted:
        logger.info("provider change to a record deleted in the hub; ignored")
        return True
    current = _normalized(change.kind, record.data)
    incoming = dict(change.content) if change.content is not None else {**current, "active": False}
    managed = PROVIDER_FIELDS.get(change.kind, ())
    merged = _normalized(
        change.kind, {**current, **{k: incoming[k] for k in managed if k in incoming}}
    )
    new_hash = content_hash(_provider_view(merged, managed))
    if link.content_hash == new_hash or _provider_view(current, managed) == _provider_view(
        merged, managed
    ):
        # our own write coming back, or nothing the provider manages changed
        result.echoes += 1
        if change.provider_version and change.provider_version != link.provider_version:
            link.update(actions=[type(link).provider_version.set(change.provider_version)])
        return True
    hub_changed_since_sync = record.version > link.synced_version
    if hub_changed_since_sync and _aware(record.updated_at) > _aware(change.changed_at):
        result.hub_won += 1
        _keep_in_history(record, conn.provider, change, incoming)
        deps.fanout(record, None)  # the hub's later edit goes out again, to every provider
        return True
    saved = deps.save_record(
        conn.tenant_id,
        change.kind,
        hub_id,
        merged,
        origin=conn.provider,
        expected_version=int(record.version),
        changed_at=change.changed_at,
    )
    save_link(
        conn.tenant_id,
        conn.provider,
        change.kind,
        hub_id,
        change.provider_id,
        provider_version=change.provider_version,
        content_hash=new_hash,
        synced_version=int(saved.version),
    )
    result.applied += 1
    deps.fanout(saved, conn.provider)
    return True


def _normalized(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The content as the hub model dumps it (defaults filled), so equal means equal."""
    dumped: dict[str, Any] = KIND_MODELS[kind].model_validate(data).model_dump(mode="json")
    return dumped


def _provider_view(data: dict[str, Any], managed: tuple[str, ...]) -> dict[str, Any]:
    return {k: data.get(k) for k in managed}


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _keep_in_history(
    record: Record, provider: str, change: Change, incoming: dict[str, Any]
) -> None:
    """The provider's losing edit stays visible in the record's audit history."""
    history = list(record.history or [])
    history.append(
        {
            "version": int(record.version),
            "origin": provider,
            "at": _aware(change.changed_at).isoformat(),
            "lost_to": "practice",
            "provider_content": incoming,
        }
    )
    record.update(actions=[Record.history.set(history[-20:])])
