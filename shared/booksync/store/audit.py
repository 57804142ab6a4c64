"""The audit trail: one row per operator or admin action (who, what, when, which firm),
written by the one-line hooks of the actions and read per firm by key, newest first."""

from __future__ import annotations

import secrets
from typing import Any

from booksync.store.models import AuditEntry, utcnow

OPERATOR_CLI = "operator-cli"  # the actor of the operator's command line


def _partition(tenant_id: str) -> str:
    return f"{tenant_id}#audit"


def record(tenant_id: str, actor: str, action: str, **details: Any) -> None:
    """Note that `actor` did `action` for the firm; `details` name what it touched (ids and
    counts, never tokens or keys)."""
    now = utcnow()
    AuditEntry(
        _partition(tenant_id),
        f"{now.isoformat()}#{secrets.token_hex(4)}",
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        at=now,
        details=details,
    ).save()


def describe(row: AuditEntry) -> dict[str, Any]:
    return {
        "at": row.at.isoformat(),
        "who": row.actor,
        "action": row.action,
        "tenant_id": row.tenant_id,
        "details": dict(row.details or {}),
    }


def list_for(
    tenant_id: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the firm's trail, newest first, after `cursor` (the key the last page
    stopped at); the answer's key says where the next page starts (None: the end)."""
    start = {"link_key": {"S": _partition(tenant_id)}, "hub_key": {"S": cursor}} if cursor else None
    rows = AuditEntry.query(
        _partition(tenant_id),
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=start,
    )
    items = [describe(r) for r in rows]
    last = rows.last_evaluated_key
    return items, (str(last["hub_key"]["S"]) if last and len(items) >= limit else None)
