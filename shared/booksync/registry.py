"""Which adapter syncs which (provider, kind): the one list a new entity is added to."""

from __future__ import annotations

from typing import Any

from booksync.adapters import PullAdapter, PushAdapter
from booksync.providers.qbo import adapters as qbo
from booksync.providers.qbt import adapters as qbt
from booksync.providers.xero import adapters as xero
from booksync.settings import Settings


def push_adapter(
    provider: str, kind: str, settings: Settings, conn_settings: dict[str, Any]
) -> PushAdapter | None:
    """The adapter that sends hub records of `kind` to `provider`, or None if none does."""
    p = settings.providers
    if provider == "qbo":
        makers = {
            "contact": qbo.CustomerPush,
            "work_item": qbo.WorkItemPush,
            "user": qbo.EmployeePush,
        }
        maker = makers.get(kind)
        return maker(p.qbo_api_base) if maker else None
    if provider == "qbt":
        if kind in ("contact", "work_item"):
            return qbt.JobcodePush(
                kind,  # type: ignore[arg-type]
                api_base=p.qbt_api_base,
                assign_to_all_users=bool(
                    conn_settings.get("assign_new_jobcodes_to_all_users", False)
                ),
            )
        if kind == "user":
            return qbt.UserPush(api_base=p.qbt_api_base)
        return None
    if provider == "xero" and kind == "contact":
        return xero.ContactPush(p.xero_api_base)
    return None


def pull_adapter(provider: str, settings: Settings) -> PullAdapter | None:
    p = settings.providers
    if provider == "qbo":
        return qbo.QboPull(p.qbo_api_base)
    if provider == "qbt":
        return qbt.QbtPull(api_base=p.qbt_api_base)
    if provider == "xero":
        return xero.XeroPull(p.xero_api_base)
    return None


def adopt(rt: Any, conn: Any, change: Any) -> Any:
    """A provider object with no link: import matching decides (link, review or create)."""
    return None
