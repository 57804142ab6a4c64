"""Which adapter syncs which (provider, kind): the one list a new entity is added to."""

from __future__ import annotations

from typing import Any

from booksync.adapters import PullAdapter, PushAdapter
from booksync.settings import Settings


def push_adapter(
    provider: str, kind: str, settings: Settings, conn_settings: dict[str, Any]
) -> PushAdapter | None:
    """The adapter that sends hub records of `kind` to `provider`, or None if none does."""
    return None


def pull_adapter(provider: str, settings: Settings) -> PullAdapter | None:
    return None


def adopt(rt: Any, conn: Any, change: Any) -> Any:
    """A provider object with no link: import matching decides (link, review or create)."""
    return None
