"""The whole system over HTTP on the embedded stack: the same code paths as in AWS."""

import json
import time

import pytest
import requests

from booksync.engine.messages import Pull

pytestmark = pytest.mark.e2e


def test_health_needs_no_key_and_endpoints_are_written(stack):
    reply = requests.get(f"{stack.gateway.url}/v1/health", timeout=30)
    assert reply.status_code == 200
    assert reply.json()["status"] == "ok"
    written = json.loads((stack.state_dir / "endpoints.json").read_text())
    assert written["api"] == stack.gateway.url
    assert set(written["simulators"]) == {"qbo", "qbt", "xero"}
    assert len(written["queues"]) == 6
    # each worker's dead-letter queue, and the fanout's on-failure destination
    assert len(written["dead_letter_queues"]) == 7


def test_contact_created_over_http_reads_back(stack, api_key):
    auth = {"Authorization": f"Bearer {api_key}"}
    created = requests.post(
        f"{stack.gateway.url}/v1/contacts",
        json={"name": "Harbour Dental"},
        headers=auth,
        timeout=30,
    )
    assert created.status_code == 201
    read = requests.get(
        f"{stack.gateway.url}{created.headers['Location']}", headers=auth, timeout=30
    )
    assert read.status_code == 200
    assert read.json()["name"] == "Harbour Dental"
    assert read.headers["ETag"] == '"1"'


def test_problem_json_over_http(stack, api_key):
    reply = requests.post(
        f"{stack.gateway.url}/v1/contacts",
        json={"name": "x", "email": "nope"},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )
    assert reply.status_code == 400
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert reply.json()["field"] == "email"


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_queued_pull_for_an_unknown_connection_is_dropped_not_retried(stack):
    sqs = stack.aws.client("sqs")
    message = Pull(tenant_id="t-e2e", connection_id="c-e2e", provider="xero", trigger="e2e-1")
    url = stack.resources["queues"]["XeroPullQueue"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody=message.model_dump_json(),
        MessageGroupId=message.group_id(),
        MessageDeduplicationId=message.dedup_id(),
    )
    poller = stack.pollers["xero_pull"]
    before = poller.messages_done
    _wait(lambda: poller.messages_done > before)
    dlq = stack.resources["dead_letter_queues"]["XeroPullDeadLetterQueue"]
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)


def test_message_that_keeps_failing_lands_in_the_dead_letter_queue(stack):
    sqs = stack.aws.client("sqs")
    queue = stack.resources["queues"]["QbtPullQueue"]
    dlq = stack.resources["dead_letter_queues"]["QbtPullDeadLetterQueue"]
    sqs.send_message(
        QueueUrl=queue,
        MessageBody='{"v": 99}',
        MessageGroupId="bad",
        MessageDeduplicationId="bad-1",
    )
    # a message no worker can read goes to the dead-letter queue at its first receive
    dead = _wait(
        lambda: sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"]).get("Messages"), 90
    )
    assert dead[0]["Body"] == '{"v": 99}'
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= 1
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_schedule_fires_on_demand_and_reconciles_every_active_connection(stack):
    table = stack.resources["tables"]["ConnectionsTable"]
    items = stack.aws.client("dynamodb").scan(TableName=table)["Items"]
    active = sum(1 for i in items if i["status"]["S"] == "active")
    reply = requests.post(f"{stack.gateway.url}/_local/schedules/Hourly", timeout=30)
    assert reply.status_code == 200
    assert reply.json()["result"]["reconciled"] == active
    unknown = requests.post(f"{stack.gateway.url}/_local/schedules/nope", timeout=30)
    assert unknown.status_code == 404


def test_function_logs_are_json_with_request_ids(stack):
    lines = (stack.state_dir / "logs" / "api.log").read_text().splitlines()
    logs = [json.loads(line) for line in lines if line.startswith("{")]
    assert logs
    assert all("function_request_id" in entry for entry in logs)
