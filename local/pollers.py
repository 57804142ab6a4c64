"""Event sources of the template, run locally: SQS queue pollers and schedules.

A poller does what Lambda's event source mapping does: receive up to BatchSize
messages, invoke the function with a real SQS event, delete what succeeded (all of it,
or all but the reported batchItemFailures), and leave the rest to reappear after their
visibility timeout, so moto's redrive moves a message that keeps failing to its DLQ.
The queues keep the template's visibility timeout, so a message is never handed to a
second invocation while one still works on it; only a batch whose invocation crashed
or overran is brought back sooner (`crash_redelivery_seconds`), not after 12 minutes.

Like the mapping, it runs up to `concurrency` invocations at once (the event's
ScalingConfig.MaximumConcurrency, capped by the local stack): it receives again while
a batch runs, and a FIFO queue (moto keeps a group whose messages are in flight from
every other receiver, as SQS does) hands it only other groups' messages, so two changes
of one group stay in order while independent groups go side by side. AWS documents the
FIFO scaling: "Lambda scales up to the number of active message groups" (Lambda
developer guide, "Configuring scaling behavior for SQS event source mappings").
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local.aws import REGION
from local.lambdas import FunctionPool, InvokeError


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    records = []
    for m in messages:
        attrs = m.get("Attributes", {})
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    k: attrs[k]
                    for k in (
                        "ApproximateReceiveCount",
                        "SentTimestamp",
                        "SenderId",
                        "ApproximateFirstReceiveTimestamp",
                        "MessageGroupId",
                        "MessageDeduplicationId",
                        "SequenceNumber",
                    )
                    if k in attrs
                },
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


@dataclass
class QueuePoller:
    sqs: Any
    queue_url: str
    queue_arn: str
    function: FunctionPool
    batch_size: int = 10
    report_failures: bool = True
    concurrency: int = 1  # invocations at once, as the mapping's MaximumConcurrency
    crash_redelivery_seconds: int | None = None  # None: the queue's visibility timeout
    invocations: int = 0
    messages_done: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _slots: threading.Semaphore | None = None
    _running: set[threading.Thread] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._slots = threading.Semaphore(max(1, self.concurrency))
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"poll-{self.function.name}"
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        with self._lock:
            running = list(self._running)
        for thread in running:  # let the invocations under way settle their messages
            thread.join(5)

    def _run(self) -> None:
        assert self._slots is not None
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=1):  # every slot busy: wait for one
                continue
            try:
                messages = self._receive(wait_seconds=1)
            except Exception as exc:  # keep polling; say what happened
                self._slots.release()
                if self._stop.is_set():
                    break
                print(f"[poller {self.function.name}] {type(exc).__name__}: {exc}", flush=True)
                time.sleep(1)
                continue
            if not messages:
                self._slots.release()
                continue
            worker = threading.Thread(
                target=self._settle_in_slot,
                args=(messages,),
                daemon=True,
                name=f"invoke-{self.function.name}",
            )
            with self._lock:
                self._running.add(worker)
            worker.start()

    def _settle_in_slot(self, messages: list[dict[str, Any]]) -> None:
        assert self._slots is not None
        try:
            self._invoke(messages)
        except Exception as exc:  # the messages reappear after their visibility timeout
            print(f"[poller {self.function.name}] {type(exc).__name__}: {exc}", flush=True)
        finally:
            with self._lock:
                self._running.discard(threading.current_thread())
            self._slots.release()

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = reply.get("Messages", [])
        return messages

    def _invoke(self, messages: list[dict[str, Any]]) -> int:
        """Invoke the function on `messages`, delete what succeeded; how many did."""
        with self._lock:
            self.invocations += 1
        try:
            result = self.function.invoke(sqs_event(messages, self.queue_arn))
        except InvokeError as exc:
            print(
                f"[poller {self.function.name}] invocation failed, batch retried: {exc}", flush=True
            )
            self._redeliver_soon(messages)
            return 0
        failed: set[str] = set()
        if self.report_failures and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        with self._lock:
            self.messages_done += len(done)
        return len(done)

    def _redeliver_soon(self, messages: list[dict[str, Any]]) -> None:
        """A crashed batch comes back after `crash_redelivery_seconds`, not the queue's
        visibility timeout (the only local shortcut: the invocation is over)."""
        if self.crash_redelivery_seconds is None:
            return
        for start in range(0, len(messages), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self.crash_redelivery_seconds,
                    }
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )


_RATE = re.compile(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)")


def rate_seconds(expression: str) -> int:
    m = _RATE.fullmatch(expression.strip())
    if not m:
        raise ValueError(f"only rate() schedules run locally, not {expression!r}")
    n, unit = int(m.group(1)), m.group(2)
    return n * {"minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]


def scheduled_event(rule_name: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "version": "0",
        "id": f"local-{int(now.timestamp())}",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{rule_name}"],
        "detail": {},
    }


@dataclass
class Schedule:
    name: str  # the rule's name (template Name property), also the event's logical id alias
    aliases: tuple[str, ...]
    every_seconds: int
    function: FunctionPool
    enabled: bool = True
    fired: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def fire(self) -> Any:
        self.fired += 1
        return self.function.invoke(scheduled_event(self.name))

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.every_seconds):
                if self.enabled:
                    try:
                        self.fire()
                    except InvokeError as exc:
                        print(f"[schedule {self.name}] {exc}", flush=True)

        threading.Thread(target=loop, daemon=True, name=f"schedule-{self.name}").start()

    def stop(self) -> None:
        self._stop.set()


@dataclass
class StreamPoller:
    """What Lambda's event source mapping does for a DynamoDB stream, on moto's stream
    API: read the shard in order, invoke the function with a real stream event of up to
    BatchSize records; on `batchItemFailures` retry from the named record; on a function
    error bisect the batch (BisectBatchOnFunctionError) and retry each half; after
    MaximumRetryAttempts send the batch's description to the OnFailure destination (an
    SQS queue) and go on. One shard, in order, as moto keeps one."""

    streams: Any  # boto3 dynamodbstreams client
    sqs: Any
    stream_arn: str
    function: FunctionPool
    batch_size: int = 100
    max_retries: int = 10
    bisect: bool = True
    report_failures: bool = True
    on_failure_url: str | None = None
    window_seconds: float = 0.2
    invocations: int = 0
    records_done: int = 0
    failures_sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _iterator: str | None = None
    _pending: list[dict[str, Any]] = field(default_factory=list)
    caught_up: bool = False  # the last read found nothing new and nothing is pending
    # when the read that last found nothing began (monotonic): a drain that began later
    # must wait for a newer one, else a write made just before it goes unseen
    caught_up_at: float = -1.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"stream-{self.function.name}"
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.poll_once() == 0:
                    self._stop.wait(self.window_seconds)
            except Exception as exc:  # keep polling; say what happened
                if self._stop.is_set():
                    break
                print(f"[stream {self.function.name}] {type(exc).__name__}: {exc}", flush=True)
                time.sleep(1)

    def _read(self) -> list[dict[str, Any]]:
        if self._iterator is None:
            shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"][
                "Shards"
            ][0]["ShardId"]
            self._iterator = self.streams.get_shard_iterator(
                StreamArn=self.stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        reply = self.streams.get_records(ShardIterator=self._iterator, Limit=self.batch_size)
        self._iterator = reply["NextShardIterator"]
        return [self._as_event_record(r) for r in reply.get("Records", [])]

    def _as_event_record(self, raw: dict[str, Any]) -> dict[str, Any]:
        record = dict(raw)
        dynamodb = dict(record.get("dynamodb") or {})
        stamp = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(stamp, datetime):
            dynamodb["ApproximateCreationDateTime"] = int(stamp.timestamp())
        record["dynamodb"] = dynamodb
        record["eventSourceARN"] = self.stream_arn
        return record

    def poll_once(self) -> int:
        """Read what is new (after what is still pending from a failed try) and deliver
        it; returns how many records were delivered or given up on."""
        began = time.monotonic()
        if len(self._pending) < self.batch_size:
            self._pending += self._read()
        if not self._pending:
            self.caught_up = True
            self.caught_up_at = began
            return 0
        self.caught_up = False
        batch = self._pending[: self.batch_size]
        done = self._deliver(batch, attempt=0)
        self._pending = self._pending[done:]
        return done

    def _deliver(self, batch: list[dict[str, Any]], attempt: int) -> int:
        """Deliver `batch` (retrying, bisecting); how many of its records are done."""
        self.invocations += 1
        try:
            result = self.function.invoke({"Records": batch})
        except InvokeError as exc:
            print(f"[stream {self.function.name}] invocation failed: {exc}", flush=True)
            if attempt >= self.max_retries:
                self._give_up(batch, str(exc))
                return len(batch)
            if self.bisect and len(batch) > 1:
                half = len(batch) // 2
                first = self._deliver(batch[:half], attempt + 1)
                if first < half:
                    return first
                return half + self._deliver(batch[half:], attempt + 1)
            time.sleep(min(2.0, 0.1 * 2**attempt))
            return self._deliver(batch, attempt + 1)
        failures = (result or {}).get("batchItemFailures") if self.report_failures else None
        if not failures:
            self.records_done += len(batch)
            return len(batch)
        failed = str(failures[0]["itemIdentifier"])
        index = next(
            (i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] == failed), 0
        )
        self.records_done += index
        if attempt >= self.max_retries:
            self._give_up(batch[index:], "the function reported the batch's records failed")
            return len(batch)
        time.sleep(min(2.0, 0.1 * 2**attempt))
        return index + self._deliver(batch[index:], attempt + 1)

    def _give_up(self, batch: list[dict[str, Any]], why: str) -> None:
        """The OnFailure destination gets what Lambda sends: where the batch was, not it."""
        self.failures_sent += 1
        if self.on_failure_url is None:
            return
        body = {
            "requestContext": {
                "condition": "RetryAttemptsExhausted",
                "functionArn": self.function.name,
            },
            "responseContext": {"functionError": why[:500]},
            "DDBStreamBatchInfo": {
                "shardId": "shardId-local",
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        import json

        self.sqs.send_message(QueueUrl=self.on_failure_url, MessageBody=json.dumps(body))
