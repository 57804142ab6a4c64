"""QuickBooks Online (Accounting API v3) simulator; see README.md in this folder."""

from __future__ import annotations

from ..core import Clock, Provider
from .provider import QBOProvider


def make_provider(clock: Clock) -> Provider:
    return QBOProvider(clock)


__all__ = ["QBOProvider", "make_provider"]
