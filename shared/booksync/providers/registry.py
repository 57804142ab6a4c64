"""Every entity family booksync syncs, one line each: the list a new family is added to.

Everything else is derived from it: which provider wants which record (routing), the
batch sizes of bulk messages, each provider's settings schema, the sources a pull reads
and which family maps and adopts each kind of provider object.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import BaseModel, create_model

from booksync.engine.seam import Family, Source
from booksync.hub.settings import BaseSettings
from booksync.providers.qbo import customers as qbo_customers
from booksync.providers.qbo import employees as qbo_employees
from booksync.providers.qbo import invoices as qbo_invoices
from booksync.providers.qbo import jobs as qbo_jobs
from booksync.providers.qbo import payments as qbo_payments
from booksync.providers.qbo import time_activities as qbo_time
from booksync.providers.qbt import jobcodes as qbt_jobcodes
from booksync.providers.qbt import time_off as qbt_time_off
from booksync.providers.qbt import timesheets as qbt_timesheets
from booksync.providers.qbt import users as qbt_users
from booksync.providers.xero import contacts as xero_contacts
from booksync.providers.xero import employees as xero_employees
from booksync.providers.xero import invoices as xero_invoices
from booksync.providers.xero import leave as xero_leave
from booksync.providers.xero import payments as xero_payments

PROVIDERS = ("qbo", "qbt", "xero")

FAMILIES: tuple[Family, ...] = (
    qbo_customers.Customers(),
    qbo_jobs.Jobs(),
    qbo_employees.Employees(),
    qbo_time.TIME_ACTIVITIES,
    qbo_invoices.INVOICES,
    qbo_payments.PAYMENTS,
    qbt_jobcodes.CLIENTS,
    qbt_jobcodes.WORK_ITEMS,
    qbt_users.Users(),
    qbt_timesheets.TIMESHEETS,
    qbt_time_off.TIME_OFF,
    xero_contacts.Contacts(),
    xero_employees.PayrollEmployees(),
    xero_invoices.Invoices(),
    xero_payments.Payments(),
    xero_leave.EmployeeLeave(),
)


def families(provider: str) -> list[Family]:
    return [f for f in FAMILIES if f.provider == provider]


def family(provider: str, kind: str) -> Family | None:
    """The family that syncs hub records of `kind` with `provider`, if any."""
    return next((f for f in FAMILIES if f.provider == provider and f.kind == kind), None)


def pushed(provider: str, kind: str) -> Family | None:
    found = family(provider, kind)
    return found if found is not None and found.pushes else None


def adopting(provider: str, object_type: str) -> Family | None:
    """The family whose kind unlinked provider objects of this type become."""
    return next((f for f in families(provider) if f.object_type == object_type and f.adopts), None)


def read_object_types(provider: str) -> set[str]:
    """The provider's object types a pull reads, case-folded: a webhook about any other
    type (QBO TimeActivity, which booksync only writes) changes nothing booksync holds."""
    return {f.object_type.casefold() for f in families(provider) if f.source is not None}


def bundle_size(provider: str) -> int:
    """Records per bulk message: one provider batch (QBO 30, Xero and QBT 50)."""
    return max((f.max_batch for f in families(provider) if f.pushes), default=1)


def sources(provider: str) -> list[Source]:
    """The sources a pull of `provider` reads, each built once with every family that
    names its factory (QBO's CDC reads customers and employees in one call)."""
    groups: dict[Any, list[Family]] = {}
    for f in families(provider):
        if f.source is not None:
            groups.setdefault(f.source, []).append(f)
    return [factory(members) for factory, members in groups.items()]


def named_by(found: list[Source], topics: frozenset[str] | None) -> list[Source]:
    """Of these sources, those a webhook's `topics` may concern (seam.Source.topics);
    all of them for None (a schedule's, a person's pull)."""
    if topics is None:
        return found
    return [s for s in found if (own := getattr(s, "topics", None)) is None or topics & set(own)]


# ------------------------------------------------------------------------- settings


@cache
def settings_schema(provider: str) -> type[BaseModel]:
    """The provider's connection settings: sync_enabled plus its families' fields."""
    fields: dict[str, Any] = {}
    for f in families(provider):
        fields.update(f.settings)
    model: type[BaseModel] = create_model(
        f"{provider.title()}Settings", __base__=BaseSettings, **fields
    )
    return model


def effective_settings(provider: str, settings: dict[str, Any] | None) -> dict[str, Any]:
    """The connection's settings over the schema defaults of its provider, so a
    connection saved before a setting existed routes the way the settings page shows."""
    if provider not in PROVIDERS:
        return dict(settings or {})
    defaults = settings_schema(provider)().model_dump()
    return {**defaults, **(settings or {})}


def wants(provider: str, settings: dict[str, Any], kind: str, data: dict[str, Any]) -> bool:
    """True when a connection to `provider` with `settings` should receive this record:
    never when its `sync_enabled` is off; else as the kind's family says (no family: no)."""
    found = pushed(provider, kind)
    if found is None:
        return False
    effective = effective_settings(provider, settings)
    if not effective.get("sync_enabled", True):
        return False
    return found.wants(effective, data)


def importer_family(provider: str) -> Family | None:
    """The family whose objects an import reads (contacts: QBO customers, Xero contacts)."""
    return next(
        (f for f in families(provider) if f.kind == "contact" and hasattr(f, "import_list")),
        None,
    )


def check_unique(entries: Sequence[Family] = FAMILIES) -> None:
    """One family per (provider, kind) and one adopting family per object type."""
    seen: set[tuple[str, str]] = set()
    adopters: set[tuple[str, str]] = set()
    for f in entries:
        if (f.provider, f.kind) in seen:
            raise ValueError(f"two families sync {f.kind} with {f.provider}")
        seen.add((f.provider, f.kind))
        if f.adopts:
            if (f.provider, f.object_type) in adopters:
                raise ValueError(f"two {f.provider} families adopt {f.object_type}")
            adopters.add((f.provider, f.object_type))


check_unique()
