""" "Save and sync": send every hub record a connection wants, and QBT's one-time setup.

For QBT this first makes sure the two timesheet custom fields (task type and role)
exist with the hub's lists as their items; with fewer than two of QBT's six custom
fields free it stops with the sync error "Too many custom fields in QBT".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from booksync.engine.messages import push_messages
from booksync.engine.queues import Enqueuer
from booksync.engine.seam import ProviderSession
from booksync.errors import Conflict, SyncFailure
from booksync.hub.routing import BUNDLE_SIZE, KINDS_IN_ORDER, wants
from booksync.store.models import Connection, Cursor, Record
from booksync.store.sync_errors import upsert_error


@dataclass
class Resync:
    enqueued: dict[str, int] = field(default_factory=dict)
    custom_fields: dict[str, Any] | None = None


def hub_records(tenant_id: str, kind: str) -> list[Record]:
    return [
        r
        for r in Record.query(tenant_id, Record.record_key.startswith(f"{kind}#"))
        if not r.deleted
    ]


def setup_qbt(session: ProviderSession, api_base: str) -> dict[str, Any]:
    """The two custom fields time entries need, their items kept in step with the hub."""
    from booksync.providers.qbt.adapters import ensure_custom_fields

    conn = session.connection
    users = hub_records(conn.tenant_id, "user")
    task_types = sorted({t for u in users for t in u.data.get("task_types", [])})
    roles = sorted({r for u in users for r in u.data.get("roles", [])})
    try:
        ids = ensure_custom_fields(session, task_types, roles, api_base=api_base)
    except SyncFailure as failure:
        upsert_error(
            tenant_id=conn.tenant_id,
            provider="qbt",
            connection_id=conn.connection_id,
            kind="connection",
            record_id=conn.connection_id,
            failure=failure,
        )
        raise Conflict(f"{failure.spec.title}: {failure.provider_message}") from failure
    Cursor(conn.connection_id, "qbt_custom_fields", position=json.dumps(ids)).save()
    return ids


def resync(conn: Connection, enqueuer: Enqueuer) -> Resync:
    """Queue every hub record this connection's settings want (links make it idempotent),
    in bundles the size of the provider's batch."""
    result = Resync()
    settings = conn.settings or {}
    for kind in KINDS_IN_ORDER:
        wanted = [
            (record.record_id, int(record.version))
            for record in hub_records(conn.tenant_id, kind)
            if wants(conn.provider, settings, kind, record.data)
        ]
        enqueuer.send_many(
            push_messages(
                conn.tenant_id,
                conn.connection_id,
                conn.provider,  # type: ignore[arg-type]  # a connection's provider is one
                kind,
                wanted,
                BUNDLE_SIZE[conn.provider],
            )
        )
        result.enqueued[kind] = len(wanted)
    return result
