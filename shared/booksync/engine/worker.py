"""Every sync worker's Lambda handler: one SQS batch in, partial failures out, in one pass.

functions/<provider>_<direction>/app.py is one line: `worker_handler(provider, direction)`.
Per invocation the worker decodes each message once (one that cannot be decoded goes
straight to the dead-letter queue with an error row, not through twelve receives), reads
each connection once (consistently), opens its tokens once, and then:
- push: every record the messages name, per connection and kind, in provider-sized
  batches through the family's push (engine/push.py);
- pull: one pull per connection, however many notices asked for it (engine/pull.py).

What each outcome means (errors.Kind): done -> deleted; a person must fix it -> a sync
error row, deleted; transient or rate limited -> back on the queue after the backoff the
provider asked (a visibility change, never a sleep), alone: the other messages of its
FIFO group that were sent with it are done or fail on their own; anything unexpected ->
retried with backoff, then the dead-letter queue. booksync's own rate budget is the one
wait spent inside an invocation (budget.py).

Powertools' SQS batch processors handle one record at a time; a provider batch spans
messages, so the pass is written here, with Powertools' event data classes, logger and
metrics.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent, SQSRecord

from booksync.engine import pull as pulling
from booksync.engine.budget import HOLD_AFTER_SECONDS
from booksync.engine.messages import (
    Message,
    MessageInvalid,
    Pull,
    PushRecord,
    PushRecords,
    decode,
    direction_of,
    ids_of,
    push_messages,
)
from booksync.engine.outbox import shard_of
from booksync.engine.push import PushOutcome, Wanted, push_records
from booksync.engine.seam import TIMEOUT, ProviderSession
from booksync.errors import Kind, SyncFailure
from booksync.observability import logger, metrics, tracer
from booksync.providers import registry
from booksync.store import Connection, Record
from booksync.store import connections as connection_rows
from booksync.store.sync_errors import upsert_error

if TYPE_CHECKING:
    from booksync.boot import Runtime

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_BACKOFF_SECONDS = 900
MAX_VISIBILITY_SECONDS = 43_200  # SQS's longest visibility timeout: 12 hours
# what an invocation keeps for its last provider call (which may take up to the HTTP read
# timeout) and for what follows it: links, error rows, the answer
DEADLINE_MARGIN_SECONDS = int(TIMEOUT[1]) + 10
_RETRIED = (Kind.TRANSIENT, Kind.RATE_LIMITED)


def backoff_seconds(receive_count: int, retry_after: float | None) -> int:
    """Exponential backoff with jitter, or the wait the provider named (Retry-After, a
    hold), up to SQS's longest visibility: a message waits out a day limit in one receive
    instead of spending its dead-letter allowance on refusals."""
    if retry_after is not None:
        return min(MAX_VISIBILITY_SECONDS, max(1, int(retry_after + 0.999)))
    base = min(MAX_BACKOFF_SECONDS, 2 ** min(receive_count, 10))
    return int(base / 2 + random.uniform(0, base / 2))


@dataclass
class Received:
    """One SQS message of the batch, decoded, and what became of it."""

    record: SQSRecord
    message: Message
    failure: Exception | None = None  # set: the message goes back to the queue

    @property
    def receive_count(self) -> int:
        return int(self.record.attributes.approximate_receive_count or 1)


@dataclass
class Pass:
    """One invocation's work: its messages, its connections (read once), its sessions."""

    rt: Runtime
    provider: str
    direction: str
    deadline: float | None
    messages: list[Received] = field(default_factory=list)
    connections: dict[tuple[str, str], Connection | None] = field(default_factory=dict)
    sessions: dict[str, ProviderSession] = field(default_factory=dict)
    pushed: int = 0
    resolved: int = 0

    def connection(self, message: Message) -> Connection | None:
        """The message's connection if the worker may call the provider now; gone,
        replaced, disconnected or needing reauthorisation: None (the message is done:
        a reconnect reconciles everything still unsynced)."""
        key = (message.tenant_id, message.provider)
        if key not in self.connections:
            self.connections[key] = connection_rows.get(*key)
        conn = self.connections[key]
        if conn is None or conn.connection_id != message.connection_id:
            logger.warning("message for a connection that no longer exists; dropped")
            return None
        if conn.status != "active":
            logger.info(
                "connection is %s; message dropped (a reconnect sends what is unsynced)",
                conn.status,
            )
            return None
        return conn

    def session(self, conn: Connection) -> ProviderSession:
        if conn.connection_id not in self.sessions:
            self.sessions[conn.connection_id] = self.rt.session(conn, self.deadline)
        return self.sessions[conn.connection_id]

    def time_left(self) -> bool:
        return self.deadline is None or time.time() < self.deadline


def run_batch(
    rt: Runtime, provider: str, direction: str, event: dict[str, Any], deadline: float | None
) -> dict[str, Any]:
    """Process one SQS batch; answer the messages to retry (ReportBatchItemFailures)."""
    work = Pass(rt, provider, direction, deadline)
    for record in SQSEvent(event).records:
        try:
            message = decode(record.body)
            if message.provider != provider or direction_of(message) != direction:
                raise MessageInvalid(
                    f"a {message.provider} {direction_of(message)} message on the "
                    f"{provider} {direction} queue"
                )
        except MessageInvalid as exc:
            _dead_letter(rt, provider, direction, record, exc)
            continue
        work.messages.append(Received(record, message))
    if direction == "push":
        _push(work)
    else:
        _pull(work)
    return _answer(rt, provider, direction, work)


# ---------------------------------------------------------------------------- push


def _push(work: Pass) -> None:
    # (connection id, kind) -> the messages and the records they name
    groups: dict[tuple[str, str], list[Received]] = {}
    for received in work.messages:
        message = received.message
        conn = work.connection(message)
        if conn is None:
            continue
        assert isinstance(message, PushRecord | PushRecords)
        groups.setdefault((conn.connection_id, message.kind), []).append(received)
    for (_connection_id, kind), batch in groups.items():
        first = batch[0].message
        conn = work.connections[(first.tenant_id, first.provider)]
        assert conn is not None
        ids = {"tenant_id": conn.tenant_id, "connection_id": conn.connection_id, "kind": kind}
        logger.append_keys(**ids)
        try:
            family = registry.pushed(work.provider, kind)
            if family is None:
                logger.info("no family sends this kind to this provider; done")
                continue
            wanted = [w for received in batch for w in _wanted(received.message)]
            session = work.session(conn)
            outcome = push_records(session, family, wanted)
            _settle(work, conn, batch, outcome)
            _hold_if_asked(session, outcome.results.values())
        except SyncFailure as failure:
            _hold_if_asked(work.session(conn), [failure])
            _fail(batch, failure, partial(_error_rows, conn, batch))
        except Exception as exc:
            # said once here with its ids; the messages are retried, then dead-lettered
            logger.exception("push failed unexpectedly; it will be retried")
            _fail(batch, exc)
        finally:
            logger.remove_keys(list(ids))


def _hold_if_asked(session: ProviderSession, results: Iterable[Exception | None]) -> None:
    """The provider asked for a long wait (a throttle's window, a day limit): the whole
    connection waits it out, so the other workers do not each call to hear it again. A
    throttle whose wait the provider did not name is held as the budget says (it may be
    less than the window: Budget.hold), and its messages come back after that hold."""
    waits = [
        r
        for r in results
        if isinstance(r, SyncFailure)
        and r.kind is Kind.RATE_LIMITED
        and (r.retry_after or 0) >= HOLD_AFTER_SECONDS
    ]
    if waits:
        longest = max(waits, key=lambda r: r.retry_after or 0)
        held = session.hold(float(longest.retry_after or 0), longest)
        for r in waits:
            if not r.wait_named:
                r.retry_after = min(float(r.retry_after or 0), max(1.0, held))


def _wanted(message: Message) -> list[Wanted]:
    if isinstance(message, PushRecords):
        return [
            Wanted(message.kind, ref.record_id, explicit=message.explicit)
            for ref in message.records
        ]
    assert isinstance(message, PushRecord)
    return [Wanted(message.kind, message.record_id, message.retry, message.explicit)]


def _parts(message: Message) -> list[PushRecord]:
    return message.each() if isinstance(message, PushRecords) else [message]  # type: ignore[list-item]


def _settle(work: Pass, conn: Connection, batch: list[Received], outcome: PushOutcome) -> None:
    """Each message's outcome from its records': a failure a person must fix becomes that
    record's sync error (the message is done); a retryable one sends the message back."""
    work.pushed += outcome.sent
    work.resolved += outcome.resolved
    for received in batch:
        again: list[Exception] = []
        for part in _parts(received.message):
            result = outcome.results.get(part.record_id)
            if result is None:
                continue
            if isinstance(result, SyncFailure) and result.kind not in _RETRIED:
                if result.kind is not Kind.REAUTH:  # the token service has said so
                    logger.error(
                        "sync failed; a person must act",
                        extra={"code": result.code, "record_id": part.record_id},
                    )
                    _error_row(conn, part, result)
            else:
                again.append(result)
        if again:
            unexpected = [e for e in again if not isinstance(e, SyncFailure)]
            received.failure = (
                unexpected[0]
                if unexpected
                else max(again, key=lambda e: getattr(e, "retry_after", None) or 0)
            )


def _error_rows(conn: Connection, batch: list[Received], failure: SyncFailure) -> None:
    for received in batch:
        for part in _parts(received.message):
            _error_row(conn, part, failure)


def _error_row(conn: Connection, part: PushRecord, failure: SyncFailure) -> None:
    upsert_error(
        tenant_id=conn.tenant_id,
        provider=conn.provider,
        connection_id=conn.connection_id,
        kind=part.kind,
        record_id=part.record_id,
        failure=failure,
        message=part.model_dump(mode="json"),
    )


def _fail(
    batch: list[Received],
    failure: Exception,
    record_error: Callable[[SyncFailure], Any] | None = None,
) -> None:
    """A failure of the whole call: retried, or (a person must fix it) an error row; a
    grant that is gone was said by the token service, and a reconnect reconciles."""
    if isinstance(failure, SyncFailure) and failure.kind not in _RETRIED:
        if failure.kind is not Kind.REAUTH and record_error is not None:
            logger.error("sync refused; a person must act", extra={"code": failure.code})
            record_error(failure)
        return
    for received in batch:
        received.failure = failure


# ---------------------------------------------------------------------------- pull


def _pull(work: Pass) -> None:
    by_connection: dict[str, list[Received]] = {}
    for received in work.messages:
        conn = work.connection(received.message)
        if conn is not None:
            by_connection.setdefault(conn.connection_id, []).append(received)
    for notices in by_connection.values():
        first = notices[0].message
        conn = work.connections[(first.tenant_id, first.provider)]
        assert conn is not None
        ids = {"tenant_id": conn.tenant_id, "connection_id": conn.connection_id}
        logger.append_keys(**ids)
        try:
            asked = [(_sent_at(r.record), _topics(r.message)) for r in notices]
            if pulling.covered_by_a_later_pull(conn, asked):
                logger.info("a pull that began after these notices has run; nothing to do")
                continue
            session = work.session(conn)
            resume, began = _resume_point([r.message for r in notices])
            result = pulling.pull(
                session,
                _requeue(work),
                time_left=work.time_left,
                resume=resume,
                began=began,
                topics=_all_topics([topics for _, topics in asked]),
            )
            metrics.add_metric(name="ProviderCalls", unit=MetricUnit.Count, value=session.calls)
            if result.goes_on:
                _continue_pull(work, conn, result)
        except SyncFailure as failure:
            _hold_if_asked(work.session(conn), [failure])
            _fail(notices, failure, partial(_connection_error, conn))
        except Exception as exc:
            logger.exception("pull failed unexpectedly; it will be retried")
            _fail(notices, exc)
        finally:
            logger.remove_keys(list(ids))


def _topics(message: Any) -> frozenset[str] | None:
    """A webhook pull's topics (only the sources they may concern are read); None: all."""
    topics = message.topics if isinstance(message, Pull) else ()
    return frozenset(topics) if topics else None


def _all_topics(each: list[frozenset[str] | None]) -> frozenset[str] | None:
    """What one pull for several notices reads: every source if any notice asks for all."""
    if any(t is None for t in each):
        return None
    return frozenset().union(*[t for t in each if t is not None])


def _resume_point(messages: list[Any]) -> tuple[str, datetime | None]:
    """Where the pull of these messages starts: a continuation's source when all of them
    continue one chain at one source (a webhook or a schedule tick among them asks for
    every source from its cursor), and when that chain began."""
    resumes = {m.resume if isinstance(m, Pull) and m.reason == "continue" else "" for m in messages}
    if len(resumes) != 1 or "" in resumes:
        return "", None
    starts = [m.began for m in messages if m.began is not None]
    return resumes.pop(), min(starts, default=None)


def _continue_pull(work: Pass, conn: Connection, result: pulling.PullResult) -> None:
    """A pull that read part of a backlog: its notices are done (what was read is applied,
    the cursors saved) and a new pull goes on from the source where it stopped. It queues
    behind this one in the connection's group, and the rate budget paces its calls."""
    work.rt.enqueuer.send(
        Pull(
            tenant_id=conn.tenant_id,
            connection_id=conn.connection_id,
            provider=conn.provider,  # type: ignore[arg-type]
            reason="continue",
            trigger=f"continue:{uuid.uuid4().hex}",
            resume=result.resume,
            began=result.began,
            topics=tuple(sorted(result.topics or ())),
        )
    )
    stopped = result.stopped_by
    logger.info(
        "pull continues in a new message",
        extra={
            "why": result.unfinished,
            "resume_at": result.resume,
            "pages": result.pages,
            "changes": result.changes,
            "provider_message": stopped.provider_message if stopped else "",
            "retry_after": stopped.retry_after if stopped else None,
        },
    )


def _connection_error(conn: Connection, failure: SyncFailure) -> None:
    upsert_error(
        tenant_id=conn.tenant_id,
        provider=conn.provider,
        connection_id=conn.connection_id,
        kind="connection",
        record_id=conn.connection_id,
        failure=failure,
    )


def _requeue(work: Pass) -> Callable[[Record, str], Any]:
    """A record whose hub edit won over the provider's goes out to that provider again."""

    def requeue(record: Record, provider: str) -> None:
        conn = work.connections.get((str(record.tenant_id), provider))
        if conn is None:
            return
        shard = shard_of(provider, str(record.kind), str(record.record_id), record.data or {})
        work.rt.enqueuer.send_many(
            list(
                push_messages(
                    str(record.tenant_id),
                    str(conn.connection_id),
                    provider,  # type: ignore[arg-type]
                    str(record.kind),
                    [(str(record.record_id), int(record.version))],
                    1,
                    shard=shard,
                )
            )
        )

    return requeue


def _last_tries(work: Pass, last: list[Received]) -> None:
    """Messages failing their last receive go to the dead-letter queue now: each leaves a
    sync error saying so, with the failure that sent it (the record's, or for a pull the
    connection's), for `booksync dlq show` and the firm's errors page."""
    for received in last:
        conn = work.connection(received.message)
        failure = received.failure
        if conn is None or failure is None:
            continue
        said = getattr(failure, "code", type(failure).__name__)
        words = getattr(failure, "provider_message", "") or str(failure)
        dead = SyncFailure("message.dead_lettered", f"{said}: {words}"[:1000])
        logger.error(
            "message dead-lettered after its last try",
            extra={"message_id": received.record.message_id, "code": said},
        )
        if isinstance(received.message, PushRecord | PushRecords):
            for part in _parts(received.message):
                _error_row(conn, part, dead)
        else:
            _connection_error(conn, dead)


def _sent_at(record: SQSRecord) -> datetime | None:
    sent = record.attributes.get("SentTimestamp")  # always there from SQS
    return datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None


# ---------------------------------------------------------------------------- answer


def _answer(rt: Runtime, provider: str, direction: str, work: Pass) -> dict[str, Any]:
    """Failed messages go back after their own backoff (one batched visibility change);
    the answer names them so SQS keeps them and deletes the rest."""
    failed = [r for r in work.messages if r.failure is not None]
    _last_tries(work, [r for r in failed if r.receive_count >= rt.settings.max_receives])
    entries = []
    for n, received in enumerate(failed):
        failure = received.failure
        delay = backoff_seconds(
            received.receive_count,
            failure.retry_after if isinstance(failure, SyncFailure) else None,
        )
        logger.warning(
            "message goes back to its queue",
            extra={
                "message_id": received.record.message_id,
                "code": getattr(failure, "code", type(failure).__name__),
                "retry_in_s": delay,
                "attempt": received.receive_count,
            },
        )
        entries.append(
            {
                "Id": str(n),
                "ReceiptHandle": received.record.receipt_handle,
                "VisibilityTimeout": delay,
            }
        )
    queue_url = rt.settings.queues.url(provider, direction)
    for start in range(0, len(entries), 10):
        rt.clients.sqs.change_message_visibility_batch(
            QueueUrl=queue_url, Entries=entries[start : start + 10]
        )
    metrics.add_metric(name="RecordsPushed", unit=MetricUnit.Count, value=work.pushed)
    metrics.add_metric(name="SyncErrorsResolved", unit=MetricUnit.Count, value=work.resolved)
    calls = sum(s.calls for s in work.sessions.values())
    if direction == "push":
        metrics.add_metric(name="ProviderCalls", unit=MetricUnit.Count, value=calls)
    return {"batchItemFailures": [{"itemIdentifier": r.record.message_id} for r in failed]}


def _dead_letter(
    rt: Runtime, provider: str, direction: str, record: SQSRecord, exc: MessageInvalid
) -> None:
    """A message no worker can read goes to the dead-letter queue at once (twelve tries
    would not make it readable), with an error row when it names a tenant."""
    logger.error(
        "message cannot be read; sent to the dead-letter queue",
        extra={"message_id": record.message_id, "why": str(exc)},
    )
    rt.clients.sqs.send_message(
        QueueUrl=rt.settings.queues.dead_letter_url(provider, direction),
        MessageBody=record.body,
        MessageGroupId=record.attributes.message_group_id or "unreadable",
        MessageDeduplicationId=record.message_id,
    )
    tenant, connection = ids_of(record.body)
    if tenant:
        upsert_error(
            tenant_id=tenant,
            provider=provider,
            connection_id=connection or "",
            kind="message",
            record_id=record.message_id,
            failure=SyncFailure("message.invalid", str(exc)),
        )


# ---------------------------------------------------------------------------- handler


def worker_handler(provider: str, direction: str, runtime: Runtime | None = None) -> Handler:
    """Build the handler at cold start; configuration errors fail here, by name."""
    from booksync.boot import boot

    rt = runtime or boot()

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(provider=provider, direction=direction)
        remaining = context.get_remaining_time_in_millis() / 1000
        deadline = time.time() + remaining - DEADLINE_MARGIN_SECONDS
        result = run_batch(rt, provider, direction, event, deadline)
        failed = len(result.get("batchItemFailures", []))
        total = len(event.get("Records", []))
        metrics.add_dimension(name="worker", value=f"{provider}_{direction}")
        metrics.add_metric(name="MessagesProcessed", unit=MetricUnit.Count, value=total - failed)
        metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=failed)
        return result

    handler: Handler = lambda_handler
    return handler
