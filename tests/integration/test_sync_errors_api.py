"""/v1/sync-errors and `booksync errors`: list, show, retry, retry all, dismiss."""

import json

import pytest

from booksync.engine.messages import PushRecord
from booksync.errors import SyncFailure
from booksync.ops.cli import main as cli
from booksync.store.models import Tenant
from booksync.store.sync_errors import upsert_error
from tests.integration.test_api import call


@pytest.fixture
def api(handler):
    return handler("api")


@pytest.fixture
def tenant_id(api_key):
    return next(iter(Tenant.scan())).tenant_id


def _fail(tenant_id, record_id, code="qbo.duplicate_name", provider="qbo"):
    message = PushRecord(
        tenant_id=tenant_id,
        connection_id="c1",
        provider=provider,
        kind="contact",
        record_id=record_id,
        version=1,
    )
    return upsert_error(
        tenant_id=tenant_id,
        provider=provider,
        connection_id="c1",
        kind="contact",
        record_id=record_id,
        failure=SyncFailure(code, "Another customer is using 'Acme'"),
        message=message.model_dump(mode="json"),
    )


def test_errors_are_listed_with_the_fix_and_the_providers_words(api, api_key, tenant_id):
    _fail(tenant_id, "r1")
    _fail(tenant_id, "r1")  # the same record failing again counts an attempt
    status, page, _ = call(api, "GET", "/v1/sync-errors", api_key)
    assert status == 200
    (error,) = page["items"]
    assert error["code"] == "qbo.duplicate_name"
    assert error["provider_message"] == "Another customer is using 'Acme'"
    assert "link this record to it" in error["what_to_do"]
    assert error["attempts"] == 2
    assert error["record"] == {"kind": "contact", "id": "r1"}
    status, shown, _ = call(api, "GET", f"/v1/sync-errors/{error['id']}", api_key)
    assert status == 200
    assert shown == error


def test_filters_by_provider_status_and_code(api, api_key, tenant_id):
    _fail(tenant_id, "r1")
    _fail(tenant_id, "r2", code="xero.validation", provider="xero")
    assert len(call(api, "GET", "/v1/sync-errors", api_key, query="provider=xero")[1]["items"]) == 1
    assert (
        len(
            call(api, "GET", "/v1/sync-errors", api_key, query="code=qbo.duplicate_name")[1][
                "items"
            ]
        )
        == 1
    )
    assert call(api, "GET", "/v1/sync-errors", api_key, query="status=dismissed")[1]["items"] == []


def test_retry_resends_the_change_and_marks_the_error_retrying(api, api_key, tenant_id, stack_env):
    row = _fail(tenant_id, "r1")
    error_id = row.error_key.replace("#", ":")
    status, body, _ = call(api, "POST", f"/v1/sync-errors/{error_id}/retry", api_key)
    assert status == 200
    assert body["status"] == "retrying"
    sqs = stack_env.client("sqs")
    (msg,) = sqs.receive_message(QueueUrl=stack_env.queue_url("QboPushQueue"))["Messages"]
    assert json.loads(msg["Body"])["record_id"] == "r1"


def test_retry_all_runs_at_most_once_every_three_minutes(api, api_key, tenant_id):
    _fail(tenant_id, "r1")
    _fail(tenant_id, "r2")
    status, body, _ = call(api, "POST", "/v1/sync-errors/retry-all", api_key)
    assert status == 200
    assert body == {"retried": 2}
    status, problem, headers = call(api, "POST", "/v1/sync-errors/retry-all", api_key)
    assert status == 429
    assert 0 < int(headers["Retry-After"]) <= 180
    assert "3 minutes" in problem["detail"]


def test_dismissed_errors_leave_the_open_list(api, api_key, tenant_id):
    row = _fail(tenant_id, "r1")
    error_id = row.error_key.replace("#", ":")
    assert (
        call(api, "POST", f"/v1/sync-errors/{error_id}/dismiss", api_key)[1]["status"]
        == "dismissed"
    )
    assert call(api, "GET", "/v1/sync-errors", api_key, query="status=open")[1]["items"] == []
    assert call(api, "POST", f"/v1/sync-errors/{error_id}/retry", api_key)[0] == 409


def test_a_reconnect_error_cannot_be_retried(api, api_key, tenant_id):
    row = _fail(tenant_id, "c1", code="qbo.reauth_required")
    status, problem, _ = call(
        api, "POST", f"/v1/sync-errors/{row.error_key.replace('#', ':')}/retry", api_key
    )
    assert status == 409
    assert "reconnect" in problem["detail"]


def test_unknown_error_is_404(api, api_key):
    assert call(api, "GET", "/v1/sync-errors/qbo:contact:nope", api_key)[0] == 404


def test_operators_see_the_same_through_the_cli(stack_env, tenant_id, capsys):
    _fail(tenant_id, "r1")
    capsys.readouterr()  # what the failing worker printed (its metric), not the CLI's answer
    assert cli(["errors", "list", tenant_id, "--provider", "qbo"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["code"] == "qbo.duplicate_name"
    assert cli(["errors", "dismiss", tenant_id, row["id"]]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "dismissed"
