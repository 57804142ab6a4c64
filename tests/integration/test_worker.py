"""The sync engine's worker loop, through a real worker handler and real SQS (moto)."""

import json

import pytest

from booksync.engine import worker as engine
from booksync.engine.messages import Pull
from booksync.errors import SyncFailure
from booksync.store.models import Connection, Cursor, SyncErrorRow
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


@pytest.fixture(autouse=True)
def no_provider_adapter(monkeypatch):
    """These tests are about the worker loop, not a provider: no pull adapter answers."""
    from booksync.providers import registry

    monkeypatch.setattr(registry, "pull_adapter", lambda provider, settings: None)


@pytest.fixture
def qbo_connection(stack_env):
    """An active QBO connection c1 of tenant t1 (the table itself is what is set up here)."""
    conn = Connection("t1", "qbo", connection_id="c1", status="active", company_id="123")
    conn.save()
    return conn


def test_pull_message_moves_the_connections_cursor(stack_env, handler, qbo_connection):
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
    stack_env, handler, monkeypatch, qbo_connection
):
    def throttled(ctx, message):
        raise SyncFailure("qbo.throttled", "ThrottleExceeded", retry_after=30)

    monkeypatch.setattr(engine, "record_pull_run", throttled)
    monkeypatch.setattr("booksync.engine.handler.record_pull_run", throttled)
    event, msg = _receive_one(stack_env, "QboPullQueue", PULL)
    answer = handler("qbo_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": msg["MessageId"]}]}
    # the wait was set on the message: it is not visible now
    sqs = stack_env.client("sqs")
    again = sqs.receive_message(QueueUrl=stack_env.queue_url("QboPullQueue"))
    assert "Messages" not in again
    assert list(SyncErrorRow.scan()) == []


def test_failure_a_person_must_fix_becomes_an_error_row_and_is_not_retried(
    qbo_connection, stack_env, handler, monkeypatch
):
    def closed(ctx, message):
        raise SyncFailure(
            "qbo.period_closed", "Account Period Closed, cannot update through this date."
        )

    monkeypatch.setattr("booksync.engine.handler.record_pull_run", closed)
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


def test_pull_records_the_last_successful_sync(stack_env, handler, qbo_connection):
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    handler("qbo_pull")(event, lambda_context())
    assert Connection.get("t1", "qbo").last_sync_at is not None


def test_message_for_a_connection_needing_reauth_is_parked_not_lost(
    stack_env, handler, qbo_connection
):
    qbo_connection.update(actions=[Connection.status.set("needs_reauth")])
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    assert handler("qbo_pull")(event, lambda_context()) == {"batchItemFailures": []}
    (parked,) = [r for r in SyncErrorRow.scan() if r.status == "parked"]
    assert parked.message["connection_id"] == "c1"
    assert not list(Cursor.scan())  # nothing was sent


def test_message_for_a_replaced_connection_is_dropped(stack_env, handler, qbo_connection):
    stale = dict(PULL, connection_id="c-old")
    event, _ = _receive_one(stack_env, "QboPullQueue", stale)
    assert handler("qbo_pull")(event, lambda_context()) == {"batchItemFailures": []}
    assert not list(Cursor.scan())
    assert not list(SyncErrorRow.scan())
