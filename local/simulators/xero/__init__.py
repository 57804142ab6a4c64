"""The Xero simulator: Identity/OAuth 2.0, Accounting API 2.0 and Payroll UK (see README.md)."""

from __future__ import annotations

from ..core import Clock, Provider
from .provider import XeroProvider


def make_provider(clock: Clock) -> Provider:
    """A fresh Xero simulator on `clock` (no organisations until one is seeded or authorised)."""
    return XeroProvider(clock)


__all__ = ["XeroProvider", "make_provider"]
