import json

from booksync.ops.cli import main as cli
from booksync.store.models import Connection
from booksync.store.tenants import hash_key, tenant_for_key
from tests.conftest import lambda_context, load_event


def test_hourly_tick_enqueues_one_reconcile_per_active_connection(stack_env, handler):
    Connection("t1", "qbo", connection_id="c-qbo", status="active").save()
    Connection("t1", "xero", connection_id="c-xero", status="needs_reauth").save()
    Connection("t2", "qbt", connection_id="c-qbt", status="active").save()
    fn = handler("scheduler")
    event = load_event("scheduler/hourly.json")
    assert fn(event, lambda_context())["enqueued"] == 2
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
