"""What the hub knows of a record kind: one declaration per kind (hub/kinds/<kind>.py).

From a declaration the rest follows: its content model validates every write; its path
gives it the practice-API routes (create, read, replace, patch, delete with ETag and
If-Match, history, and a list with its filters and cursor pages: api/resources.py); its
parents order pushes (a client before its jobs); its indexed field answers "records of
this kind whose field holds a value" by key; its checks hold the rules across records;
its `adopt` takes in provider objects that no link names yet. hub/entities.py lists them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel

from booksync.errors import Conflict, InvalidInput
from booksync.observability import logger
from booksync.store import Record, links
from booksync.store import records as store

if TYPE_CHECKING:
    from datetime import datetime

    from booksync.engine.seam import Change
    from booksync.store import Connection

# (tenant_id, record_id or None for a new record, content about to be written, the stored
# content or {}) -> the content to write (normalized), or raises InvalidInput / Conflict
Check = Callable[[str, str | None, dict[str, Any], dict[str, Any]], dict[str, Any]]
# (tenant_id, the record about to be deleted) -> None, or raises Conflict
CheckDelete = Callable[[str, Record], None]
# (tenant_id, record_id, the hub's update_record) -> records of other kinds brought in line
# with this one's committed change (a payment's invoices): run by the stream's fan-out
Follow = Callable[[str, str, Callable[..., Record]], int]
# provider objects of this kind met in a pull with no link yet (content mapped to the hub
# model): link, review or create them; returns the hub records created
Adopt = Callable[["Connection", "list[Change]", Callable[..., Record]], list[Record]]


@dataclass(frozen=True)
class ListFilter:
    """A list route's query parameter and how a record matches it.

    `annotation` is the parameter's type as Powertools reads it (validation and OpenAPI),
    e.g. `Annotated[str | None, Query(max_length=64)]`; `test(data, value)` says whether a
    record's content matches (default: the field of the same name equals the value,
    text compared without regard to case). `indexed`: answered by the kind's index."""

    name: str
    annotation: Any
    test: Callable[[dict[str, Any], Any], bool] | None = None


DAY = r"^\d{4}-\d{2}-\d{2}$"


def date_range(field: str) -> tuple[ListFilter, ListFilter]:
    """`<field>_from` and `<field>_to` (ISO days, both ends included): the list filters of
    a dated kind, which its by_date index answers (hub/records.py list_records)."""

    def bound(lower: bool) -> ListFilter:
        def test(data: dict[str, Any], value: Any) -> bool:
            day = str(data.get(field) or "")
            return day >= str(value) if lower else day <= str(value)

        name = f"{field}_{'from' if lower else 'to'}"
        description = "from (included)" if lower else "to (included)"
        return ListFilter(
            name, Annotated[str | None, Query(pattern=DAY, description=description)], test
        )

    return bound(True), bound(False)


@dataclass(frozen=True)
class Entity:
    kind: str  # the record kind ("contact"), the key of every table row and message
    model: type[BaseModel]  # the content model (pydantic, extra="forbid")
    path: str | None = None  # practice API: /v1/<path>; None keeps the kind internal
    label: str = ""  # for people: "work item" (default: the kind with spaces)
    parents: tuple[str, ...] = ()  # kinds whose records are pushed before this one's
    filters: tuple[ListFilter, ...] = ()
    indexed: str | None = None  # a content field kept in the records' by_ref index
    # a date field kept in the records' by_date index: list filters `<field>_from` and
    # `<field>_to` and the date-bounded work (sending time, keeping six months in step)
    # read by it
    dated: str | None = None
    check: Check | None = None
    check_delete: CheckDelete | None = None
    before_list: Callable[[str], None] | None = None  # e.g. seed defaults on first access
    adopt: Adopt | None = None
    # the FIFO shard a record's pushes take: records that must keep their order relative
    # to each other (a client and its jobs) name the same key; default: the record's id
    group_of: Callable[[str, dict[str, Any]], str] | None = None
    # what the hub knows of a record besides its content (e.g. a time entry's QBO status),
    # for a page of records at once: record id -> extra fields, shown by the API and seen
    # by the list filters
    annotate: Callable[[str, list[Record]], dict[str, dict[str, Any]]] | None = None
    view_fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    # records of other kinds that follow this one's changes (a payment moves its
    # invoices' balances), kept in line after each commit by the stream's fan-out
    follow: Follow | None = None

    @property
    def name(self) -> str:
        return self.label or self.kind.replace("_", " ")

    def group_key(self, record_id: str, data: dict[str, Any]) -> str:
        return self.group_of(record_id, data) if self.group_of else record_id


def first_version(
    tenant_id: str,
    kind: str,
    record_id: str,
    data: dict[str, Any],
    origin: str,
    at: datetime,
    ref: str | None,
    dated: str | None = None,
) -> Record:
    """A record at version 1 with its first history entry (not yet written)."""
    return Record(
        tenant_id,
        store.key(kind, record_id),
        kind=kind,
        record_id=record_id,
        version=1,
        origin=origin,
        data=data,
        deleted=0,
        history=[{"version": 1, "origin": origin, "at": at.isoformat(), "previous": {}}],
        created_at=at,
        updated_at=at,
        ref_key=ref,
        date_key=dated,
    )


HUB_ID_NAMESPACE = uuid.UUID("6f1c2a52-1d8e-5b7a-9a43-0c1e3f5d7b21")


def hub_id_for(provider: str, company_id: str, kind: str, provider_id: str) -> str:
    """The hub id of a record created from a provider object: stable, so a replay after
    a crash finds the record it made instead of making another."""
    return str(uuid.uuid5(HUB_ID_NAMESPACE, f"{provider}|{company_id}|{kind}|{provider_id}"))


def adopt_as_new(kind: str) -> Adopt:
    """The `adopt` of a kind whose provider objects are the firm's own records, never
    matched to existing ones (time entered in QuickBooks Time, a payment recorded in the
    books): a hub record under an id derived from the object (a replay after a crash finds
    it), then linked. Objects the hub refuses are logged with the reason and skipped."""

    def adopt(
        conn: Connection, changes: list[Change], save_record: Callable[..., Record]
    ) -> list[Record]:
        created: list[Record] = []
        for change in changes:
            if change.content is None:
                continue
            hub_id = hub_id_for(str(conn.provider), conn.company_id or "", kind, change.provider_id)
            try:
                record = save_record(
                    conn.tenant_id,
                    kind,
                    hub_id,
                    change.content,
                    origin=str(conn.provider),
                    changed_at=change.changed_at,
                )
            except (InvalidInput, Conflict) as exc:
                logger.warning(
                    f"provider {kind.replace('_', ' ')} not taken into the hub",
                    extra={"provider_id": change.provider_id, "reason": exc.detail},
                )
                continue
            links.save_link(
                conn.tenant_id,
                str(conn.provider),
                kind,
                hub_id,
                change.object_type,
                change.provider_id,
                provider_version=change.provider_version,
                content_hash=None,
                synced_version=int(record.version),
            )
            created.append(record)
        return created

    return adopt


def adopt_own_creates(
    kind: str,
    candidates: Callable[[str, dict[str, Any]], list[str]],
    same: Callable[[dict[str, Any], dict[str, Any]], bool],
) -> Adopt:
    """`adopt_as_new`, but an object that is one of booksync's own creates (its reply lost,
    and a pull met it before the retry linked it) is linked to the hub record that made it,
    never taken in as a second one (a payment counted twice, time billed twice).

    `candidates(tenant, content)`: keys of the hub records it could be, read by an index
    (never the firm's whole partition); `same(data, content)`: does the record hold what
    the object does. The push that sent it may link it at any moment meanwhile: a record
    already linked to this very object counts as found, and the objects left are looked up
    once more just before they become hub records."""
    as_new = adopt_as_new(kind)

    def adopt(
        conn: Connection, changes: list[Change], save_record: Callable[..., Record]
    ) -> list[Record]:
        tenant, provider = str(conn.tenant_id), str(conn.provider)
        new: list[Change] = []
        for change in changes:
            content = change.content or {}
            stored = store.get_keys(tenant, candidates(tenant, content))
            ids = [str(r.record_id) for r in stored.values()]
            linked = links.get_links(tenant, provider, kind, ids)
            # linked elsewhere: another object's (linked to this one: found, nothing to do)
            taken = {h for h, link in linked.items() if str(link.provider_id) != change.provider_id}
            mine = sorted(
                (
                    r
                    for r in stored.values()
                    if not r.deleted
                    and str(r.record_id) not in taken
                    and same(r.data or {}, content)
                ),
                key=lambda r: str(r.created_at),
            )
            if not mine:
                new.append(change)
                continue
            if str(mine[0].record_id) in linked:
                continue  # the push's retry linked it meanwhile
            links.save_link(
                tenant,
                provider,
                kind,
                str(mine[0].record_id),
                change.object_type,
                change.provider_id,
                provider_version=change.provider_version,
                content_hash=None,
                synced_version=int(mine[0].version),
            )
            logger.info(
                f"provider {kind.replace('_', ' ')} is one the hub sent; linked",
                extra={"record_id": str(mine[0].record_id), "provider_id": change.provider_id},
            )
        now_linked = links.by_provider_ids(
            tenant, provider, [(c.object_type, c.provider_id) for c in new]
        )
        return as_new(
            conn, [c for c in new if (c.object_type, c.provider_id) not in now_linked], save_record
        )

    return adopt
