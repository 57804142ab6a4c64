"""What changed in a QuickBooks Time account, for every family pulled from it, read from one
call first: `last_modified_timestamps` (docs: LastModified/_retrieve.md.erb) says when each
endpoint last changed, so an idle account costs that one call per poll; only an endpoint
newer than the cursor is read (each family reads its own with `modified_since`).

The cursor is JSON: per endpoint, the newest `last_modified` seen (QBT's own clock, never
ours). `modified_since` is inclusive: the newest objects come back once more on the next
read, and the engine recognises them as echoes; skipping them could lose a change made
later within the same second.

Stamps are whole seconds, so an endpoint whose stamp equals the cursor may still hold a
change: one made later in the second the cursor was read. The cursor is "settled" only
when QBT answered the read in a later second (the reply's `Date`, QBT's clock again);
an unsettled endpoint (listed under "_unsettled") is read again on the next poll even if
its stamp has not moved. At most one extra read after activity; an idle account still
costs one call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from booksync.engine.seam import Change, Family, Page, ProviderSession
from booksync.providers.qbt.client import QbtClient
from booksync.store import utcnow

UNSETTLED = "_unsettled"


def stamp(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class QbtChanges:
    name = "qbt.changes"

    def __init__(self, families: Sequence[Family]) -> None:
        self.families = [f for f in families if isinstance(f, ReadByEndpoint)]

    def read(self, session: ProviderSession, cursor: str | None) -> Page:
        state: dict[str, str] = json.loads(cursor) if cursor and cursor.startswith("{") else {}
        unsettled = set(filter(None, state.pop(UNSETTLED, "").split(",")))
        client = QbtClient(session)
        endpoints = [e for f in self.families for e in f.endpoints]
        body = client.get("last_modified_timestamps", {"endpoints": ",".join(endpoints)})
        asked_at = client.answered_at
        latest = (body.get("results") or {}).get("last_modified_timestamps") or {}
        changes: list[Change] = []
        for family in self.families:
            for endpoint in family.endpoints:
                seen = state.get(endpoint)
                moved = latest.get(endpoint)
                unchanged = seen and (
                    not moved
                    or stamp(moved) < stamp(seen)
                    or (stamp(moved) == stamp(seen) and endpoint not in unsettled)
                )
                if unchanged and not family.waiting(session, endpoint):
                    continue  # nothing new there since the last read
                unsettled.discard(endpoint)
                found, newest = family.read_endpoint(session, client, endpoint, seen)
                changes.extend(found)
                if newest and (not seen or stamp(newest) > stamp(seen)):
                    state[endpoint] = newest
                elif not seen and moved:
                    state[endpoint] = str(moved)
                now = client.answered_at or asked_at or utcnow()
                if endpoint in state and stamp(state[endpoint]) >= now:
                    unsettled.add(endpoint)  # read within the cursor's own second
        if unsettled:
            state[UNSETTLED] = ",".join(sorted(unsettled))
        return Page(changes, json.dumps(state, sort_keys=True))


class ReadByEndpoint(Family):
    """A QBT family that is pulled: the endpoints it reads, and how."""

    source = QbtChanges
    endpoints: tuple[str, ...] = ()

    def read_endpoint(
        self, session: ProviderSession, client: QbtClient, endpoint: str, since: str | None
    ) -> tuple[list[Change], str | None]:
        """Changes of `endpoint` since `since` (None: what the family keeps in step), and
        the newest `last_modified` seen (None: nothing)."""
        raise NotImplementedError

    def waiting(self, session: ProviderSession, endpoint: str) -> bool:
        """Does the family hold objects of `endpoint` it must read again, changed or not?"""
        return False
