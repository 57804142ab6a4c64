"""Pull: what changed at a provider since each source's cursor, applied to the hub.

For every source of the provider (providers/registry.py): read a page from its cursor;
find each object's link by provider id (key reads, batched); map it through the family
of the linked kind (or, unlinked, of the family that adopts that object type); recognise
our own echo by its content hash; else apply it, the later change winning when both
sides changed (the loser is kept in the record's history); hand unlinked objects to the
hub kind's `adopt` (import matching, staff matching); save the cursor after the page.

A backlog longer than one invocation (its time, MAX_PAGES, or the rate budget running
out after some pages were read) leaves the pull `unfinished`: what was read is applied
and its cursors saved, and the worker queues a continuation instead of failing the
message, so a long catch-up never spends the message's receives. The continuation goes
on at the source where the pull stopped, so a provider whose first sources fill the
budget still reaches its last one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from booksync.engine.budget import HOLD_AFTER_SECONDS
from booksync.engine.seam import Change, Family, ProviderSession, Source
from booksync.errors import InvalidInput, Kind, SyncFailure
from booksync.hub import records
from booksync.hub.content import content_hash
from booksync.hub.entities import entity
from booksync.observability import logger
from booksync.providers import registry
from booksync.store import Connection, Link, Record, cursors, links, utcnow
from booksync.store import connections as connection_rows
from booksync.store import records as store

MAX_PAGES = 20  # pages read from one source in one invocation (then the next pull goes on)


@dataclass
class PullResult:
    changes: int = 0
    echoes: int = 0
    applied: int = 0
    created: int = 0
    hub_won: int = 0
    rejected: int = 0
    pages: int = 0
    cursors: dict[str, str] = field(default_factory=dict)
    # why the pull stopped before reading everything ("" when it read everything):
    # "time", "pages", or the code of the rate limit that stopped it
    unfinished: str = ""
    stopped_by: SyncFailure | None = None  # that rate limit (a short wait: a long one raises)
    # a cursor went on or a source was read to its end (a continuation of a pull that did
    # neither would read the same pages again)
    moved: bool = False
    resume: str = ""  # the source an unfinished pull stopped in: its continuation starts there
    began: datetime | None = None  # when the first pull of this chain began
    topics: frozenset[str] | None = None  # the webhook topics it read for (None: all)

    @property
    def goes_on(self) -> bool:
        """Unfinished, and a continuation would start further on than this pull did."""
        return bool(self.unfinished) and self.moved


# (record, provider) -> queue a push of the record to that provider now
Requeue = Callable[[Record, str], Any]


def covered_by_a_later_pull(
    conn: Connection, notices: list[tuple[datetime | None, frozenset[str] | None]]
) -> bool:
    """True when, for every notice (when it was sent, its topics or None for all), a pull
    that began after it was sent has read to its end every source the notice may concern.
    A burst of webhooks (a bulk push echoing back) then costs one pull, not one each."""
    if any(sent is None for sent, _ in notices):
        return False
    if all(topics is None for _, topics in notices):
        return all(_later(conn.pull_started_at, sent) for sent, _ in notices)
    wanted = {
        sent: [s.name for s in registry.named_by(registry.sources(conn.provider), topics)]
        for sent, topics in notices
    }
    names = sorted({n for ns in wanted.values() for n in ns})
    read = cursors.get_many(str(conn.connection_id), names)
    return all(
        all(n in read and _later(read[n].started_at, sent) for n in ns)
        for sent, ns in wanted.items()
    )


def _later(started: datetime | None, sent: datetime | None) -> bool:
    if started is None or sent is None:
        return False
    # a second's margin for the clocks of SQS and of the worker
    return _aware(started) > _aware(sent) + timedelta(seconds=1)


def pull(
    session: ProviderSession,
    requeue: Requeue,
    *,
    time_left: Callable[[], bool] = lambda: True,
    resume: str = "",
    began: datetime | None = None,
    topics: frozenset[str] | None = None,
) -> PullResult:
    """Read every source of the connection's provider from its cursor and apply it.

    A continuation passes `resume` (the source its pull stopped in: the ones before it
    were read to the end) and `began` (when the chain's first pull began). Only a chain
    that read everything is marked on the connection, from when it began (a notice sent
    before that is then covered); an unfinished pull says why in `result.unfinished` and
    where to go on in `result.resume`. With `topics` (a webhook's), only the sources they
    may concern are read, and the connection is not marked (each source read to its end
    is, on its cursor)."""
    conn = session.connection
    began = began or utcnow()
    result = PullResult(began=began, topics=topics)
    sources = registry.named_by(registry.sources(conn.provider), topics)
    names = [s.name for s in sources]
    if resume in names:
        sources = sources[names.index(resume) :]
    for source in sources:
        result.resume = source.name
        try:
            _read_source(session, source, requeue, result, time_left)
        except SyncFailure as failure:
            if (
                failure.kind is not Kind.RATE_LIMITED
                or not result.pages
                or (failure.retry_after or 0) >= HOLD_AFTER_SECONDS
            ):
                # nothing read, or a long wait asked (a hold, a day limit): the message
                # waits it out in one receive; what was read is saved
                raise
            result.unfinished, result.stopped_by = failure.code, failure
        if result.unfinished:
            break
    if result.unfinished and not result.moved:
        # pages read but no cursor went on: a continuation would read them again
        logger.warning("pull stopped where it began", extra={"why": result.unfinished})
        if result.stopped_by is not None:
            raise result.stopped_by  # the message is retried after the wait
    if not result.unfinished:
        result.resume = ""
        if topics is None:
            connection_rows.mark_pulled(conn, started=began, finished=utcnow())
    logger.info(
        "pull applied" if not result.unfinished else "pull read part of the backlog",
        extra={
            "changes": result.changes,
            "echoes": result.echoes,
            "applied": result.applied,
            "records_created": result.created,
            "hub_won": result.hub_won,
            "rejected": result.rejected,
            "pages": result.pages,
            "unfinished": result.unfinished,
            "topics": sorted(topics) if topics is not None else "all",
        },
    )
    return result


def _read_source(
    session: ProviderSession,
    source: Source,
    requeue: Requeue,
    result: PullResult,
    time_left: Callable[[], bool],
) -> None:
    conn = session.connection
    cursor = cursors.get_or_new(str(conn.connection_id), source.name)
    for _ in range(MAX_PAGES):
        if result.pages and not time_left():
            result.unfinished = "time"
            return
        page = source.read(session, cursor.position)
        result.pages += 1
        apply_changes(session, page.changes, requeue, result)
        result.moved = result.moved or bool(page.cursor and page.cursor != cursor.position)
        cursor.position = page.cursor or cursor.position
        cursor.runs = (cursor.runs or 0) + 1
        cursor.last_run_at = utcnow()
        if not page.more:  # read to its end: notices sent before the chain began are covered
            cursor.started_at = result.began
            # and a continuation starts after it: progress, even for a source whose cursor
            # never moves (Xero payroll is listed in full each time)
            result.moved = True
        cursors.save(cursor)
        result.cursors[source.name] = str(cursor.position or "")
        if not page.more:
            return
    result.unfinished = "pages"


def apply_changes(
    session: ProviderSession, changes: list[Change], requeue: Requeue, result: PullResult
) -> None:
    """Apply one page of changes (an object met twice: its later state only)."""
    conn = session.connection
    latest: dict[tuple[str, str], Change] = {}
    for change in changes:
        key = (change.object_type, change.provider_id)
        if key not in latest or _aware(change.changed_at) >= _aware(latest[key].changed_at):
            latest[key] = change
    result.changes += len(latest)
    if not latest:
        return
    for resolver in registry.families(conn.provider):
        typed = [k for k, c in latest.items() if c.object_type == resolver.object_type]
        if typed and type(resolver).resolve is not Family.resolve:
            resolved = resolver.resolve(session, [latest[k] for k in typed])
            latest.update(zip(typed, resolved, strict=True))
    linked = links.by_provider_ids(conn.tenant_id, conn.provider, latest)
    hub_keys = [str(link.hub_key) for link in linked.values()]
    stored = store.get_keys(conn.tenant_id, hub_keys)
    unlinked: dict[str, list[Change]] = {}
    for key, change in latest.items():
        link = linked.get(key)
        try:
            if link is not None:
                _apply(conn, change, link, stored.get(str(link.hub_key)), requeue, result)
                continue
            family = registry.adopting(conn.provider, change.object_type)
            if family is None or change.raw is None:
                continue  # a deletion of something never linked, or a type nobody adopts
            content = family.from_provider(change.raw)
            if content is None:
                continue
            unlinked.setdefault(family.kind, []).append(
                replace(change, kind=family.kind, content=content)
            )
        except (InvalidInput, ValueError) as exc:
            # content the hub cannot hold (e.g. an employee without an email): say which
            # object and why, and go on with the rest of the page
            result.rejected += 1
            logger.warning(
                "provider object not taken into the hub",
                extra={
                    "provider_id": change.provider_id,
                    "object_type": change.object_type,
                    "reason": getattr(exc, "detail", None) or str(exc)[:300],
                },
            )
    for kind, new in unlinked.items():
        adopt = entity(kind).adopt
        if adopt is not None:
            result.created += len(adopt(conn, new, records.save_record))


def _apply(
    conn: Connection,
    change: Change,
    link: Link,
    record: Record | None,
    requeue: Requeue,
    result: PullResult,
) -> None:
    kind = links.kind_of(link)
    family = registry.family(conn.provider, kind)
    if record is None or family is None or not family.managed_fields:
        return  # purged in the hub, or a family the provider never changes (QBT jobcodes)
    if record.deleted:
        logger.info("provider change to a record deleted in the hub; ignored")
        return
    managed = family.managed_fields
    current = _normalized(kind, record.data)
    if change.raw is None:
        gone = family.deleted_content(current)
        if gone is None:
            _delete(conn, change, link, record, requeue, result)
            return
        incoming = gone
    else:
        mapped = family.from_provider(change.raw)
        if mapped is None:
            return
        incoming = dict(mapped)
    merged = _normalized(kind, {**current, **{k: incoming[k] for k in managed if k in incoming}})
    new_hash = content_hash(_provider_view(merged, managed))
    if link.content_hash == new_hash or _provider_view(current, managed) == _provider_view(
        merged, managed
    ):
        # our own write coming back, or nothing the provider manages changed
        result.echoes += 1
        if change.provider_version and change.provider_version != link.provider_version:
            links.set_provider_version(link, change.provider_version)
        return
    if record.version > link.synced_version and _aware(record.updated_at) > _aware(
        change.changed_at
    ):
        # both changed; the hub's is later: it wins, and goes out to this provider again
        result.hub_won += 1
        records.note_in_history(
            record,
            {
                "version": int(record.version),
                "origin": conn.provider,
                "at": _aware(change.changed_at).isoformat(),
                "lost_to": "practice",
                "provider_content": incoming,
            },
        )
        requeue(record, str(conn.provider))
        return
    hub_id = links.hub_id_of(link)
    saved = records.save_record(
        conn.tenant_id,
        kind,
        hub_id,
        merged,
        origin=str(conn.provider),
        expected_version=int(record.version),
        changed_at=change.changed_at,
    )
    links.save_link(
        conn.tenant_id,
        conn.provider,
        kind,
        hub_id,
        family.object_type,
        change.provider_id,
        provider_version=change.provider_version,
        content_hash=new_hash,
        synced_version=int(saved.version),
        previous=link,
    )
    result.applied += 1


def _delete(
    conn: Connection,
    change: Change,
    link: Link,
    record: Record,
    requeue: Requeue,
    result: PullResult,
) -> None:
    """The provider deleted the object and the hub record goes too, unless the hub changed
    it since it was last in step: then the hub's version stands (its history says why) and
    is sent again as a new object."""
    if record.version > link.synced_version:
        records.note_in_history(
            record,
            {
                "version": int(record.version),
                "origin": conn.provider,
                "at": _aware(change.changed_at).isoformat(),
                "lost_to": "practice",
                "provider_content": None,
            },
        )
        links.remove_link(conn.tenant_id, conn.provider, links.kind_of(link), record.record_id)
        requeue(record, str(conn.provider))
        result.hub_won += 1
        return
    saved = records.delete_record(
        conn.tenant_id,
        links.kind_of(link),
        links.hub_id_of(link),
        origin=str(conn.provider),
        expected_version=int(record.version),
        changed_at=change.changed_at,
    )
    links.set_synced_version(link, int(saved.version))
    result.applied += 1


def _normalized(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The content as the hub model dumps it (defaults filled), so equal means equal."""
    dumped: dict[str, Any] = entity(kind).model.model_validate(data).model_dump(mode="json")
    return dumped


def _provider_view(data: dict[str, Any], managed: tuple[str, ...]) -> dict[str, Any]:
    return {k: data.get(k) for k in managed}


def managed_differences(
    kind: str, managed: tuple[str, ...], current: dict[str, Any], incoming: dict[str, Any]
) -> list[str]:
    """The fields the provider manages whose value in `incoming` (its object, mapped) is
    not the hub's (`current`), both as the hub model holds them (engine/drift.py)."""
    held = _normalized(kind, current)
    merged = _normalized(kind, {**held, **{k: incoming[k] for k in managed if k in incoming}})
    return [k for k in managed if held.get(k) != merged.get(k)]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def family_of(provider: str, link: Link) -> Family | None:
    return registry.family(provider, links.kind_of(link))
