"""Links: hub record <-> provider object, the memory that makes sync idempotent.

A link holds the provider id, the provider's version of the object (QBO SyncToken,
Xero UpdatedDateUTC, QBT last_modified), the hash of the content last written or read,
and the hub version it reflects. A record is unsynced when record.version > synced_version;
a change coming back from the provider whose hash equals the link's is our own echo.
"""

from __future__ import annotations

from booksync.store.models import Link, utcnow


def link_key(tenant_id: str, provider: str) -> str:
    return f"{tenant_id}#{provider}"


def get_link(tenant_id: str, provider: str, kind: str, hub_id: str) -> Link | None:
    try:
        return Link.get(link_key(tenant_id, provider), f"{kind}#{hub_id}", consistent_read=True)
    except Link.DoesNotExist:
        return None


def get_links(tenant_id: str, provider: str, kind: str, hub_ids: list[str]) -> dict[str, Link]:
    """get_link for many records in batched reads (100 keys a call): hub id -> link."""
    keys = [(link_key(tenant_id, provider), f"{kind}#{hub_id}") for hub_id in set(hub_ids)]
    return {
        link.hub_key.split("#", 1)[1]: link for link in Link.batch_get(keys, consistent_read=True)
    }


def find_by_provider_id(tenant_id: str, provider: str, kind: str, provider_id: str) -> Link | None:
    for link in Link.by_provider_id.query(
        link_key(tenant_id, provider), Link.provider_key == f"{kind}#{provider_id}", limit=1
    ):
        return link
    return None


def links_of(tenant_id: str, provider: str, kind: str) -> list[Link]:
    return list(Link.query(link_key(tenant_id, provider), Link.hub_key.startswith(f"{kind}#")))


def save_link(
    tenant_id: str,
    provider: str,
    kind: str,
    hub_id: str,
    provider_id: str,
    *,
    provider_version: str | None,
    content_hash: str | None,
    synced_version: int,
) -> Link:
    link = Link(
        link_key(tenant_id, provider),
        f"{kind}#{hub_id}",
        provider_key=f"{kind}#{provider_id}",
        provider_id=provider_id,
        provider_version=provider_version,
        content_hash=content_hash,
        synced_version=synced_version,
        updated_at=utcnow(),
    )
    link.save()
    return link


def remove_link(tenant_id: str, provider: str, kind: str, hub_id: str) -> bool:
    link = get_link(tenant_id, provider, kind, hub_id)
    if link is None:
        return False
    link.delete()
    return True
