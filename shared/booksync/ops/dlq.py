"""Dead letters an operator can read, re-drive and purge.

A dead letter is read without being taken away: every message of the dead-letter queue is
received with a short visibility timeout (a FIFO queue hands out a group's next message
only once the one before is gone or visible again, so all are held until the last is read)
and made visible again at once (ChangeMessageVisibility 0); nothing is deleted but what
was sent back to its queue first, or purged on request. A re-drive of the whole queue is
SQS's own message-move task; a filtered one sends each chosen message back to its worker
queue and only then deletes it from the dead-letter queue. A message of a connection that
is gone (or no longer active) is reported and left: its worker would drop it unsent.
A re-driven push of a record synced since at a later version sends nothing: the push
step skips a record its link already reflects (engine/push.py).

The move task takes FIFO dead-letter queues too, as long as the destination is FIFO as
well (the SQS Developer Guide, "Learn how to configure a dead-letter queue redrive": "if
the dead-letter queue is a FIFO queue, the redrive destination queue must be a FIFO queue
as well"; older SDK pages still say only standard queues). Each moved message gets its
message id as de-duplication id, so a second re-drive of a message is not dropped by
SQS: booksync's own version check above is what sends nothing twice.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from booksync.boot import Runtime
from booksync.engine.messages import (
    Message,
    MessageInvalid,
    PushRecord,
    PushRecords,
    decode,
    direction_of,
    ids_of,
)
from booksync.errors import InvalidInput
from booksync.observability import logger
from booksync.store import audit
from booksync.store import connections as connection_rows
from booksync.store.sync_errors import get_many

WORKER_QUEUES = [f"{p}-{d}" for p in ("qbo", "qbt", "xero") for d in ("push", "pull")]
PEEK_VISIBILITY_SECONDS = 30  # how long a read holds a message: one read of the queue
MOVE_POLL_SECONDS = 2.0
DONE = ("COMPLETED", "CANCELLED", "FAILED")


@dataclass
class DeadLetter:
    """One message of a dead-letter queue, as read (and still in the queue)."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, str]
    message: Message | None  # None: the body is not a booksync message
    problem: str = ""  # why its worker cannot read it (not a message, or on the wrong queue)

    @property
    def tenant_id(self) -> str | None:
        if self.message is not None:
            return self.message.tenant_id
        return ids_of(self.body)[0]

    @property
    def connection_id(self) -> str | None:
        if self.message is not None:
            return self.message.connection_id
        return ids_of(self.body)[1]

    def at(self, attribute: str) -> str | None:
        millis = self.attributes.get(attribute)
        return datetime.fromtimestamp(int(millis) / 1000, UTC).isoformat() if millis else None


class DeadLetterQueue:
    """One worker's dead-letter queue ("qbo-push", ...) and the queue it feeds back."""

    def __init__(self, rt: Runtime, name: str) -> None:
        if name not in WORKER_QUEUES:
            raise InvalidInput(f"no worker queue {name!r}; one of {WORKER_QUEUES}", field="queue")
        self.rt = rt
        self.name = name
        self.provider, self.direction = name.split("-")
        self.sqs = rt.clients.sqs
        self.url = rt.settings.queues.dead_letter_url(self.provider, self.direction)
        self.source_url = rt.settings.queues.url(self.provider, self.direction)

    def arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    def depth(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    def read(self) -> list[DeadLetter]:
        """Every message now visible in the queue, each held (not deleted) until `release`."""
        seen: dict[str, DeadLetter] = {}
        while True:
            got = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                AttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in seen]
            for m in fresh:
                try:
                    message: Message | None = decode(m["Body"])
                    problem = self._misplaced(message)
                except MessageInvalid as exc:
                    message, problem = None, str(exc)
                seen[m["MessageId"]] = DeadLetter(
                    m["MessageId"],
                    m["ReceiptHandle"],
                    m["Body"],
                    dict(m.get("Attributes") or {}),
                    message,
                    problem,
                )
            if not fresh:
                return list(seen.values())

    def _misplaced(self, message: Message | None) -> str:
        if message is None:
            return ""
        there = (message.provider, direction_of(message))
        if there != (self.provider, self.direction):
            return f"a {there[0]} {there[1]} message on the {self.provider} {self.direction} queue"
        return ""

    def release(self, letters: list[DeadLetter]) -> None:
        """Make held messages visible again at once."""
        for start in range(0, len(letters), 10):
            chunk = letters[start : start + 10]
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": d.receipt_handle, "VisibilityTimeout": 0}
                    for n, d in enumerate(chunk)
                ],
            )

    def peek(self) -> list[DeadLetter]:
        letters = self.read()
        self.release(letters)
        return letters

    def delete(self, letters: list[DeadLetter]) -> int:
        deleted = 0
        for start in range(0, len(letters), 10):
            chunk = letters[start : start + 10]
            reply = self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": d.receipt_handle} for n, d in enumerate(chunk)
                ],
            )
            deleted += len(reply.get("Successful", []))
        return deleted

    def send_back(self, letters: list[DeadLetter]) -> tuple[list[DeadLetter], list[DeadLetter]]:
        """Send each to the worker queue (its FIFO group kept, a de-duplication id of its
        own: the original's may still be inside SQS's five-minute window, where a send is
        accepted and silently dropped); (sent, refused)."""
        sent: list[DeadLetter] = []
        refused: list[DeadLetter] = []
        for start in range(0, len(letters), 10):
            chunk = letters[start : start + 10]
            reply = self.sqs.send_message_batch(
                QueueUrl=self.source_url,
                Entries=[
                    {
                        "Id": str(n),
                        "MessageBody": d.body,
                        "MessageGroupId": d.attributes.get("MessageGroupId") or d.message_id,
                        "MessageDeduplicationId": uuid.uuid4().hex,
                    }
                    for n, d in enumerate(chunk)
                ],
            )
            ok = {int(s["Id"]) for s in reply.get("Successful", [])}
            for n, d in enumerate(chunk):
                (sent if n in ok else refused).append(d)
        return sent, refused


# ---------------------------------------------------------------------------- reading


def why_not_movable(letter: DeadLetter, connections: dict[tuple[str, str], Any]) -> str | None:
    """Why a re-drive would not sync this message (None: it would)."""
    message = letter.message
    if message is None or letter.problem:
        return f"no worker can read it here: {letter.problem}"
    key = (message.tenant_id, message.provider)
    if key not in connections:
        connections[key] = connection_rows.get(*key)
    conn = connections[key]
    if conn is None or conn.connection_id != message.connection_id:
        return "its connection no longer exists"
    if conn.status != "active":
        return f"its connection is {conn.status}"
    return None


def _records(message: Message | None) -> list[dict[str, Any]]:
    if isinstance(message, PushRecords):
        return [{"id": r.record_id, "version": r.version} for r in message.records]
    if isinstance(message, PushRecord):
        return [{"id": message.record_id, "version": message.version}]
    return []


def _error_of(letter: DeadLetter, provider: str) -> Any:
    """The sync error row that says why: the record's, else the connection's (a hold, a
    refused grant), else the unreadable message's own; None if there is none."""
    tenant = letter.tenant_id
    if not tenant:
        return None
    message = letter.message
    if message is None or letter.problem:
        original = letter.attributes.get("MessageDeduplicationId") or letter.message_id
        return get_many(tenant, provider, [("message", original)]).get(original)
    kind = getattr(message, "kind", "")
    wanted = [(kind, str(r["id"])) for r in _records(message)]
    rows = get_many(tenant, provider, wanted) if wanted else {}
    for r in _records(message):
        if str(r["id"]) in rows:
            return rows[str(r["id"])]
    return get_many(tenant, provider, [("connection", message.connection_id)]).get(
        message.connection_id
    )


def describe(dlq: DeadLetterQueue, letter: DeadLetter, reason: str | None) -> dict[str, Any]:
    message = letter.message
    row = _error_of(letter, dlq.provider)
    first_received = letter.at("ApproximateFirstReceiveTimestamp")
    return {
        "message_id": letter.message_id,
        "tenant_id": letter.tenant_id,
        "connection_id": letter.connection_id,
        "provider": message.provider if message else dlq.provider,
        "operation": message.type if message else "unreadable",
        "kind": getattr(message, "kind", None),
        "records": _records(message),
        "receive_count": int(letter.attributes.get("ApproximateReceiveCount") or 0),
        "sent_at": letter.at("SentTimestamp"),
        "first_failure": row.first_seen.isoformat() if row else first_received,
        "last_failure": row.last_seen.isoformat() if row else None,
        "error": (
            {"code": row.code, "title": row.title, "provider_message": row.provider_message}
            if row
            else "no error row (the worker's log line says why)"
        ),
        "redrive": reason or "would be sent back",
    }


def list_queues(rt: Runtime) -> list[dict[str, Any]]:
    """Each worker's dead letters: how many, and how old the oldest is."""
    now = time.time()
    rows = []
    for name in WORKER_QUEUES:
        dlq = DeadLetterQueue(rt, name)
        depth = dlq.depth()
        oldest = None
        if depth:
            sent = [int(d.attributes.get("SentTimestamp") or 0) for d in dlq.peek()]
            oldest = int(now - min(sent) / 1000) if sent else None
        rows.append({"queue": name, "dead_letters": depth, "oldest_age_seconds": oldest})
    return rows


def show(rt: Runtime, queue: str) -> list[dict[str, Any]]:
    dlq = DeadLetterQueue(rt, queue)
    connections: dict[tuple[str, str], Any] = {}
    return [describe(dlq, d, why_not_movable(d, connections)) for d in dlq.peek()]


# ---------------------------------------------------------------------------- acting


def _chosen(letter: DeadLetter, tenant: str | None, connection: str | None) -> bool:
    return (tenant is None or letter.tenant_id == tenant) and (
        connection is None or letter.connection_id == connection
    )


def _audit_per_firm(
    letters: list[DeadLetter], action: str, actor: str = audit.OPERATOR_CLI, **details: Any
) -> None:
    counts: dict[str, int] = {}
    for d in letters:
        if d.tenant_id:
            counts[d.tenant_id] = counts.get(d.tenant_id, 0) + 1
    for tenant, n in counts.items():
        audit.record(tenant, actor, action, messages=n, **details)


def redrive(
    rt: Runtime,
    queue: str,
    tenant: str | None = None,
    connection: str | None = None,
    dry_run: bool = False,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    actor: str = audit.OPERATOR_CLI,
) -> dict[str, Any]:
    """Send dead letters back to their worker queue: the whole queue with SQS's move task
    (when every message in it would sync), else the chosen ones, one by one. `actor`: who
    asked, for the audit trail (the CLI, or an admin key on the operator page)."""
    dlq = DeadLetterQueue(rt, queue)
    letters = dlq.read()
    connections: dict[tuple[str, str], Any] = {}
    chosen = [d for d in letters if _chosen(d, tenant, connection)]
    reasons = {d.message_id: why_not_movable(d, connections) for d in chosen}
    movable = [d for d in chosen if reasons[d.message_id] is None]
    left = [
        {"message_id": d.message_id, "tenant_id": d.tenant_id, "why": reasons[d.message_id]}
        for d in chosen
        if reasons[d.message_id] is not None
    ]
    answer: dict[str, Any] = {"queue": queue, "left_behind": left}
    if dry_run:
        dlq.release(letters)
        return {
            **answer,
            "dry_run": True,
            "would_move": [describe(dlq, d, None) for d in movable],
            "would_leave": len(letters) - len(movable),
        }
    whole = tenant is None and connection is None and len(movable) == len(letters)
    if whole and letters:
        dlq.release(letters)
        moved, failed = _move_task(dlq, progress)
        _audit_per_firm(letters, "dlq.redrive", actor, queue=queue, how="move task")
        logger.info("dead letters re-driven", extra={"queue": queue, "moved": moved})
        return {**answer, "how": "move task", "moved": moved, "left": 0, "failed": failed}
    sent, refused = dlq.send_back(movable)
    dlq.delete(sent)  # only what is on its worker queue again
    gone = {d.message_id for d in sent}
    dlq.release([d for d in letters if d.message_id not in gone])
    _audit_per_firm(sent, "dlq.redrive", actor, queue=queue, tenant=tenant, connection=connection)
    for d in sent:
        logger.info(
            "dead letter re-driven",
            extra={"queue": queue, "tenant_id": d.tenant_id, "connection_id": d.connection_id},
        )
    return {
        **answer,
        "how": "filtered",
        "moved": len(sent),
        "left": len(letters) - len(sent),
        "failed": len(refused),
    }


def _move_task(dlq: DeadLetterQueue, progress: Callable[[str], None]) -> tuple[int, int]:
    """SQS's message-move task, waited for; (moved, failed)."""
    source = dlq.arn(dlq.url)
    dlq.sqs.start_message_move_task(SourceArn=source, DestinationArn=dlq.arn(dlq.source_url))
    while True:
        tasks = dlq.sqs.list_message_move_tasks(SourceArn=source, MaxResults=1)["Results"]
        task = tasks[0] if tasks else {"Status": "COMPLETED"}
        moved = int(task.get("ApproximateNumberOfMessagesMoved") or 0)
        total = int(task.get("ApproximateNumberOfMessagesToMove") or moved)
        progress(f"{dlq.name}: {task['Status'].lower()}, {moved} of {total} moved")
        if task["Status"] in DONE:
            return moved, (total - moved if task["Status"] == "FAILED" else 0)
        time.sleep(MOVE_POLL_SECONDS)


def purge(rt: Runtime, queue: str, tenant: str, yes: bool) -> dict[str, Any]:
    """Delete one firm's dead letters for good (only with `yes`)."""
    if not yes:
        raise InvalidInput(
            f"purge deletes {tenant}'s dead letters in {queue} for good; add --yes", field="yes"
        )
    dlq = DeadLetterQueue(rt, queue)
    letters = dlq.read()
    doomed = [d for d in letters if d.tenant_id == tenant]
    deleted = dlq.delete(doomed)
    dlq.release([d for d in letters if d.tenant_id != tenant])
    if doomed:
        audit.record(tenant, audit.OPERATOR_CLI, "dlq.purge", queue=queue, messages=deleted)
    logger.info("dead letters purged", extra={"queue": queue, "tenant_id": tenant, "n": deleted})
    return {"queue": queue, "tenant_id": tenant, "purged": deleted}
