"""The sync engine's worker loop: one SQS batch in, partial failures out.

Every worker Lambda (qbo_push, qbo_pull, ...) is `Worker(provider, direction, steps)`.
A step is the code for one message type; the engine owns what is common to all of
them: decoding, FIFO order, logging context, and what each kind of failure means
(errors.Kind): a person must fix it -> a sync error row, message done; transient or
rate limited by the provider -> back on the queue after a backoff (a visibility change,
not a sleep); anything unexpected -> retried, then the dead-letter queue. booksync's
own rate budget is the one wait spent inside the invocation (budget.py: up to 30 s at a
time, never past the invocation's deadline), so a bulk sync paces itself instead of
spending its messages' receives.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from booksync.engine.messages import (
    Message,
    MessageInvalid,
    Pull,
    PushRecord,
    PushRecords,
    decode,
    direction_of,
)
from booksync.errors import Kind, SyncFailure
from booksync.observability import logger
from booksync.store.models import Connection, Cursor, SyncErrorRow
from booksync.store.sync_errors import upsert_error

MAX_BACKOFF_SECONDS = 900


@dataclass
class WorkContext:
    """What a step may use; built once per invocation by the handler."""

    provider: str
    direction: str
    sqs: Any
    queue_url: str
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    extras: dict[str, Any] = field(default_factory=dict)
    connection: Connection | None = None  # set by the engine before each step
    # epoch seconds by which provider calls must end (the invocation's time less a margin
    # for writing links and answering); None: no pacing, as in the practice API
    deadline: float | None = None
    sent_at: datetime | None = None  # the current message's SQS SentTimestamp


class Step(Protocol):
    def __call__(self, ctx: WorkContext, message: Any) -> None: ...


class BatchStep(Protocol):
    """Runs before the per-message loop on all push messages of a batch, so a provider
    gets one batched call; answers, per message id, None (done) or the failure."""

    def __call__(
        self, ctx: WorkContext, messages: list[tuple[str, PushRecord]]
    ) -> dict[str, Exception | None]: ...


def _replay_outcome(result: Exception | None) -> Step:
    """A step that reports what the batch step already did for this message."""

    def step(ctx: WorkContext, message: Any) -> None:
        if result is not None:
            raise result

    return step


_RETRIED = (Kind.TRANSIENT, Kind.RATE_LIMITED)


def _part_id(message_id: str, index: int) -> str:
    """The id under which the batch step answers for one record of a PushRecords."""
    return f"{message_id}#{index}"


def backoff_seconds(receive_count: int, retry_after: float | None) -> int:
    """Exponential backoff with jitter, or the provider's Retry-After when it names one."""
    if retry_after is not None:
        return min(MAX_BACKOFF_SECONDS, max(1, int(retry_after + 0.999)))
    base = min(MAX_BACKOFF_SECONDS, 2 ** min(receive_count, 10))
    return int(base / 2 + random.uniform(0, base / 2))


def park(message: Message, message_id: str) -> None:
    """Keep a message that cannot be sent until the firm reconnects."""
    SyncErrorRow(
        message.tenant_id,
        f"{message.provider}#parked#{message.dedup_id()}",
        provider=message.provider,
        connection_id=message.connection_id,
        record_kind=getattr(message, "kind", "connection"),
        record_id=getattr(message, "record_id", message.connection_id),
        code="connection.not_active",
        title="Waiting for the connection to be renewed",
        fix="Reconnect the provider; this change is sent then.",
        status="parked",
        message=message.model_dump(mode="json"),
    ).save()


def record_sync_error(ctx: WorkContext, message: Message, failure: SyncFailure) -> None:
    upsert_error(
        tenant_id=message.tenant_id,
        provider=message.provider,
        connection_id=message.connection_id,
        kind=getattr(message, "kind", "connection"),
        record_id=getattr(message, "record_id", message.connection_id),
        failure=failure,
        message=message.model_dump(mode="json"),
        now=ctx.now(),
    )


class Worker:
    """Runs the registered step for each message of an SQS batch, in FIFO order."""

    def __init__(
        self,
        provider: str,
        direction: str,
        steps: Mapping[type, Step],
        batch: BatchStep | None = None,
    ) -> None:
        self.provider = provider
        self.direction = direction
        self.steps = dict(steps)
        self.batch = batch

    def handle(self, event: dict[str, Any], ctx: WorkContext) -> dict[str, Any]:
        # skip_group_on_error: a failure holds back the rest of that connection's group
        # (order is kept) while other connections in the batch go on.
        self._outcomes: dict[str, Exception | None] = {}
        if self.batch is not None:
            pushes = []
            for raw in event.get("Records", []):
                try:
                    message = decode(raw["body"])
                except MessageInvalid:
                    continue  # reported by the per-message loop
                if message.provider != self.provider:
                    continue
                if isinstance(message, PushRecord):
                    pushes.append((raw["messageId"], message))
                elif isinstance(message, PushRecords):
                    pushes.extend(
                        (_part_id(raw["messageId"], i), one) for i, one in enumerate(message.each())
                    )
            if pushes:
                self._outcomes = self.batch(ctx, pushes)
        processor = SqsFifoPartialProcessor(skip_group_on_error=True)
        # A batch whose every message failed is still an answer (all retried), not a
        # function error: one throttled message must not page anyone.
        processor.raise_on_entire_batch_failure = False
        response = process_partial_response(
            event=event,
            record_handler=lambda record: self._one(record, ctx),
            processor=processor,
        )
        return dict(response)

    def _one(self, record: SQSRecord, ctx: WorkContext) -> None:
        message = decode(record.body)
        if message.provider != self.provider or direction_of(message) != self.direction:
            raise ValueError(
                f"{message.provider} {direction_of(message)} message on the "
                f"{self.provider} {self.direction} queue"
            )
        ids = {
            "tenant_id": message.tenant_id,
            "connection_id": message.connection_id,
            "message_id": record.message_id,
            "record_id": getattr(message, "record_id", None),
        }
        logger.append_keys(**ids)
        try:
            sent = record.attributes.get("SentTimestamp")  # always there from SQS
            ctx.sent_at = datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None
            ctx.connection = self._connection_for(message, record)
            if ctx.connection is None:
                return
            if record.message_id in self._outcomes:
                step: Step | None = _replay_outcome(self._outcomes[record.message_id])
            elif isinstance(message, PushRecords) and self.batch is not None:
                step = self._replay_parts(record.message_id)
            else:
                step = self.steps.get(type(message))
            if step is None:
                raise NotImplementedError(
                    f"{self.provider}_{self.direction} has no step for {type(message).__name__}"
                )
            step(ctx, message)
        except SyncFailure as failure:
            self._on_failure(record, ctx, message, failure)
        except Exception:
            # said once here with its ids; the message is retried, then dead-lettered
            logger.exception("message failed unexpectedly; it will be retried")
            raise
        finally:
            ctx.connection = None
            logger.remove_keys(list(ids))

    def _replay_parts(self, message_id: str) -> Step:
        """What the batch step did for each record of a PushRecords: a failure a person
        must fix becomes that record's sync error; a transient one sends the whole
        message back (the records already sent are skipped by their links next time)."""

        def step(ctx: WorkContext, message: PushRecords) -> None:
            again: list[Exception] = []
            for i, one in enumerate(message.each()):
                result = self._outcomes.get(_part_id(message_id, i))
                if result is None:
                    continue
                if isinstance(result, SyncFailure) and result.kind not in _RETRIED:
                    logger.error(
                        "sync failed; a person must act",
                        extra={"code": result.code, "record_id": one.record_id},
                    )
                    record_sync_error(ctx, one, result)
                else:
                    again.append(result)
            if again:
                # an unexpected error first (retried, then dead-lettered), else the
                # failure with the longest Retry-After
                unexpected = [e for e in again if not isinstance(e, SyncFailure)]
                raise (
                    unexpected[0]
                    if unexpected
                    else max(again, key=lambda e: getattr(e, "retry_after", None) or 0)
                )

        return step

    def _connection_for(self, message: Message, record: SQSRecord) -> Connection | None:
        """The message's connection if the worker may call the provider now.

        needs_reauth: the message is parked (kept with the connection's error) and sent
        again when the firm reconnects. Gone, replaced or disconnected: dropped with a
        log line; reconciliation after a reconnect finds whatever is still unsynced.
        """
        try:
            conn = Connection.get(message.tenant_id, message.provider)
        except Connection.DoesNotExist:
            conn = None
        if conn is None or conn.connection_id != message.connection_id:
            logger.warning("message for a connection that no longer exists; dropped")
            return None
        if conn.status == "needs_reauth":
            park(message, record.message_id)
            logger.info("connection needs reauthorisation; message parked until reconnect")
            return None
        if conn.status != "active":
            logger.info("connection is %s; message dropped", conn.status)
            return None
        return conn

    def _on_failure(
        self, record: SQSRecord, ctx: WorkContext, message: Message, failure: SyncFailure
    ) -> None:
        if failure.kind in _RETRIED:
            receive_count = int(record.attributes.approximate_receive_count or 1)
            delay = backoff_seconds(receive_count, failure.retry_after)
            logger.warning(
                "transient failure, retrying later",
                extra={"code": failure.code, "retry_in_s": delay, "attempt": receive_count},
            )
            ctx.sqs.change_message_visibility(
                QueueUrl=ctx.queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
            )
            raise failure
        logger.error(
            "sync failed; a person must act",
            extra={"code": failure.code, "provider_message": failure.provider_message},
        )
        record_sync_error(ctx, message, failure)


def record_pull_run(ctx: WorkContext, message: Pull) -> None:
    """The pull step until entity sync exists: note that the pull ran and when."""
    now = ctx.now()
    try:
        cursor = Cursor.get(message.connection_id, "_runs")
    except Cursor.DoesNotExist:
        cursor = Cursor(message.connection_id, "_runs", runs=0)
    cursor.runs += 1
    cursor.last_run_at = now
    cursor.position = now.isoformat()
    cursor.save()
    if ctx.connection is not None:
        ctx.connection.update(actions=[Connection.last_sync_at.set(now)])
    logger.info("pull ran", extra={"reason": message.reason, "runs": cursor.runs})
