"""A person's answer to a possible duplicate (contact or staff): link it to a candidate,
import it as new, or ignore it. The review rows themselves are the importer's
(hub/importing.py), which opens them for contacts and staff alike (hub/staff.py)."""

from __future__ import annotations

from typing import Any, Literal

from booksync.engine.seam import Change
from booksync.errors import Conflict, InvalidInput, NotFound
from booksync.hub import staff
from booksync.hub.entity import hub_id_for
from booksync.hub.importing import (
    KIND,
    ProviderContact,
    SaveRecord,
    _link,
    connection_settings,
    create_from,
    duplicate_view,
    get_duplicate,
    object_type,
)
from booksync.hub.records import validate_content
from booksync.store import Record, links, utcnow
from booksync.store import connections as connection_rows
from booksync.store import records as store

USER = "user"


def resolve_duplicate(
    tenant_id: str,
    public_id: str,
    action: Literal["link", "import_as_new", "ignore"],
    *,
    save_record: SaveRecord,
    hub_id: str | None = None,
) -> Record:
    """A person's answer to a possible duplicate; returns the updated duplicate row.

    link: to one of its candidates (live, not linked to another object of the provider);
    import_as_new: create it in the hub with the import contact type (a sub-customer's
    parent must be linked first); ignore: leave it out of this and later imports.
    A resolved duplicate cannot be resolved again (409); an ignored one can."""
    row = get_duplicate(tenant_id, public_id)
    data = dict(row.data or {})
    if data.get("kind", KIND) != KIND:
        return _resolve_staff(row, action, save_record=save_record, hub_id=hub_id)
    provider, provider_id = data["provider"], data["provider_id"]
    if data.get("status") == "resolved":
        raise Conflict(f"possible duplicate {public_id} is already resolved")
    if links.find_by_provider_id(tenant_id, provider, object_type(provider), provider_id):
        raise Conflict(f"{provider} contact {provider_id} is already linked")
    item = ProviderContact(
        provider_id=provider_id,
        name=data.get("name") or "",
        email=data.get("email"),
        parent_provider_id=data.get("parent_provider_id"),
        content=data.get("content") or {},
        provider_version=data.get("provider_version"),
    )
    resolution: dict[str, Any] = {"action": action, "at": utcnow().isoformat()}
    if action == "link":
        if hub_id not in {c["hub_id"] for c in data.get("candidates", [])}:
            raise InvalidInput("hub_id is not one of this duplicate's candidates", field="hub_id")
        record = _live(tenant_id, KIND, hub_id)
        if links.get_link(tenant_id, provider, KIND, record.record_id) is not None:
            raise Conflict(f"hub contact {hub_id} is already linked to another {provider} contact")
        resolution["hub_id"] = record.record_id
        claim_duplicate(row, data, resolution, status="resolved")
        _link(tenant_id, provider, record, item)
    elif action == "import_as_new":
        company_id, settings = connection_settings(tenant_id, provider)
        parent_hub_id = None
        if item.parent_provider_id:
            parent = links.find_by_provider_id(
                tenant_id, provider, object_type(provider), item.parent_provider_id
            )
            if parent is None:
                raise Conflict(
                    f"the parent {provider} contact {item.parent_provider_id} is not in the hub "
                    "yet: resolve or import the parent first"
                )
            parent_hub_id = links.hub_id_of(parent)
        resolution["hub_id"] = hub_id_for(provider, company_id, KIND, provider_id)
        claim_duplicate(row, data, resolution, status="resolved")
        create_from(
            tenant_id,
            provider,
            item,
            hub_id=resolution["hub_id"],
            parent_hub_id=parent_hub_id,
            import_contact_type=str(settings.get("import_contact_type") or "Client"),
            save_record=save_record,
        )
    else:
        claim_duplicate(row, data, resolution, status="ignored")
    return row


def _live(tenant_id: str, kind: str, hub_id: str | None) -> Record:
    record = store.get(tenant_id, kind, hub_id or "")
    if record is None or record.deleted:
        raise NotFound(f"no {kind} {hub_id}")
    return record


def claim_duplicate(
    row: Record, data: dict[str, Any], resolution: dict[str, Any], status: str
) -> None:
    """Mark the row resolved/ignored if nobody else did since it was read (else 409)."""
    new = {**data, "status": status, "resolution": resolution}
    if not store.replace_if_version(row, new, utcnow()):
        raise Conflict("someone resolved this possible duplicate at the same time")


def _resolve_staff(
    row: Record,
    action: Literal["link", "import_as_new", "ignore"],
    *,
    save_record: SaveRecord,
    hub_id: str | None = None,
) -> Record:
    """resolve_duplicate for a member of staff: link to a candidate hub user,
    import as a new hub user, or ignore (left out of later pulls)."""
    tenant_id = row.tenant_id
    data = dict(row.data or {})
    provider, provider_id = data["provider"], data["provider_id"]
    if data.get("status") == "resolved":
        raise Conflict(f"possible duplicate {duplicate_view(row)['id']} is resolved")
    conn = connection_rows.get(tenant_id, provider)
    if conn is None:
        raise Conflict(f"{provider} is not connected")
    if staff.linked(conn, provider_id):
        raise Conflict(f"{provider} employee {provider_id} is already linked")
    item = ProviderContact(
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
        record = _live(tenant_id, USER, hub_id)
        if links.get_link(tenant_id, provider, USER, record.record_id) is not None:
            raise Conflict(f"hub user {hub_id} is already linked to another {provider} employee")
        resolution["hub_id"] = record.record_id
        claim_duplicate(row, data, resolution, status="resolved")
        staff.link(conn, record, item)
    elif action == "import_as_new":
        validate_content(USER, item.content)  # refused here, before the row is claimed
        change = Change(
            object_type=staff.object_type(provider),
            provider_id=provider_id,
            provider_version=item.provider_version,
            raw=None,
            changed_at=utcnow(),
            kind=USER,
            content=item.content,
        )
        resolution["hub_id"] = hub_id_for(provider, conn.company_id or "", USER, provider_id)
        claim_duplicate(row, data, resolution, status="resolved")
        staff.create(conn, change, save_record)
    else:
        claim_duplicate(row, data, resolution, status="ignored")
    return row
