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


def get_many(connection_id: str, families: list[str]) -> dict[str, Cursor]:
    """The cursors of these sources, by key (one batch read)."""
    keys = [(connection_id, f) for f in families]
    return {str(c.family): c for c in Cursor.batch_get(keys, consistent_read=True)} if keys else {}


def save(cursor: Cursor) -> None:
    cursor.save()


def of_connection(connection_id: str) -> list[Cursor]:
    return list(Cursor.query(connection_id))
