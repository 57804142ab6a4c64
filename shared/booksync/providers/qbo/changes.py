"""What changed in a QBO company, for every family pulled from it, in one read.

A full paged query of each entity when there is no cursor (or it is past CDC's 30 days),
else one CDC call for all the entities the families name (PROVIDERS.md 1.3 CDC: at most
1,000 objects, 30 days back). The cursor is Intuit's own clock (the reply's `time`), never
ours. Which objects a capped CDC answer leaves out is not documented (the oldest, the
newest, any: the simulator's `cdc_order` modes), so a capped answer is not trusted to go
on from: the same window is read again with paged queries on MetaData.LastUpdatedTime,
which have no cap, and nothing is lost whatever was cut.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from booksync.engine.seam import Change, Page, ProviderSession
from booksync.errors import SyncFailure
from booksync.providers.qbo.client import QboClient, quote

if TYPE_CHECKING:
    from booksync.engine.seam import Family

CDC_DAYS = 30  # CDC looks back at most 30 days (PROVIDERS.md 1.3 CDC)
CDC_SAFETY = timedelta(hours=1)  # our clock vs Intuit's: fall back to a full read early
CDC_MAX_OBJECTS = 1000
ALL_ACTIVE_STATES = "Active IN (true,false)"  # inactive name-list rows are hidden otherwise
# name lists have `Active` (and hide inactive rows unless asked); transactions do not, and a
# query naming it would match none of them
NAME_LISTS = frozenset({"Customer", "Employee", "Vendor", "Item", "Account"})


def every_row(entity: str, where: str = "") -> str:
    """A WHERE that reads every row of the entity, inactive name-list rows included."""
    states = ALL_ACTIVE_STATES if entity in NAME_LISTS else ""
    return " AND ".join(p for p in (where, states) if p)


def parse_time(value: str) -> datetime:
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def whole_second(stamp: str) -> str:
    """A cursor down to its second. Intuit's reply `time` carries milliseconds, an
    object's MetaData.LastUpdatedTime only seconds: reading from 12:00:50.764 would skip
    what changed at 12:00:50 after the reply (inclusive comparisons, so the second is read
    again: echoes, recognised as such)."""
    moment = parse_time(stamp).replace(microsecond=0)
    return moment.isoformat()


def _ref(raw: dict[str, Any], field: str) -> str | None:
    value = raw.get(field)
    if isinstance(value, dict) and value.get("value") not in (None, ""):
        return str(value["value"])
    return None


def _change(entity: str, raw: dict[str, Any], fallback: datetime) -> Change:
    meta = raw.get("MetaData") or {}
    stamp = meta.get("LastUpdatedTime")
    deleted = str(raw.get("status", "")).lower() == "deleted"
    return Change(
        object_type=entity,
        provider_id=str(raw["Id"]),
        provider_version=None if deleted else str(raw.get("SyncToken")),
        raw=None if deleted else raw,
        changed_at=parse_time(stamp) if stamp else fallback,
        parent_provider_id=_ref(raw, "ParentRef"),
    )


class QboChanges:
    """Changes of every QBO entity the given families name (Customer, Employee, ...)."""

    name = "qbo.changes"

    def __init__(
        self, families: Sequence[Family], now: Callable[[], datetime] | None = None
    ) -> None:
        self.entities = tuple(dict.fromkeys(str(getattr(f, "entity", "")) for f in families))
        self._now = now or (lambda: datetime.now(UTC))

    def read(self, session: ProviderSession, cursor: str | None) -> Page:
        client = QboClient(session)
        if cursor is not None:
            cursor = whole_second(cursor)
            since = parse_time(cursor)
            if self._now() - since < timedelta(days=CDC_DAYS) - CDC_SAFETY:
                try:
                    return self._cdc(client, cursor)
                except SyncFailure as failure:
                    # 2010 on changedSince: Intuit's clock says the cursor is past its
                    # 30 days; anything else is a real failure.
                    if failure.code != "qbo.validation":
                        raise
        return self._full(client)

    def _full(self, client: QboClient) -> Page:
        now = self._now()
        changes: list[Change] = []
        cursor: str | None = None
        for entity in self.entities:
            rows = client.query(entity, every_row(entity))
            # The first reply's server time: anything changed while we page is seen again.
            cursor = cursor or client.server_time
            changes.extend(_change(entity, raw, now) for raw in rows)
        return Page(changes, cursor or now.isoformat())

    def _cdc(self, client: QboClient, cursor: str) -> Page:
        now = self._now()
        found = client.cdc(list(self.entities), cursor)
        raws = [(entity, raw) for entity in self.entities for raw in found.get(entity, [])]
        changes = [_change(entity, raw, now) for entity, raw in raws]
        new_cursor = client.server_time or now.isoformat()
        if len(changes) < CDC_MAX_OBJECTS:
            return Page(changes, new_cursor)
        return self._queried_since(client, cursor, changes, new_cursor)

    def _queried_since(
        self, client: QboClient, cursor: str, capped: list[Change], cdc_time: str
    ) -> Page:
        """Everything changed since `cursor`, by paged queries (no cap); deletions the
        capped CDC answer did show are kept (a query does not list deleted objects). The
        next pull goes on from the CDC answer's time: what changed while we read is read
        again, not lost."""
        now = self._now()
        changes = [c for c in capped if c.raw is None]
        for entity in self.entities:
            rows = client.query(
                entity,
                every_row(entity, f"MetaData.LastUpdatedTime >= {quote(cursor)}"),
                # pages by STARTPOSITION need a total order: many objects share a
                # LastUpdatedTime, and a tie may fall either side of a page break
                order="Id",
            )
            changes.extend(_change(entity, raw, now) for raw in rows)
        return Page(changes, cdc_time)
