"""/v1/links: the tenant's links, page by page, each with its hub record's name."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from booksync.errors import InvalidInput
from booksync.store import Link, links
from booksync.store import records as store


def _encode_links_cursor(provider: str, hub_key: str) -> str:
    raw = json.dumps({"p": provider, "k": hub_key}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_links_cursor(cursor: str | None, providers: Sequence[str]) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor") from exc
    if (
        not isinstance(value, dict)
        or value.get("p") not in providers
        or not isinstance(value.get("k"), str)
    ):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return str(value["p"]), str(value["k"])


def list_links(
    tenant_id: str,
    providers: Sequence[str],
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the tenant's links (provider by provider, then hub key order), each with
    the hub record's name, and the cursor of the next page (None: the last page)."""
    start = _decode_links_cursor(cursor, providers)
    first = providers.index(start[0]) if start else 0
    found: list[tuple[str, Link]] = []
    for provider in providers[first:]:
        after = start[1] if start and start[0] == provider else None
        for link in links.page(tenant_id, provider, kind, after, limit + 1 - len(found)):
            found.append((provider, link))
            if len(found) > limit:
                break
        if len(found) > limit:
            break
    page = found[:limit]
    next_cursor = (
        _encode_links_cursor(page[-1][0], page[-1][1].hub_key) if len(found) > limit else None
    )
    stored = store.get_keys(tenant_id, [str(link.hub_key) for _, link in page], consistent=False)
    names = {key: (r.data or {}).get("name") for key, r in stored.items()}
    return [
        {
            "provider": provider,
            "kind": link.hub_key.split("#", 1)[0],
            "hub_id": link.hub_key.split("#", 1)[1],
            "provider_id": link.provider_id,
            "name": names.get(link.hub_key),
            "provider_version": link.provider_version,
            "synced_version": int(link.synced_version),
            "updated_at": link.updated_at.isoformat(),
        }
        for provider, link in page
    ], next_cursor
