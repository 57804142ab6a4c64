"""Retrying sync errors: one (by the firm or an operator), or all of a firm's (rate limited).

A retried push carries a new `retry` number, which gives the provider a new idempotency
key: QBO replays the first answer (the old error) for a repeated requestid."""

from __future__ import annotations

from typing import Any

from booksync.engine.messages import PushRecord, decode
from booksync.errors import Conflict, TooManyRequests
from booksync.store import SyncErrorRow, leases, sync_errors, utcnow

RETRY_ALL_EVERY_SECONDS = 180
_REAUTH_CODES = (".reauth_required", ".token_expired")


def retry(tenant_id: str, row: SyncErrorRow, enqueuer: Any) -> SyncErrorRow:
    """Send the failed record again (the stored message); the row waits as `retrying`."""
    if row.status not in ("open", "retrying"):
        raise Conflict(f"this error is {row.status}; only open errors are retried")
    if row.code.endswith(_REAUTH_CODES):
        raise Conflict("reconnect the provider to clear this error; there is nothing to resend")
    if not row.message:
        raise Conflict("this error has no change to resend")
    message = decode(row.message)
    if isinstance(message, PushRecord):
        message = message.model_copy(update={"retry": int(row.attempts)})
    enqueuer.send(message)
    return sync_errors.set_status(row, "retrying")


def retry_all(tenant_id: str, enqueuer: Any) -> int:
    """Retry every open error, at most once every three minutes per tenant."""
    try:
        leases.put_once(
            f"retry-all#{tenant_id}", {"at": utcnow().isoformat()}, RETRY_ALL_EVERY_SECONDS
        )
    except leases.Taken as taken:
        wait = max(1, taken.expires_at - int(utcnow().timestamp()))
        raise TooManyRequests(
            "retry all runs at most once every 3 minutes per firm", retry_after=wait
        ) from taken
    count = 0
    for row in sync_errors.list_errors(tenant_id, status="open"):
        if row.message and not row.code.endswith(_REAUTH_CODES):
            retry(tenant_id, row, enqueuer)
            count += 1
    return count
