"""Staff met at a provider (QBO employees, Xero payroll employees, QBT users) matched to
hub users: linked when they agree, sent to a person's review when they only partly
agree, created in the hub when nothing agrees.

The rules are matching.classify_staff's: QBO by email, then by display name; Xero by
first name, last name and email together. QBT users are matched by email alone (its
users are people logging time; a QBT user with no email is listed by the unmatched-users
route instead). A partial match opens a possible duplicate of kind "user" in the same
review as contacts (/v1/duplicates?kind=user): link to a candidate, import as new, or
ignore. Nothing here writes to a provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from booksync.engine.seam import Change
from booksync.errors import Conflict, InvalidInput, NotFound
from booksync.hub import importing as importer
from booksync.hub.content import content_hash
from booksync.hub.matching import MatchResult, StaffMember, classify_staff, email_key
from booksync.hub.records import validate_content
from booksync.observability import logger
from booksync.store.links import find_by_provider_id, get_link, links_of, save_link
from booksync.store.models import Connection, Record, utcnow

KIND = "user"
Fanout = Callable[[list[Record], str | None], Any]
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


def adopt_users(
    conn: Connection, changes: list[Change], *, save_record: SaveRecord, fanout: Fanout
) -> int:
    """Provider staff with no link: linked, reviewed or created. Returns how many hub users
    were created (each sent on to the tenant's other connections)."""
    tenant_id, provider = conn.tenant_id, conn.provider
    hub_records = {
        r.record_id: r
        for r in Record.query(tenant_id, Record.record_key.startswith(f"{KIND}#"))
        if not r.deleted
    }
    linked = {
        link.provider_key.split("#", 1)[1]: link.hub_key.split("#", 1)[1]
        for link in links_of(tenant_id, provider, KIND)
    }
    hub = [_member(rid, r.data or {}) for rid, r in hub_records.items()]
    members = [_member(c.provider_id, c.content or {}) for c in changes]
    if provider in importer.IMPORT_PROVIDERS:
        results = classify_staff(provider, members, hub, linked)
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
            _link(conn, record, change)
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
        new = _create(conn, change, save_record)
        if new is not None:
            created.append(new)
    fanout(created, provider)
    return len(created)


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


def _link(conn: Connection, record: Record, change: Change | importer.ProviderContact) -> None:
    content = change.content or {}
    save_link(
        conn.tenant_id,
        conn.provider,
        KIND,
        record.record_id,
        change.provider_id,
        provider_version=change.provider_version,
        content_hash=content_hash(content),
        synced_version=int(record.version),
    )


def _create(conn: Connection, change: Change, save_record: SaveRecord) -> Record | None:
    """The hub user of a provider employee, under an id derived from it (a replay after a
    crash finds it instead of making a second), then linked."""
    hub_id = importer.hub_id_for(conn.provider, conn.company_id or "", KIND, change.provider_id)
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
    _link(conn, record, change)
    return record


def resolve_staff_duplicate(
    row: Record,
    action: Literal["link", "import_as_new", "ignore"],
    *,
    save_record: SaveRecord,
    hub_id: str | None = None,
) -> Record:
    """importer.resolve_duplicate for a member of staff: link to a candidate hub user,
    import as a new hub user, or ignore (left out of later pulls)."""
    tenant_id = row.tenant_id
    data = dict(row.data or {})
    provider, provider_id = data["provider"], data["provider_id"]
    if data.get("status") == "resolved":
        raise Conflict(f"possible duplicate {importer.duplicate_view(row)['id']} is resolved")
    if find_by_provider_id(tenant_id, provider, KIND, provider_id) is not None:
        raise Conflict(f"{provider} employee {provider_id} is already linked")
    conn = Connection.get(tenant_id, provider)
    item = importer.ProviderContact(
        provider_id=provider_id,
        name=data.get("name") or "",
        email=data.get("email"),
        content=data.get("content") or {},
        provider_version=data.get("provider_version"),
    )
    resolution: dict[str, Any] = {"action": action, "at": utcnow().isoformat()}
    if action == "link":
        if hub_id not in {c["hub_id"] for c in data.get("candidates", [])}:
            raise InvalidInput("hub_id is not one of this duplicate's candidates", field="hub_id")
        try:
            record = Record.get(tenant_id, Record.key(KIND, hub_id or ""), consistent_read=True)
        except Record.DoesNotExist:
            record = None
        if record is None or record.deleted:
            raise NotFound(f"no user {hub_id}")
        if get_link(tenant_id, provider, KIND, record.record_id) is not None:
            raise Conflict(f"hub user {hub_id} is already linked to another {provider} employee")
        resolution["hub_id"] = record.record_id
        importer.claim_duplicate(row, data, resolution, status="resolved")
        _link(conn, record, item)
    elif action == "import_as_new":
        validate_content(KIND, item.content)  # refused here, before the row is claimed
        change = Change(
            kind=KIND,
            provider_id=provider_id,
            content=item.content,
            provider_version=item.provider_version,
            changed_at=utcnow(),
        )
        resolution["hub_id"] = importer.hub_id_for(
            provider, conn.company_id or "", KIND, provider_id
        )
        importer.claim_duplicate(row, data, resolution, status="resolved")
        _create(conn, change, save_record)
    else:
        importer.claim_duplicate(row, data, resolution, status="ignored")
    return row
