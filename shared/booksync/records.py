"""Hub records: create, read, list; every change bumps `version`.

The record is written first; the caller then enqueues it for every active connection
that wants it (a crash in between is caught up by reconciliation: version > synced).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from pynamodb.exceptions import PutError

from booksync.errors import Conflict, InvalidInput, NotFound
from booksync.models import Record, utcnow


def create_record(
    tenant_id: str, kind: str, data: dict[str, Any], origin: str = "practice"
) -> Record:
    record_id = str(uuid.uuid4())
    now = utcnow()
    record = Record(
        tenant_id,
        Record.key(kind, record_id),
        kind=kind,
        record_id=record_id,
        version=1,
        origin=origin,
        data=data,
        created_at=now,
        updated_at=now,
    )
    try:
        record.save(condition=Record.record_key.does_not_exist())
    except PutError as exc:  # pragma: no cover - a uuid4 clash
        raise Conflict(f"{kind} {record_id} already exists") from exc
    return record


def get_record(tenant_id: str, kind: str, record_id: str) -> Record:
    try:
        return Record.get(tenant_id, Record.key(kind, record_id))
    except Record.DoesNotExist as exc:
        raise NotFound(f"no {kind} {record_id}") from exc


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor") from exc
    if not isinstance(value, dict):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return value


def list_records(
    tenant_id: str, kind: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[Record], str | None]:
    """One page of a tenant's records of a kind, and the cursor of the next page."""
    result = Record.query(
        tenant_id,
        Record.record_key.startswith(f"{kind}#"),
        limit=limit,
        last_evaluated_key=_decode_cursor(cursor),
    )
    items = list(result)
    return items, _encode_cursor(result.last_evaluated_key)
