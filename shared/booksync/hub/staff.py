"""Staff met at a provider (QBO employees, Xero payroll employees, QBT users) matched to
hub users: linked when they agree, sent to a person's review when they only partly
agree, created in the hub when nothing agrees.

The rules are matching.classify_staff's: QBO by email, then by display name; Xero by
first name, last name and email together. QBT users are matched by email alone (its
users are people logging time; a QBT user with no email is listed by the unmatched-users
route instead), except for a firm whose books are in Xero: there, as the QBT-Xero
integration booksync replaces, first name, last name and email must all agree (Xero's
rule; issue 15). A partial match opens a possible duplicate of kind "user" in the same
review as contacts (/v1/duplicates?kind=user): link to a candidate, import as new, or
ignore. Nothing here writes to a provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from booksync.engine.seam import Change
from booksync.errors import InvalidInput
from booksync.hub import importing as importer
from booksync.hub.content import content_hash
from booksync.hub.entity import hub_id_for
from booksync.hub.matching import MatchResult, StaffMember, classify_staff, email_key
from booksync.observability import logger
from booksync.providers import registry
from booksync.store import Connection, Record, links
from booksync.store import connections as connection_rows
from booksync.store import records as store

KIND = "user"
SaveRecord = Callable[..., Record]


def _member(record_id: str, data: dict[str, Any]) -> StaffMember:
    return StaffMember(
        record_id,
        first_name=str(data.get("first_name") or ""),
        last_name=str(data.get("last_name") or ""),
        email=str(data.get("email") or "") or None,
    )


def _by_email(provider_staff: list[StaffMember], hub: list[StaffMember]) -> list[MatchResult]:
    """QBT: the hub user with the same email, once each."""
    free = {email_key(h.email): h for h in hub if h.email}
    results = []
    for party in provider_staff:
        match = free.pop(email_key(party.email), None) if party.email else None
        if match is not None:
            results.append(MatchResult(party.id, "exact", hub_id=match.id, reason="same email"))
        else:
            results.append(MatchResult(party.id, "none"))
    return results


def staff_rule(conn: Connection) -> str | None:
    """Whose staff rule matches this connection's people (classify_staff's "qbo" or
    "xero"); None: QBT's email alone."""
    if conn.provider in importer.IMPORT_PROVIDERS:
        return str(conn.provider)
    books = connection_rows.get(str(conn.tenant_id), "xero", consistent=False)
    return "xero" if books is not None and books.status == "active" else None


def adopt_users(conn: Connection, changes: list[Change], save_record: SaveRecord) -> list[Record]:
    """The hub kind's `adopt` (hub/kinds/users.py): provider staff with no link are
    linked, reviewed or created. Returns the hub users created (the outbox sends them to
    the tenant's other connections)."""
    tenant_id, provider = conn.tenant_id, conn.provider
    hub_records = {str(r.record_id): r for r in store.all_of_kind(tenant_id, KIND)}
    linked = {
        str(link.provider_id): links.hub_id_of(link)
        for link in links.links_of(tenant_id, provider, KIND)
    }
    hub = [_member(rid, r.data or {}) for rid, r in hub_records.items()]
    members = [_member(c.provider_id, c.content or {}) for c in changes]
    rule = staff_rule(conn)
    if rule is not None:
        results = classify_staff(rule, members, hub, linked)
    else:
        taken = set(linked.values())
        results = _by_email(members, [h for h in hub if h.id not in taken])
    reviews = {
        (row.data or {}).get("provider_id"): row
        for row in importer.duplicates_of(tenant_id, provider, KIND)
    }
    created: list[Record] = []
    for change, result in zip(changes, results, strict=True):
        extra = {"provider_id": change.provider_id, "match": result.status}
        if result.status == "linked":
            continue
        if result.status == "exact":
            record = hub_records[str(result.hub_id)]
            link(conn, record, change)
            logger.info(
                "provider staff linked to a hub user", extra={**extra, "why": result.reason}
            )
            continue
        review = reviews.get(change.provider_id)
        if review is not None and (review.data or {}).get("status") == "ignored":
            continue
        if result.status == "partial":
            importer.save_duplicate(
                tenant_id, provider, _review_item(change), result.candidates, review, kind=KIND
            )
            logger.info("provider staff sent to review: a possible duplicate", extra=extra)
            continue
        new = create(conn, change, save_record)
        if new is not None:
            created.append(new)
    return created


def _review_item(change: Change) -> importer.ProviderContact:
    content = change.content or {}
    name = f"{content.get('first_name', '')} {content.get('last_name', '')}".strip()
    return importer.ProviderContact(
        provider_id=change.provider_id,
        name=name,
        email=str(content.get("email") or "") or None,
        content=dict(content),
        provider_version=change.provider_version,
    )


def object_type(provider: str) -> str:
    family = registry.family(provider, KIND)
    if family is None:
        raise InvalidInput(f"{provider} has no staff", field="provider")
    return family.object_type


def linked(conn: Connection, provider_id: str) -> bool:
    """Is this provider employee linked to a hub user already?"""
    found = links.find_by_provider_id(
        conn.tenant_id, conn.provider, object_type(conn.provider), provider_id
    )
    return found is not None


def link(conn: Connection, record: Record, change: Change | importer.ProviderContact) -> None:
    content = change.content or {}
    links.save_link(
        conn.tenant_id,
        conn.provider,
        KIND,
        str(record.record_id),
        object_type(conn.provider),
        change.provider_id,
        provider_version=change.provider_version,
        content_hash=content_hash(content),
        synced_version=int(record.version),
    )


def create(conn: Connection, change: Change, save_record: SaveRecord) -> Record | None:
    """The hub user of a provider employee, under an id derived from it (a replay after a
    crash finds it instead of making a second), then linked."""
    hub_id = hub_id_for(conn.provider, conn.company_id or "", KIND, change.provider_id)
    try:
        record = save_record(
            conn.tenant_id,
            KIND,
            hub_id,
            change.content,
            origin=conn.provider,
            changed_at=change.changed_at,
        )
    except InvalidInput as exc:
        logger.warning(
            "provider staff not taken into the hub",
            extra={"provider_id": change.provider_id, "reason": exc.detail},
        )
        return None
    link(conn, record, change)
    return record
