"""The sync engine's worker loop, through a real worker handler and real SQS (moto)."""

import json

import pytest

from booksync import engine
from booksync.errors import SyncFailure
from booksync.messages import Pull
from booksync.models import Cursor, SyncErrorRow
from tests.conftest import lambda_context


def _receive_one(stack_env, queue_logical, body):
    sqs = stack_env.client("sqs")
    url = stack_env.queue_url(queue_logical)
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps(body),
        MessageGroupId="c1",
        MessageDeduplicationId=str(hash(json.dumps(body))),
    )
    msg = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    from local.pollers import sqs_event

    return sqs_event([msg], arn), msg


PULL = Pull(tenant_id="t1", connection_id="c1", provider="qbo", trigger="x").model_dump()


def test_pull_message_moves_the_connections_cursor(stack_env, handler):
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    answer = handler("qbo_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": []}
    cursor = Cursor.get("c1", "_runs")
    assert cursor.runs == 1
    assert cursor.last_run_at is not None


def test_message_for_another_provider_is_refused(stack_env, handler):
    event, msg = _receive_one(stack_env, "QbtPullQueue", PULL)  # a qbo message on the qbt queue
    answer = handler("qbt_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": msg["MessageId"]}]}


def test_transient_failure_returns_message_after_the_providers_wait(
    stack_env, handler, monkeypatch
):
    def throttled(ctx, message):
        raise SyncFailure("qbo.throttled", "ThrottleExceeded", retry_after=30)

    monkeypatch.setattr(engine, "record_pull_run", throttled)
    monkeypatch.setattr("booksync.workers.record_pull_run", throttled)
    event, msg = _receive_one(stack_env, "QboPullQueue", PULL)
    answer = handler("qbo_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": msg["MessageId"]}]}
    # the wait was set on the message: it is not visible now
    sqs = stack_env.client("sqs")
    again = sqs.receive_message(QueueUrl=stack_env.queue_url("QboPullQueue"))
    assert "Messages" not in again
    assert list(SyncErrorRow.scan()) == []


def test_failure_a_person_must_fix_becomes_an_error_row_and_is_not_retried(
    stack_env, handler, monkeypatch
):
    def closed(ctx, message):
        raise SyncFailure(
            "qbo.period_closed", "Account Period Closed, cannot update through this date."
        )

    monkeypatch.setattr("booksync.workers.record_pull_run", closed)
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    fn = handler("qbo_pull")
    assert fn(event, lambda_context()) == {"batchItemFailures": []}
    assert fn(event, lambda_context()) == {"batchItemFailures": []}
    (row,) = list(SyncErrorRow.scan())
    assert row.code == "qbo.period_closed"
    assert row.attempts == 2
    assert "closing date" in row.fix
    assert row.provider_message.startswith("Account Period Closed")


@pytest.mark.parametrize("body", ["not json", json.dumps({"v": 1, "type": "pull"})])
def test_unreadable_message_is_reported_failed(stack_env, handler, body):
    sqs = stack_env.client("sqs")
    url = stack_env.queue_url("XeroPullQueue")
    sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g", MessageDeduplicationId="d")
    msg = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"][0]
    from local.pollers import sqs_event

    answer = handler("xero_pull")(sqs_event([msg], "arn"), lambda_context())
    assert answer["batchItemFailures"] == [{"itemIdentifier": msg["MessageId"]}]
