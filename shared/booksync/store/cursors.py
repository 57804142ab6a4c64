"""Cursors: where a connection's last pull of a source stopped, and when it began."""

from __future__ import annotations

from booksync.store.models import Cursor


def get(connection_id: str, family: str) -> Cursor | None:
    try:
        return Cursor.get(connection_id, family, consistent_read=True)
    except Cursor.DoesNotExist:
        return None


def get_or_new(connection_id: str, family: str) -> Cursor:
    return get(connection_id, family) or Cursor(connection_id, family, runs=0)


def save(cursor: Cursor) -> None:
    cursor.save()


def of_connection(connection_id: str) -> list[Cursor]:
    return list(Cursor.query(connection_id))
