"""What the QuickBooks Time families share: answers as links, ids read back, refusals."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from booksync.engine.seam import ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.providers.qbt.client import PAGE_LIMIT, QbtClient
from booksync.store import links

PROVIDER = "qbt"


def pushed(item: PushItem, obj: Mapping[str, Any], content_hash: str) -> Pushed:
    return Pushed(
        hub_id=item.record.record_id,
        provider_id=str(obj["id"]),
        provider_version=str(obj.get("last_modified") or "") or None,
        content_hash=content_hash,
    )


def linked_elsewhere(
    session: ProviderSession, object_type: str, kind: str, provider_id: Any, hub_id: str
) -> SyncFailure | None:
    """A failure if the object found by name/email already belongs to another hub record."""
    other = links.find_by_provider_id(session.tenant_id, PROVIDER, object_type, str(provider_id))
    if other is None or other.hub_key == f"{kind}#{hub_id}":
        return None
    return SyncFailure(
        "qbt.validation",
        f"QuickBooks Time {object_type} {provider_id} already "
        f"belongs to another {kind.replace('_', ' ')} in booksync",
    )


def by_ids(client: QbtClient, endpoint: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted(set(ids), key=int)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), PAGE_LIMIT):
        part = wanted[start : start + PAGE_LIMIT]
        params: dict[str, Any] = {"ids": ",".join(part), "active": "both"}
        if endpoint == "jobcodes":
            params["type"] = "all"
        for row in client.get_all(endpoint, params):
            found[str(row["id"])] = row
    return found


def finish(results: list[Pushed | Exception | None]) -> list[Pushed | Exception]:
    return [
        r if r is not None else SyncFailure("qbt.unavailable", "no answer for this record")
        for r in results
    ]
