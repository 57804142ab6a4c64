"""QuickBooks Time (TSheets REST API v1) simulator; see README.md for what it covers."""

from __future__ import annotations

from ..core import Clock
from .provider import QbtProvider


def make_provider(clock: Clock) -> QbtProvider:
    """The QBT provider on `clock` (the core serves it; `local.simulators.start` calls this)."""
    return QbtProvider(clock)


__all__ = ["QbtProvider", "make_provider"]
