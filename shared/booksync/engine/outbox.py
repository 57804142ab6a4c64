"""The outbox: how a committed hub change reaches every connection that wants it.

- `fan_out` is fed by the Records table's DynamoDB stream (the fanout function): each
  committed change is queued for every active connection whose settings want it, except
  the provider it came from (`origin`). The write is the truth: a crash of the API right
  after it loses nothing, and nothing else enqueues pushes at write time.
- `reconcile_push` queues every wanted record whose version is ahead of its link's synced
  version (or that has no link): on every reconnect and "save and sync" for the whole
  firm, and every hour for what changed since the last run. A change made while a
  connection needed reauthorisation, or a stream batch whose fan-out failed, is sent then.

Pushes go in bundles of one provider batch, in FIFO groups of (connection, shard of the
record's group key), parents' kinds first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from booksync.engine.budget import CONCURRENCY
from booksync.engine.messages import Message, Provider, push_messages
from booksync.engine.queues import Enqueuer
from booksync.hub import records
from booksync.hub.entities import ENTITIES, kinds_in_order
from booksync.observability import logger
from booksync.providers import registry
from booksync.store import Connection, Record, links
from booksync.store import connections as connection_rows
from booksync.store import records as store

# the hourly reconcile reads what changed since its last run less this margin (the index
# it reads is eventually consistent, and clocks differ)
RECONCILE_OVERLAP = timedelta(hours=1)


@dataclass(frozen=True)
class Changed:
    """A committed version of a hub record, as the stream shows it."""

    tenant_id: str
    kind: str
    record_id: str
    version: int
    origin: str
    data: dict[str, Any]
    deleted: bool = False


_DESERIALIZE = TypeDeserializer()


def changed_from_image(image: dict[str, Any]) -> Changed | None:
    """A stream record's NewImage as a Changed; None for rows that are not hub records
    (a duplicate review row, a kind no declaration names)."""
    item = {k: _DESERIALIZE.deserialize(v) for k, v in image.items()}
    kind = str(item.get("kind") or "")
    if kind not in ENTITIES:
        return None
    data = item.get("data")
    if isinstance(data, str):
        data = json.loads(data)
    return Changed(
        tenant_id=str(item["tenant_id"]),
        kind=kind,
        record_id=str(item["record_id"]),
        version=int(item.get("version") or 1),
        origin=str(item.get("origin") or "practice"),
        data=dict(data or {}),
        deleted=bool(int(item.get("deleted") or 0)),
    )


def changed_from_record(record: Record) -> Changed:
    return Changed(
        tenant_id=str(record.tenant_id),
        kind=str(record.kind),
        record_id=str(record.record_id),
        version=int(record.version),
        origin=str(record.origin),
        data=dict(record.data or {}),
        deleted=bool(record.deleted),
    )


def shard_of(provider: str, kind: str, record_id: str, data: dict[str, Any]) -> str:
    """The FIFO shard of a record's pushes to a provider: its group key (a client and its
    jobs share one) hashed over the provider's concurrent calls less one, the call the
    connection's pull (one FIFO group) may be making meanwhile: Xero's five pushes and a
    pull were six calls at once, one over its limit (a 429 in the sync bench)."""
    key = ENTITIES[kind].group_key(record_id, data)
    width = max(1, CONCURRENCY.get(provider, 1) - 1)
    return str(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % width)


@dataclass
class Queued:
    """What a fan-out or reconcile queued: records per provider and per kind, messages."""

    records: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    messages: int = 0


def messages_for(
    conn: Connection, changed: Iterable[Changed], *, explicit: bool = False
) -> tuple[list[Message], dict[str, int]]:
    """The push messages of `changed` records this connection wants, bundled per shard,
    parents' kinds first; and how many records of each kind they carry. `explicit`: the
    firm asked for these (engine/send.py): sent whatever the settings want."""
    settings = conn.settings or {}
    provider = str(conn.provider)
    by_kind: dict[str, dict[str, list[tuple[str, int]]]] = {}
    for c in changed:
        if not explicit and not registry.wants(provider, settings, c.kind, c.data):
            continue
        shard = shard_of(provider, c.kind, c.record_id, c.data)
        by_kind.setdefault(c.kind, {}).setdefault(shard, []).append((c.record_id, c.version))
    messages: list[Message] = []
    counts: dict[str, int] = {}
    for kind in kinds_in_order():
        for shard, refs in sorted(by_kind.get(kind, {}).items()):
            counts[kind] = counts.get(kind, 0) + len(refs)
            messages += push_messages(
                str(conn.tenant_id),
                str(conn.connection_id),
                _provider(provider),
                kind,
                refs,
                registry.bundle_size(provider),
                shard=shard,
                explicit=explicit,
            )
    return messages, counts


def _provider(name: str) -> Provider:
    if name not in ("qbo", "qbt", "xero"):
        raise ValueError(f"unknown provider {name!r}")
    return name  # type: ignore[return-value]


def fan_out(enqueuer: Enqueuer, changed: Iterable[Changed]) -> Queued:
    """Queue committed changes for every active connection of their tenant that wants
    them, except the provider each came from. One read of the connections per tenant."""
    queued = Queued()
    by_tenant: dict[str, dict[tuple[str, str], Changed]] = {}
    for c in changed:
        latest = by_tenant.setdefault(c.tenant_id, {})
        known = latest.get((c.kind, c.record_id))
        if known is None or c.version >= known.version:
            latest[(c.kind, c.record_id)] = c
    for tenant_id, latest in by_tenant.items():
        for c in latest.values():
            follow = ENTITIES[c.kind].follow
            if follow is not None:  # e.g. a payment's invoices: written before any queuing
                follow(tenant_id, c.record_id, records.update_record)
        for conn in connection_rows.of_tenant(tenant_id):
            if conn.status != "active":
                continue  # sent by the reconcile after the firm reconnects
            mine = [c for c in latest.values() if c.origin != conn.provider]
            messages, counts = messages_for(conn, mine)
            if messages:
                enqueuer.send_many(messages)
                queued.messages += len(messages)
                queued.records[str(conn.provider)] = queued.records.get(
                    str(conn.provider), 0
                ) + sum(counts.values())
    return queued


def kept_in_step(tenant_id: str, kind: str, recent_days: int | None) -> list[Record]:
    """The records of a kind a full reconcile considers: all of them, or those dated in
    the last `recent_days` (read by the date index)."""
    if recent_days is None or not ENTITIES[kind].dated:
        return store.all_of_kind(tenant_id, kind, live_only=False)
    first = (date.today() - timedelta(days=recent_days)).isoformat()
    keys = store.keys_between(tenant_id, kind, first, None)
    return list(store.get_keys(tenant_id, keys, consistent=False).values())


def reconcile_push(conn: Connection, enqueuer: Enqueuer, since: datetime | None = None) -> Queued:
    """Queue every record the connection wants whose version is ahead of its link's
    synced version, or that has no link (a deleted record with no link: nothing to do).
    `since`: only records changed since then (the hourly run); None: the whole firm."""
    tenant_id, provider = str(conn.tenant_id), str(conn.provider)
    candidates: list[Record] = []
    if since is None:
        for kind in kinds_in_order():
            family = registry.pushed(provider, kind)
            if family is not None and not family.on_request:  # those go when the firm asks
                candidates += kept_in_step(tenant_id, kind, family.recent_days)
    else:
        keys = store.keys_changed_since(tenant_id, since - RECONCILE_OVERLAP)
        kinds = {k for k in kinds_in_order() if registry.pushed(provider, k) is not None}
        keys = [k for k in keys if k.split("#", 1)[0] in kinds]
        candidates = list(store.get_keys(tenant_id, keys, consistent=False).values())
    behind: list[Changed] = []
    by_kind: dict[str, list[Record]] = {}
    for record in candidates:
        by_kind.setdefault(str(record.kind), []).append(record)
    for kind, recs in by_kind.items():
        current = links.get_links(tenant_id, provider, kind, [str(r.record_id) for r in recs])
        family = registry.pushed(provider, kind)
        for record in recs:
            link = current.get(str(record.record_id))
            retired = family is not None and family.retired(record.data or {})
            if link is None and (record.deleted or retired):
                continue
            if link is not None and int(link.synced_version) >= int(record.version):
                continue
            behind.append(changed_from_record(record))
    messages, counts = messages_for(conn, behind)
    if messages:
        enqueuer.send_many(messages)
    logger.info(
        "reconcile push queued",
        extra={
            "connection_id": conn.connection_id,
            "records": counts,
            "messages": len(messages),
            "scope": "all" if since is None else "changed",
        },
    )
    return Queued(records={provider: sum(counts.values())}, kinds=counts, messages=len(messages))


def fan_out_stream(enqueuer: Enqueuer, event: dict[str, Any]) -> dict[str, Any]:
    """The fanout function's body: a DynamoDB stream batch of the Records table. Tenants
    are queued in the order they appear; if one fails, the answer names its first stream
    record, and the event source mapping retries the batch from there (records queued
    twice are harmless: pushes are idempotent and FIFO de-duplicates)."""
    by_tenant: dict[str, list[tuple[str, Changed]]] = {}
    for record in event.get("Records") or []:
        if record.get("eventName") not in ("INSERT", "MODIFY"):
            continue
        image = (record.get("dynamodb") or {}).get("NewImage")
        changed = changed_from_image(image) if image else None
        if changed is None:
            continue
        sequence = str(record["dynamodb"]["SequenceNumber"])
        by_tenant.setdefault(changed.tenant_id, []).append((sequence, changed))
    queued = Queued()
    for tenant_id, entries in by_tenant.items():
        try:
            done = fan_out(enqueuer, [c for _, c in entries])
        except Exception:
            logger.exception(
                "fan-out failed; the stream retries from this tenant's first change",
                extra={"tenant_id": tenant_id},
            )
            return {"batchItemFailures": [{"itemIdentifier": entries[0][0]}]}
        for provider, count in done.records.items():
            queued.records[provider] = queued.records.get(provider, 0) + count
        queued.messages += done.messages
    logger.info(
        "changes fanned out",
        extra={"records": queued.records, "messages": queued.messages},
    )
    return {"batchItemFailures": []}
