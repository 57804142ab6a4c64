"""Event sources of the template, run locally: SQS queue pollers and schedules.

A poller does what Lambda's event source mapping does: receive up to BatchSize
messages, invoke the function with a real SQS event, delete what succeeded (all of it,
or all but the reported batchItemFailures), and leave the rest to reappear after their
visibility timeout, so moto's redrive moves a message that keeps failing to its DLQ.
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
    invocations: int = 0
    messages_done: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"poll-{self.function.name}"
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # keep polling; say what happened
                if self._stop.is_set():
                    break
                print(f"[poller {self.function.name}] {type(exc).__name__}: {exc}", flush=True)
                time.sleep(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = reply.get("Messages", [])
        if not messages:
            return 0
        self.invocations += 1
        try:
            result = self.function.invoke(sqs_event(messages, self.queue_arn))
        except InvokeError as exc:
            print(
                f"[poller {self.function.name}] invocation failed, batch retried: {exc}", flush=True
            )
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
        self.messages_done += len(done)
        return len(done)


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
