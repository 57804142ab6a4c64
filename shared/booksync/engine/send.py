"""Sends the firm asks for: "send last week's approved time to QuickBooks Online".

A family that creates only on request (seam.Family.on_request: QBO time activities) gets
its records this way, never from the outbox:

1. the caller chooses the records (api/time_routes.py: a date range, users, contacts);
2. each gets a verdict before anything is sent: already sent (with the provider's id),
   edited after it was sent, or refused by the family's own checks (`Family.refusals`: a
   reason a bookkeeper understands and what to do); the rest will be sent;
3. unless it is a dry run, those go as explicit push messages through the usual engine
   path (a create's intent noted first, an idempotency key, the link written as the
   provider answers): a record is never sent twice, whatever is retried or repeated;
4. the send is kept 30 days; `follow` reads each record's state from its link (sent, with
   the provider's id) and its sync error row (failed, with the provider's words and a fix).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from booksync.engine.outbox import changed_from_record, messages_for
from booksync.engine.queues import Enqueuer
from booksync.engine.seam import Family, ProviderSession
from booksync.errors import InvalidInput, NotFound, SyncFailure
from booksync.store import Record, leases, links, sync_errors, utcnow
from booksync.store import records as store

SEND_KEPT_SECONDS = 30 * 24 * 3600
MAX_SEND = 5000  # records per send: one row holds them (ids of 36 characters, < 400 KB)


@dataclass
class Verdict:
    """Where one record stands in a send."""

    record_id: str
    status: str  # would_send | queued | sent | failed | not_sent | edited_after_send
    version: int | None = None  # the version queued: sent once the link reflects it
    provider_id: str | None = None
    code: str | None = None
    reason: str | None = None
    what_to_do: str | None = None
    provider_message: str | None = None

    def shown(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Send:
    send_id: str
    provider: str
    kind: str
    dry_run: bool
    verdicts: list[Verdict] = field(default_factory=list)
    created_at: str = ""

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for v in self.verdicts:
            out[v.status] = out.get(v.status, 0) + 1
        return out

    def shown(self) -> dict[str, Any]:
        return {
            "id": self.send_id,
            "provider": self.provider,
            "kind": self.kind,
            "dry_run": self.dry_run,
            "created_at": self.created_at,
            "counts": self.counts(),
            "done": not any(v.status == "queued" for v in self.verdicts),
            "items": [v.shown() for v in self.verdicts],
        }


def refused(record_id: str, failure: SyncFailure, status: str = "not_sent") -> Verdict:
    return Verdict(
        record_id,
        status,
        code=failure.code,
        reason=failure.spec.title,
        what_to_do=failure.spec.fix,
        provider_message=failure.provider_message or None,
    )


def send(
    session: ProviderSession,
    family: Family,
    enqueuer: Enqueuer,
    chosen: list[Record],
    *,
    dry_run: bool,
    excluded: dict[str, SyncFailure] | None = None,
) -> Send:
    """Judge the chosen records and (unless `dry_run`) queue those that can go.
    `excluded`: records the caller chose not to send, with why (e.g. not approved)."""
    conn = session.connection
    if len(chosen) + len(excluded or {}) > MAX_SEND:
        raise InvalidInput(
            f"a send covers at most {MAX_SEND} records; narrow the dates or the people",
            field="date_from",
        )
    result = Send(
        send_id=str(uuid.uuid4()),
        provider=str(conn.provider),
        kind=family.kind,
        dry_run=dry_run,
        created_at=utcnow().isoformat(),
    )
    result.verdicts += [refused(rid, f) for rid, f in (excluded or {}).items()]
    current = links.get_links(
        conn.tenant_id, str(conn.provider), family.kind, [str(r.record_id) for r in chosen]
    )
    settings = conn.settings or {}
    fresh: list[Record] = []
    to_send: list[Record] = []
    for record in chosen:
        rid = str(record.record_id)
        link = current.get(rid)
        if link is None:
            fresh.append(record)
        elif int(link.synced_version) >= int(record.version):
            result.verdicts.append(Verdict(rid, "sent", provider_id=str(link.provider_id)))
        elif family.wants(settings, dict(record.data or {})):
            to_send.append(record)  # an update of what was sent, as the settings ask
        else:
            result.verdicts.append(
                Verdict(
                    rid,
                    "edited_after_send",
                    provider_id=str(link.provider_id),
                    reason="changed after it was sent; what was sent stays as it was",
                    what_to_do="correct it in the books by hand, or turn on the "
                    "connection's update_sent_time_activities to send edits",
                )
            )
    checked = family.refusals(session, fresh)
    for record in fresh:
        failure = checked.refused.get(str(record.record_id))
        if failure is not None:
            result.verdicts.append(refused(str(record.record_id), failure))
        else:
            to_send.append(record)
    status = "would_send" if dry_run else "queued"
    result.verdicts += [Verdict(str(r.record_id), status, int(r.version)) for r in to_send]
    if dry_run:
        return result
    parents = store.get_many(conn.tenant_id, checked.parents).values() if checked.parents else []
    messages, _ = messages_for(conn, [changed_from_record(r) for r in parents], explicit=True)
    queued, _ = messages_for(conn, [changed_from_record(r) for r in to_send], explicit=True)
    leases.write_many({_key(conn.tenant_id, result.send_id): _stored(result)}, SEND_KEPT_SECONDS)
    enqueuer.send_many(messages + queued)  # parents first
    return result


def follow(tenant_id: str, provider: str, send_id: str) -> Send:
    """A send as it stands now: each queued record sent (with its id), failed (its sync
    error) or still queued."""
    row = leases.read_many([_key(tenant_id, send_id)]).get(_key(tenant_id, send_id))
    if row is None:
        raise NotFound(f"no send {send_id} (sends are kept 30 days)")
    result = Send(
        send_id=send_id,
        provider=str(row["provider"]),
        kind=str(row["kind"]),
        dry_run=False,
        created_at=str(row["created_at"]),
        verdicts=[Verdict(**v) for v in row["verdicts"]],
    )
    if result.provider != provider:
        raise NotFound(f"no send {send_id} for {provider}")
    waiting = [v for v in result.verdicts if v.status == "queued"]
    if not waiting:
        return result
    ids = [v.record_id for v in waiting]
    sent = links.get_links(tenant_id, provider, result.kind, ids)
    failed = sync_errors.get_many(tenant_id, provider, [(result.kind, rid) for rid in ids])
    for v in waiting:
        link = sent.get(v.record_id)
        error = failed.get(v.record_id)
        if link is not None and int(link.synced_version) >= int(v.version or 0):
            v.status, v.provider_id = "sent", str(link.provider_id)
        elif (
            error is not None
            and error.status in ("open", "retrying")
            and error.last_seen.isoformat() >= result.created_at  # not an earlier try's
        ):
            v.status = "failed"
            v.code, v.reason, v.what_to_do = error.code, error.title, error.fix
            v.provider_message = error.provider_message or None
    return result


def _key(tenant_id: str, send_id: str) -> str:
    return f"send#{tenant_id}#{send_id}"


def _stored(result: Send) -> dict[str, Any]:
    return {
        "provider": result.provider,
        "kind": result.kind,
        "created_at": result.created_at,
        "verdicts": [v.shown() for v in result.verdicts],
    }
