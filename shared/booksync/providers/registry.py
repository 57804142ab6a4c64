"""Which adapter syncs which (provider, kind): the one list a new entity is added to."""

from __future__ import annotations

from typing import Any

from booksync.engine.seam import Change, PullAdapter, PushAdapter
from booksync.errors import InvalidInput
from booksync.hub import importing as importer
from booksync.hub.importing import ProviderContact
from booksync.providers.qbo import adapters as qbo
from booksync.providers.qbt import adapters as qbt
from booksync.providers.xero import adapters as xero
from booksync.settings import Settings
from booksync.store.models import Connection


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


def import_source(rt: Any, conn: Connection) -> list[ProviderContact]:
    """Every contact at the provider, as the importer reads them (QBO customers, Xero contacts)."""
    from booksync.providers.qbo import mapping as qbo_mapping
    from booksync.providers.xero import mapping as xero_mapping

    session = rt.session(conn)
    p = rt.settings.providers
    if conn.provider == "qbo":
        return [
            ProviderContact.from_dump(
                str(raw["Id"]),
                qbo_mapping.contact_from_customer(raw),
                parent_provider_id=(raw.get("ParentRef") or {}).get("value"),
                provider_version=str(raw.get("SyncToken", "")),
            )
            for raw in qbo.list_customers(session, p.qbo_api_base)
        ]
    if conn.provider == "xero":
        return [
            ProviderContact.from_dump(
                str(raw["ContactID"]),
                xero_mapping.contact_from_xero(raw),
                provider_version=str(raw.get("UpdatedDateUTC", "")),
            )
            for raw in xero.list_contacts(session, p.xero_api_base)
        ]
    raise InvalidInput(
        f"import reads contacts from qbo and xero, not {conn.provider}", field="provider"
    )


def adopt_new(rt: Any, conn: Connection, changes: list[Change]) -> int:
    """Provider objects with no link, met in a pull: contacts go through import matching
    (link, review or create), users are matched by email or created. Returns how many hub
    records were created."""
    from booksync.hub import records

    created = 0
    contacts = [
        ProviderContact.from_dump(
            c.provider_id,
            c.content,
            parent_provider_id=c.parent_provider_id,
            provider_version=c.provider_version,
        )
        for c in changes
        if c.kind == "contact" and c.content is not None
    ]
    if contacts:
        _, settings = importer.connection_settings(conn.tenant_id, conn.provider)
        result = importer.run_import(
            conn.tenant_id,
            conn.provider,
            contacts,
            str(settings.get("import_contact_type") or "Client"),
            records.save_record,
            company_id=conn.company_id or "",
        )
        records.fanout_many(rt.enqueuer, result.created_records, exclude_provider=conn.provider)
        created += len(result.created_records)
    users = [c for c in changes if c.kind == "user" and c.content is not None]
    if users:
        created += _adopt_users(rt, conn, users)
    return created


def _adopt_users(rt: Any, conn: Connection, changes: list[Change]) -> int:
    """Staff from the provider, matched to hub users by staff.adopt_users."""
    from booksync.hub import records, staff

    return staff.adopt_users(
        conn,
        changes,
        save_record=records.save_record,
        fanout=lambda created, exclude: records.fanout_many(
            rt.enqueuer, created, exclude_provider=exclude
        ),
    )
