"""The local stack's SQS event source (local/pollers.QueuePoller) runs invocations side by
side as Lambda's event source mapping does (up to the mapping's MaximumConcurrency), while
a FIFO group's messages never run at once or out of order (moto, as SQS, keeps a group
whose messages are in flight from every other receiver)."""

from __future__ import annotations

import threading
import time
from itertools import pairwise
from typing import Any

import boto3
from moto import mock_aws

from local.lambdas import InvokeError
from local.pollers import QueuePoller


class SlowFunction:
    """A function that takes `seconds` per invocation and notes what ran when."""

    name = "slow"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.order: list[tuple[str, str]] = []  # (group, body) in the order they began
        self.spans: dict[str, list[tuple[float, float]]] = {}

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        began = time.monotonic()
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            for r in event["Records"]:
                self.order.append((r["attributes"]["MessageGroupId"], r["body"]))
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            for r in event["Records"]:
                group = r["attributes"]["MessageGroupId"]
                self.spans.setdefault(group, []).append((began, time.monotonic()))
        return {"batchItemFailures": []}


def _fifo(**attributes: str) -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(
        QueueName="work.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true", **attributes},
    )["QueueUrl"]
    return sqs, url


def _poll_until(sqs: Any, url: str, function: Any, done: int, **options: Any) -> QueuePoller:
    """Poll the queue with `function` until `done` messages are done (30 s at most)."""
    poller = QueuePoller(
        sqs=sqs,
        queue_url=url,
        queue_arn="arn:aws:sqs:us-east-1:123456789012:work.fifo",
        function=function,
        **options,
    )
    poller.start()
    deadline = time.monotonic() + 30
    while poller.messages_done < done and time.monotonic() < deadline:
        time.sleep(0.05)
    poller.stop()
    return poller


def _run(concurrency: int, groups: int, per_group: int) -> tuple[SlowFunction, QueuePoller]:
    sqs, url = _fifo()
    for n in range(per_group):
        for g in range(groups):
            sqs.send_message(QueueUrl=url, MessageBody=f"{g}-{n}", MessageGroupId=f"g{g}")
    function = SlowFunction(0.3)
    poller = _poll_until(
        sqs, url, function, groups * per_group, batch_size=1, concurrency=concurrency
    )
    return function, poller


@mock_aws
def test_independent_groups_run_side_by_side_up_to_the_concurrency():
    function, poller = _run(concurrency=3, groups=4, per_group=3)
    assert poller.messages_done == 12
    assert function.most_at_once == 3  # never more than the mapping allows


@mock_aws
def test_a_group_runs_one_invocation_at_a_time_in_order():
    function, poller = _run(concurrency=3, groups=2, per_group=4)
    assert poller.messages_done == 8
    for g in ("g0", "g1"):
        bodies = [body for group, body in function.order if group == g]
        assert bodies == [f"{g[1]}-{n}" for n in range(4)]
        spans = sorted(function.spans[g])
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))


@mock_aws
def test_one_at_a_time_when_the_mapping_says_so():
    function, poller = _run(concurrency=1, groups=3, per_group=2)
    assert poller.messages_done == 6
    assert function.most_at_once == 1


class CrashesFirst(SlowFunction):
    """Its first invocation crashes (the pool's InvokeError); the rest succeed."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.calls = 0

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls == 1:
            raise InvokeError(self.name, {"errorType": "Crash", "errorMessage": "halfway"})
        return super().invoke(event)


@mock_aws
def test_a_crashed_batch_comes_back_soon_not_after_the_visibility_timeout():
    sqs, url = _fifo(VisibilityTimeout="720")  # the template's
    sqs.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    function = CrashesFirst()
    poller = _poll_until(sqs, url, function, 1, crash_redelivery_seconds=1)
    assert poller.messages_done == 1
    assert function.calls == 2  # crashed once, then done once


def test_local_queues_keep_the_templates_visibility_timeout(stack_env):
    """A shorter one would hand a message still being worked on to a second invocation
    (with several at once, two creates of one record: the billing fault run's overpaying
    payments); only a crashed batch comes back sooner (the poller above)."""
    sqs = stack_env.client("sqs")
    for logical, url in stack_env.resources["queues"].items():
        wanted = stack_env.template["Resources"][logical]["Properties"]["VisibilityTimeout"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        assert attrs["Attributes"]["VisibilityTimeout"] == str(wanted), logical
