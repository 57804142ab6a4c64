"""Links: hub record <-> provider object, the memory that makes sync idempotent.

A link holds the provider id, the provider's version of the object (QBO SyncToken,
Xero UpdatedDateUTC, QBT last_modified), the hash of the content last written or read,
and the hub version it reflects. A record is unsynced when record.version > synced_version;
a change coming back from the provider whose hash equals the link's is our own echo.

Every link is two items written in one transaction: the link under its hub key, and an
index item under its provider key (LinkIndex), so both "the link of this record" and "the
link of this provider object" are key reads, batched 100 at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pynamodb.connection import Connection as _DynamoConnection
from pynamodb.transactions import TransactWrite

from booksync.store.models import Link, LinkIndex, utcnow

BATCH_GET = 100
TRANSACT_ITEMS = 100  # TransactWriteItems' most actions


def link_key(tenant_id: str, provider: str) -> str:
    return f"{tenant_id}#{provider}"


def _index_key(tenant_id: str, provider: str) -> str:
    return f"{tenant_id}#{provider}#ids"


def provider_key(object_type: str, provider_id: str) -> str:
    return f"{object_type}#{provider_id}"


def kind_of(link: Link) -> str:
    return str(link.hub_key).split("#", 1)[0]


def hub_id_of(link: Link) -> str:
    return str(link.hub_key).split("#", 1)[1]


def get_link(tenant_id: str, provider: str, kind: str, hub_id: str) -> Link | None:
    try:
        return Link.get(link_key(tenant_id, provider), f"{kind}#{hub_id}", consistent_read=True)
    except Link.DoesNotExist:
        return None


def get_links(tenant_id: str, provider: str, kind: str, hub_ids: Iterable[str]) -> dict[str, Link]:
    """get_link for many records in batched reads: hub id -> link."""
    keys = sorted({f"{kind}#{hub_id}" for hub_id in hub_ids})
    found: dict[str, Link] = {}
    for start in range(0, len(keys), BATCH_GET):
        part = [(link_key(tenant_id, provider), k) for k in keys[start : start + BATCH_GET]]
        for link in Link.batch_get(part, consistent_read=True):
            found[hub_id_of(link)] = link
    return found


def by_provider_ids(
    tenant_id: str, provider: str, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Link]:
    """(object type, provider id) -> its link, for those linked: two batched key reads
    per 100, whatever the number of links the firm has."""
    keys = sorted({provider_key(ot, pid) for ot, pid in wanted})
    targets: dict[str, str] = {}  # link hub_key -> provider key
    for start in range(0, len(keys), BATCH_GET):
        part = [(_index_key(tenant_id, provider), k) for k in keys[start : start + BATCH_GET]]
        for item in LinkIndex.batch_get(part, consistent_read=True):
            targets[str(item.target)] = str(item.hub_key)
    hub_keys = sorted(targets)
    found: dict[tuple[str, str], Link] = {}
    for start in range(0, len(hub_keys), BATCH_GET):
        part = [(link_key(tenant_id, provider), k) for k in hub_keys[start : start + BATCH_GET]]
        for link in Link.batch_get(part, consistent_read=True):
            # the index item may be stale only if a transaction is half visible, which
            # DynamoDB never shows: still, believe the link, not the index
            if str(link.provider_key) == targets.get(str(link.hub_key)):
                object_type, _, provider_id = str(link.provider_key).partition("#")
                found[(object_type, provider_id)] = link
    return found


def find_by_provider_id(
    tenant_id: str, provider: str, object_type: str, provider_id: str
) -> Link | None:
    return by_provider_ids(tenant_id, provider, [(object_type, provider_id)]).get(
        (object_type, provider_id)
    )


@dataclass(frozen=True)
class NewLink:
    """What a link must say: written by save_links, two items per link in a transaction."""

    kind: str
    hub_id: str
    object_type: str
    provider_id: str
    provider_version: str | None
    content_hash: str | None
    synced_version: int


def _connection() -> _DynamoConnection:
    return Link._get_connection().connection  # PynamoDB's own, bound to the table's region


def save_link(
    tenant_id: str,
    provider: str,
    kind: str,
    hub_id: str,
    object_type: str,
    provider_id: str,
    *,
    provider_version: str | None,
    content_hash: str | None,
    synced_version: int,
    previous: Link | None = None,
) -> Link:
    """Write the link and its index item together. `previous`: the link as read (its
    index item is removed when the provider id changed)."""
    new = NewLink(
        kind, hub_id, object_type, provider_id, provider_version, content_hash, synced_version
    )
    return save_links(tenant_id, provider, [(new, previous)])[0]


def save_links(
    tenant_id: str, provider: str, links: list[tuple[NewLink, Link | None]]
) -> list[Link]:
    """Write many links: each link and its index item (and the removal of a replaced
    index item) in one transaction, up to TRANSACT_ITEMS items a transaction, so a link
    and its index item never disagree, whatever fails when."""
    latest: dict[str, tuple[NewLink, Link | None]] = {}
    for new, previous in links:
        latest[f"{new.kind}#{new.hub_id}"] = (new, previous)  # one write per record
    out: list[Link] = []
    pending: list[tuple[Link, LinkIndex, LinkIndex | None]] = []
    size = 0
    for new, previous in latest.values():
        link = Link(
            link_key(tenant_id, provider),
            f"{new.kind}#{new.hub_id}",
            provider_key=provider_key(new.object_type, new.provider_id),
            provider_id=new.provider_id,
            provider_version=new.provider_version,
            content_hash=new.content_hash,
            synced_version=new.synced_version,
            updated_at=utcnow(),
        )
        index = LinkIndex(
            _index_key(tenant_id, provider), str(link.provider_key), target=str(link.hub_key)
        )
        stale = (
            LinkIndex(_index_key(tenant_id, provider), str(previous.provider_key))
            if previous is not None and str(previous.provider_key) != str(link.provider_key)
            else None
        )
        items = 3 if stale is not None else 2
        if size + items > TRANSACT_ITEMS:
            _write(pending)
            pending, size = [], 0
        pending.append((link, index, stale))
        size += items
        out.append(link)
    if pending:
        _write(pending)
    return out


def _write(pending: list[tuple[Link, LinkIndex, LinkIndex | None]]) -> None:
    with TransactWrite(connection=_connection()) as tx:
        for link, index, stale in pending:
            tx.save(link)
            tx.save(index)
            if stale is not None:
                tx.delete(stale)


def set_provider_version(link: Link, provider_version: str) -> None:
    """A pull saw our own write come back with the provider's new version."""
    link.update(actions=[Link.provider_version.set(provider_version)])


def set_synced_version(link: Link, version: int) -> None:
    """The hub record's version that now matches the provider (a deletion applied)."""
    link.update(actions=[Link.synced_version.set(version)])


def remove_link(tenant_id: str, provider: str, kind: str, hub_id: str) -> bool:
    link = get_link(tenant_id, provider, kind, hub_id)
    if link is None:
        return False
    _delete(tenant_id, provider, link)
    return True


def _delete(tenant_id: str, provider: str, link: Link) -> None:
    with TransactWrite(connection=_connection()) as tx:
        tx.delete(link)
        tx.delete(LinkIndex(_index_key(tenant_id, provider), str(link.provider_key)))


def links_of(tenant_id: str, provider: str, kind: str | None = None) -> Iterator[Link]:
    """Every link of a connection (of one kind): whole-firm work only (import plans,
    listings, a full reconcile), never one record's path."""
    condition = Link.hub_key.startswith(f"{kind}#") if kind else None
    return iter(Link.query(link_key(tenant_id, provider), condition))


def page(
    tenant_id: str,
    provider: str,
    kind: str | None,
    after: str | None,
    limit: int,
) -> list[Link]:
    """Up to `limit` links of a connection after hub key `after`, in hub key order."""
    query = Link.query(
        link_key(tenant_id, provider),
        Link.hub_key.startswith(f"{kind}#") if kind else None,
        last_evaluated_key=(
            {"link_key": {"S": link_key(tenant_id, provider)}, "hub_key": {"S": after}}
            if after
            else None
        ),
        page_size=limit,
    )
    out: list[Link] = []
    for link in query:
        out.append(link)
        if len(out) >= limit:
            break
    return out


def has_links(tenant_id: str, provider: str) -> bool:
    return any(True for _ in Link.query(link_key(tenant_id, provider), limit=1))


def forget_links(tenant_id: str, provider: str) -> int:
    count = 0
    for link in Link.query(link_key(tenant_id, provider)):
        _delete(tenant_id, provider, link)
        count += 1
    return count
