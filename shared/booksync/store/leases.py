"""Short-lived coordination rows in the Leases table (expired rows vanish by TTL).

- `put_once` / `take`: single-use values (OAuth states, pending choices).
- `acquire` / `release`: a lease one caller at a time may hold (token refresh).
An expired row is treated as absent even before DynamoDB's TTL sweep removes it.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pynamodb.exceptions import DeleteError, PutError

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
