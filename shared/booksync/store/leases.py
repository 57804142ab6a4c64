"""Short-lived coordination rows in the Leases table (expired rows vanish by TTL).

- `put_once` / `take`: single-use values (OAuth states, pending choices).
- `acquire` / `release`: a lease one caller at a time may hold (token refresh).
An expired row is treated as absent even before DynamoDB's TTL sweep removes it.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from booksync.store.models import Lease


def _now() -> int:
    return int(time.time())


class Taken(Exception):
    """put_once found a live row: `expires_at` says when it frees."""

    def __init__(self, expires_at: int) -> None:
        self.expires_at = expires_at
        super().__init__(f"taken until {expires_at}")


def put_once(pk: str, value: dict[str, Any], ttl_seconds: int) -> None:
    """Write a row that must not exist yet (an expired one counts as absent); else Taken."""
    now = _now()
    try:
        Lease(pk, value=value, expires_at=now + ttl_seconds).save(
            condition=Lease.pk.does_not_exist() | (Lease.expires_at < now)
        )
    except PutError as exc:
        try:
            expires_at = int(Lease.get(pk, consistent_read=True).expires_at)
        except Lease.DoesNotExist:
            expires_at = now
        raise Taken(expires_at) from exc


def take(pk: str) -> dict[str, Any] | None:
    """Delete and return the value if present and unexpired; None if used or expired."""
    try:
        row = Lease.get(pk, consistent_read=True)
    except Lease.DoesNotExist:
        return None
    try:
        row.delete(condition=Lease.pk.exists() & (Lease.version == row.version))
    except DeleteError:
        return None  # somebody else took it first
    if row.expires_at < _now():
        return None
    value: dict[str, Any] = row.value or {}
    return value


def acquire(pk: str, owner: str, ttl_seconds: int) -> bool:
    now = _now()
    try:
        Lease(pk, owner=owner, expires_at=now + ttl_seconds).save(
            condition=Lease.pk.does_not_exist() | (Lease.expires_at < now)
        )
    except PutError:
        return False
    return True


def release(pk: str, owner: str) -> None:
    # expired and taken over: nothing of ours to release
    with contextlib.suppress(DeleteError):
        Lease(pk).delete(condition=Lease.owner == owner)


# ------------------------------------------------------------------ rate buckets


def bucket(pk: str) -> tuple[dict[str, Any], int] | None:
    """A rate bucket's value and version, read consistently; None: no bucket yet."""
    try:
        row = Lease.get(pk, consistent_read=True)
    except Lease.DoesNotExist:
        return None
    return dict(row.value or {}), int(row.version or 0)


def write_bucket(pk: str, value: dict[str, Any], version: int | None, expires_at: int) -> bool:
    """Store a bucket's new value if it is still at `version` (None: if it does not exist);
    False when another caller wrote first."""
    try:
        if version is None:
            Lease(pk, value=value, version=1, expires_at=expires_at).save(
                condition=Lease.pk.does_not_exist()
            )
        else:
            Lease(pk).update(
                actions=[
                    Lease.value.set(value),
                    Lease.version.set(version + 1),
                    Lease.expires_at.set(expires_at),
                ],
                condition=Lease.version == version,
            )
    except (PutError, UpdateError):
        return False
    return True


# ------------------------------------------------------------------ create intents


def intent_key(connection_id: str, kind: str, hub_id: str) -> str:
    """The row of a record's creates at one connection (engine/push.py writes it)."""
    return f"intent#{connection_id}#{kind}#{hub_id}"


def intent_lookup_key(connection_id: str, kind: str, lookup: str) -> str:
    """The row naming the record whose create shows `lookup` (engine/push.py)."""
    return f"intent-by#{connection_id}#{kind}#{lookup}"


def read_many(pks: list[str]) -> dict[str, dict[str, Any]]:
    """Live rows among `pks` -> their values, in batched reads."""
    now = _now()
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(pks), 100):
        for row in Lease.batch_get(sorted(set(pks[start : start + 100])), consistent_read=True):
            if int(row.expires_at) >= now:
                found[str(row.pk)] = dict(row.value or {})
    return found


def write_many(rows: dict[str, dict[str, Any]], ttl_seconds: int) -> None:
    """Write rows as they are (batched); a row already there is overwritten."""
    expires = _now() + ttl_seconds
    with Lease.batch_write() as batch:
        for pk, value in rows.items():
            batch.save(Lease(pk, value=value, expires_at=expires))
