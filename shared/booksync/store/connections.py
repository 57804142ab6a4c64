"""Connection rows: one per tenant and provider. Status and token changes are conditional
on the token version, so a slow writer never overwrites a newer grant's state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from booksync.store.models import Connection, utcnow


def get(tenant_id: str, provider: str, *, consistent: bool = True) -> Connection | None:
    try:
        return Connection.get(tenant_id, provider, consistent_read=consistent)
    except Connection.DoesNotExist:
        return None


def of_tenant(tenant_id: str) -> list[Connection]:
    return list(Connection.query(tenant_id))


def with_company(company_key: str) -> list[Connection]:
    """Connections of a provider company ("<provider>#<company id>"), for webhooks."""
    return list(Connection.by_company.query(company_key))


def every() -> Iterator[Connection]:
    """All connections (the hourly scheduler's fan-out)."""
    return iter(Connection.scan())


def new(tenant_id: str, provider: str, connection_id: str) -> Connection:
    return Connection(tenant_id, provider, connection_id=connection_id, token_version=0)


def save(conn: Connection) -> None:
    conn.save()


def _conditional(conn: Connection, actions: list[Action], condition: Any) -> bool:
    try:
        conn.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def store_tokens(
    conn: Connection, sealed: str, access_expires_at: datetime, *, expected_version: int
) -> bool:
    """A new token set, only if nobody stored one since `expected_version` was read."""
    now = utcnow()
    return _conditional(
        conn,
        [
            Connection.tokens.set(sealed),
            Connection.token_version.set(expected_version + 1),
            Connection.access_expires_at.set(access_expires_at),
            Connection.refreshed_at.set(now),
            Connection.updated_at.set(now),
        ],
        Connection.token_version == expected_version,
    )


def set_status(conn: Connection, status: str, *, expected_token_version: int | None) -> bool:
    """Change the status; with `expected_token_version`, only if the grant is still the
    one that was judged (a refresh meanwhile means the connection is fine)."""
    condition = (
        Connection.token_version == expected_token_version
        if expected_token_version is not None
        else None
    )
    return _conditional(
        conn, [Connection.status.set(status), Connection.updated_at.set(utcnow())], condition
    )


def disconnect(conn: Connection) -> None:
    conn.update(
        actions=[
            Connection.tokens.remove(),
            Connection.status.set("disconnected"),
            Connection.token_version.set((conn.token_version or 0) + 1),
            Connection.updated_at.set(utcnow()),
        ]
    )


def set_settings(conn: Connection, settings: dict[str, Any]) -> None:
    conn.update(actions=[Connection.settings.set(settings), Connection.updated_at.set(utcnow())])


def mark_pulled(conn: Connection, *, started: datetime, finished: datetime) -> None:
    """A pull completed: its start (later notices are not covered by it) and its end (the
    last successful sync shown on the connections page)."""
    conn.update(
        actions=[
            Connection.pull_started_at.set(started),
            Connection.last_sync_at.set(finished),
        ]
    )
