"""The local stack's DynamoDB stream event source (local/pollers.StreamPoller): what
Lambda's event source mapping does for the fanout function, with stand-in clients."""

from __future__ import annotations

import json
from typing import Any

from local.lambdas import InvokeError
from local.pollers import StreamPoller


def _record(n: int) -> dict[str, Any]:
    return {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(100 + n), "NewImage": {}}}


class Streams:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "it-0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        start = int(ShardIterator.split("-")[1])
        part = self.records[start : start + Limit]
        return {"Records": part, "NextShardIterator": f"it-{start + len(part)}"}


class Sqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:
        self.sent.append(json.loads(MessageBody))


class Function:
    """Fails any batch that holds a poison record; remembers every batch it was given."""

    name = "fanout"

    def __init__(self, poison: set[str], report: bool = False) -> None:
        self.poison = poison
        self.report = report
        self.batches: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(sequences)
        bad = [s for s in sequences if s in self.poison]
        if bad and self.report:
            return {"batchItemFailures": [{"itemIdentifier": bad[0]}]}
        if bad:
            raise InvokeError("fanout", {"errorMessage": "boom"})
        return {"batchItemFailures": []}


def _poller(records, function, sqs, **kwargs):
    return StreamPoller(
        streams=Streams(records),
        sqs=sqs,
        stream_arn="arn:stream",
        function=function,  # type: ignore[arg-type]
        on_failure_url="failures",
        **kwargs,
    )


def test_a_failing_batch_is_bisected_and_only_the_poison_record_is_given_up_on():
    # Given eight changes, one of which always breaks the function
    sqs = Sqs()
    function = Function(poison={"103"})
    poller = _poller([_record(n) for n in range(8)], function, sqs, max_retries=5)
    # When the poller delivers them
    assert poller.poll_once() == 8
    # Then every other change was delivered in a batch that succeeded, and the poison one
    # went to the on-failure destination, described as Lambda describes it
    delivered = {s for batch in function.batches for s in batch if "103" not in batch}
    assert delivered == {str(100 + n) for n in range(8)} - {"103"}
    (failure,) = sqs.sent
    info = failure["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == ("103", "103")


def test_a_reported_failure_is_retried_from_that_record_not_from_the_start():
    # Given a function that reports the fourth change failed, twice, then takes it
    sqs = Sqs()
    function = Function(poison={"103"}, report=True)
    poller = _poller([_record(n) for n in range(6)], function, sqs, max_retries=5)
    calls = {"n": 0}
    real = function.invoke

    def heals(event):
        calls["n"] += 1
        if calls["n"] == 3:
            function.poison.clear()
        return real(event)

    function.invoke = heals  # type: ignore[method-assign]
    assert poller.poll_once() == 6
    # Then each retry starts at the reported record; nothing reached the failure queue
    assert [batch[0] for batch in function.batches] == ["100", "103", "103"]
    assert sqs.sent == []
