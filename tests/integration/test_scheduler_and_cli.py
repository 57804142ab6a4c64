import json
from datetime import UTC, datetime, timedelta

from booksync.ops.cli import main as cli
from booksync.store import Connection
from booksync.store.tenants import hash_key, tenant_for_key
from tests.conftest import lambda_context, load_event


def test_hourly_tick_enqueues_one_reconcile_per_active_connection(stack_env, handler):
    Connection("t1", "qbo", connection_id="c-qbo", status="active").save()
    Connection("t1", "xero", connection_id="c-xero", status="needs_reauth").save()
    Connection("t2", "qbt", connection_id="c-qbt", status="active").save()
    fn = handler("scheduler")
    event = load_event("scheduler/hourly.json")
    answer = fn(event, lambda_context())
    assert (answer["reconciled"], answer["pulls_queued"]) == (2, 2)
    fn(event, lambda_context())  # the same tick fired twice: de-duplicated by the FIFO queue
    sqs = stack_env.client("sqs")
    qbo = sqs.receive_message(QueueUrl=stack_env.queue_url("QboPullQueue"), MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["connection_id"] for m in qbo["Messages"]] == ["c-qbo"]
    assert "Messages" not in sqs.receive_message(QueueUrl=stack_env.queue_url("XeroPullQueue"))


def test_cli_creates_a_tenant_and_a_key_stored_only_as_hash(stack_env, capsys):
    assert cli(["tenants", "create", "Smith & Co"]) == 0
    tenant = json.loads(capsys.readouterr().out)
    assert cli(["api-keys", "create", tenant["tenant_id"]]) == 0
    key = json.loads(capsys.readouterr().out)["key"]
    assert tenant_for_key(f"Bearer {key}") == tenant["tenant_id"]
    table = stack_env.client("dynamodb").scan(TableName=stack_env.env["API_KEYS_TABLE"])
    stored = json.dumps(table["Items"])
    assert key not in stored
    assert hash_key(key) in stored


def test_cli_refuses_a_key_for_an_unknown_tenant(stack_env, capsys):
    assert cli(["api-keys", "create", "no-such-tenant"]) == 1
    assert "no tenant" in capsys.readouterr().err


def test_cli_without_configuration_names_what_is_missing(monkeypatch, capsys):
    from booksync.settings import get_settings

    monkeypatch.delenv("RECORDS_TABLE", raising=False)
    get_settings.cache_clear()
    assert cli(["dlq", "list"]) == 2
    assert "RECORDS_TABLE" in capsys.readouterr().err
    get_settings.cache_clear()


def test_an_idle_qbo_connection_is_read_every_few_hours_not_every_hour(stack_env, handler):
    # Given QBO read by a webhook's pull ten minutes ago, and QuickBooks Time (no webhooks)
    recently = datetime.now(UTC) - timedelta(minutes=10)
    Connection("t1", "qbo", connection_id="c-qbo", status="active", last_sync_at=recently).save()
    Connection("t1", "qbt", connection_id="c-qbt", status="active", last_sync_at=recently).save()
    # When the hour strikes
    answer = handler("scheduler")(load_event("scheduler/hourly.json"), lambda_context())
    # Then only QuickBooks Time is read; both are reconciled
    assert (answer["reconciled"], answer["pulls_queued"]) == (2, 1)
    sqs = stack_env.client("sqs")
    assert "Messages" not in sqs.receive_message(QueueUrl=stack_env.queue_url("QboPullQueue"))


def test_the_hourly_reconcile_pushes_a_change_whose_fan_out_was_lost(stack_env, handler):
    # Given a QBO connection reconciled an hour ago, and a client written since then whose
    # stream fan-out never ran (the fanout function failed past its retries)
    from booksync.engine.outbox import reconcile_push  # noqa: F401  (the path under test)
    from booksync.hub.records import create_record
    from booksync.store import Cursor

    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    Connection("t1", "qbo", connection_id="c-qbo", status="active", connected_at=an_hour_ago).save()
    Cursor("c-qbo", "reconcile", position=an_hour_ago.isoformat()).save()
    record = create_record("t1", "contact", {"name": "Lost Fan-out Ltd", "contact_type": "Client"})
    # When the hour strikes
    answer = handler("scheduler")(load_event("scheduler/hourly.json"), lambda_context())
    # Then its push is queued
    assert answer["records_queued"] == 1
    sqs = stack_env.client("sqs")
    got = sqs.receive_message(QueueUrl=stack_env.queue_url("QboPushQueue"), MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["record_id"] for m in got["Messages"]] == [record.record_id]


def test_the_qbt_poll_queues_one_pull_per_active_qbt_connection_and_nothing_else(
    stack_env, handler
):
    # QuickBooks Time sends no webhooks: its own schedule (every 5 minutes) asks it
    Connection("t1", "qbt", connection_id="c-qbt", status="active").save()
    Connection("t2", "qbt", connection_id="c-qbt-2", status="needs_reauth").save()
    Connection("t1", "qbo", connection_id="c-qbo", status="active").save()
    fn = handler("scheduler")
    answer = fn(load_event("scheduler/qbt_poll.json"), lambda_context())
    assert answer == {"qbt_pulls_queued": 1}
    sqs = stack_env.client("sqs")
    got = sqs.receive_message(QueueUrl=stack_env.queue_url("QbtPullQueue"), MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["connection_id"] for m in got["Messages"]] == ["c-qbt"]
    assert "Messages" not in sqs.receive_message(QueueUrl=stack_env.queue_url("QboPullQueue"))
    assert "Messages" not in sqs.receive_message(QueueUrl=stack_env.queue_url("QboPushQueue"))
