"""A change made in a provider's own screens reaches booksync as a real signed webhook
(the simulators sign with the keys the local stack registered), and the pull worker runs
for the connection of that company."""

import time
import uuid

import pytest
import requests

from local.person import connect
from tests.e2e.conftest import operator_cli

pytestmark = pytest.mark.e2e


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def _add_connection(stack, provider: str, company_id: str) -> str:
    """A tenant connected to the company through the real OAuth redirects; returns the
    connection id once its first pull has run."""
    tenant = operator_cli(stack, "tenants", "create", f"Webhook Firm {uuid.uuid4().hex[:6]}")
    key = operator_cli(stack, "api-keys", "create", tenant["tenant_id"])["key"]
    assert connect(stack.gateway.url, key, provider, sim_company=company_id).status == 200
    item = stack.aws.client("dynamodb").get_item(
        TableName=stack.resources["tables"]["ConnectionsTable"],
        Key={"tenant_id": {"S": tenant["tenant_id"]}, "provider": {"S": provider}},
    )["Item"]
    connection_id = item["connection_id"]["S"]
    _wait(lambda: _runs(stack, connection_id) >= 1)
    stack.drain(timeout=60)
    return connection_id


def _runs(stack, connection_id: str) -> int:
    """Pages read by the connection's pulls: each source's cursor counts its reads."""
    items = (
        stack.aws.client("dynamodb")
        .query(
            TableName=stack.resources["tables"]["CursorsTable"],
            KeyConditionExpression="connection_id = :c",
            ExpressionAttributeValues={":c": {"S": connection_id}},
        )
        .get("Items", [])
    )
    return sum(int(i["runs"]["N"]) for i in items if "runs" in i)


def _objects(sim_url: str, company_id: str, kind: str) -> list[dict]:
    reply = requests.get(f"{sim_url}/_sim/companies/{company_id}/objects/{kind}", timeout=30)
    reply.raise_for_status()
    return reply.json()["objects"]


def _deliveries(sim_url: str) -> list[dict]:
    return requests.get(f"{sim_url}/_sim/webhooks", timeout=10).json()["deliveries"]


def _company(sim_url: str, name: str) -> str:
    reply = requests.post(
        f"{sim_url}/_sim/companies", json={"name": name, "seed": "sandbox"}, timeout=30
    )
    reply.raise_for_status()
    return reply.json()["id"]


def test_customer_changed_in_qbo_runs_a_pull_for_its_connection(stack):
    # Given a QBO company connected to a tenant
    qbo = stack.simulators["qbo"].url
    realm = _company(qbo, "Harbour Dental (QBO)")
    connection_id = _add_connection(stack, "qbo", realm)
    before = _runs(stack, connection_id)
    customer_id = _objects(qbo, realm, "Customer")[0]["Id"]

    # When someone renames a customer in QBO's screens
    reply = requests.patch(
        f"{qbo}/_sim/companies/{realm}/objects/Customer/{customer_id}",
        json={"DisplayName": f"Renamed {uuid.uuid4().hex[:6]}"},
        timeout=30,
    )
    assert reply.status_code == 200

    # Then QBO's signed notification is accepted and the pull worker runs for the connection
    assert _wait(lambda: _runs(stack, connection_id) >= before + 1)
    # (the simulator is shared: other tests' deliveries are not this one's)
    statuses = [d["status"] for d in _deliveries(qbo) if realm in d["body"]]
    assert statuses
    assert set(statuses) == {200}  # every attempt answered at once, none left to retry


def test_qbo_cloudevents_notification_runs_a_pull_for_its_connection(stack):
    # Given a connected QBO company whose app is switched to CloudEvents payloads
    qbo = stack.simulators["qbo"].url
    realm = _company(qbo, "Harbour Dental (QBO CloudEvents)")
    connection_id = _add_connection(stack, "qbo", realm)
    before = _runs(stack, connection_id)
    customer_id = _objects(qbo, realm, "Customer")[0]["Id"]
    fmt = f"{qbo}/_sim/qbo/webhook-format"
    requests.put(fmt, json={"format": "cloudevents"}, timeout=10).raise_for_status()
    try:
        # When a customer changes
        reply = requests.patch(
            f"{qbo}/_sim/companies/{realm}/objects/Customer/{customer_id}",
            json={"CompanyName": f"Harbour {uuid.uuid4().hex[:6]}"},
            timeout=30,
        )
        assert reply.status_code == 200

        # Then the array of CloudEvents is accepted and the pull worker runs
        assert _wait(lambda: _runs(stack, connection_id) >= before + 1)
        mine = [d for d in _deliveries(qbo) if realm in d["body"]]
        assert [(d["body"][:1], d["status"]) for d in mine] == [("[", 200)]
    finally:
        requests.put(fmt, json={"format": "legacy"}, timeout=10).raise_for_status()


def test_contact_changed_in_xero_runs_a_pull_for_its_connection(stack):
    # Given a Xero organisation connected to a tenant
    xero = stack.simulators["xero"].url
    org = _company(xero, "Harbour Dental (Xero)")
    connection_id = _add_connection(stack, "xero", org)
    before = _runs(stack, connection_id)
    contact = _objects(xero, org, "Contacts")[0]

    # When someone edits a contact in Xero's screens
    reply = requests.patch(
        f"{xero}/_sim/companies/{org}/objects/Contacts/{contact['ContactID']}",
        json={"EmailAddress": f"accounts+{uuid.uuid4().hex[:6]}@harbour.example"},
        timeout=30,
    )
    assert reply.status_code == 200

    # Then the pull worker runs for that connection
    assert _wait(lambda: _runs(stack, connection_id) >= before + 1)


def test_xero_intent_to_receive_check_passes(stack):
    xero = stack.simulators["xero"].url

    reply = requests.post(f"{xero}/_sim/xero/intent-to-receive", timeout=60)

    assert reply.status_code == 200
    assert reply.json()["passed"] is True


def test_webhook_with_a_forged_signature_is_refused_over_http(stack):
    body = b'{"eventNotifications": []}'

    reply = requests.post(
        f"{stack.gateway.url}/webhooks/qbo",
        data=body,
        headers={"intuit-signature": "Zm9yZ2Vk", "content-type": "application/json"},
        timeout=30,
    )

    assert reply.status_code == 401
    assert reply.headers["Content-Type"] == "application/problem+json"
