"""The operator page (/ops) in a real browser (issue 16): headless Chromium (Debian's
package, which `make test` installs) driven by Playwright against the embedded stack's
gateway, the same route API Gateway serves. An operator signs in with the firm's admin
key, reads each screen, and acts: re-drives the firm's dead letter, repairs drift, retries
the errors. A screenshot of each screen is kept in tests/artifacts/ops/ (the README shows
one). Reading needs no JavaScript, so the browser runs with it off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from booksync.engine.messages import encode, push_messages
from local.person import connect
from local.stack import TOOLING_KEY
from tests.e2e.conftest import ROOT, operator_cli

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts" / "ops"
# as the machine's notes say Chromium must start here: no background traffic, no sandbox
# for root, a fresh profile
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REFUSED = {
    "Fault": {
        "Error": [
            {
                "Message": "Invalid Reference Id",
                "Detail": "Invalid Reference Id : Term assigned to this customer is inactive",
                "code": "2500",
            }
        ],
        "type": "ValidationFault",
    }
}

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_an_operator_reads_and_acts_on_every_screen_of_the_ops_page(stack):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium package "
            "(apt-get); elsewhere install Chromium and set CHROMIUM to its path"
        )
    from playwright.sync_api import sync_playwright

    api = stack.gateway.url
    qbo = stack.endpoints()["simulators"]["qbo"]
    tenant = operator_cli(stack, "tenants", "create", "Ops Page Firm")["tenant_id"]
    admin = operator_cli(stack, "api-keys", "create", tenant)["key"]
    reader = operator_cli(stack, "api-keys", "create", tenant, "--scope", "read")["key"]
    auth = {"Authorization": f"Bearer {admin}"}
    company = requests.post(
        f"{qbo}/_sim/companies", json={"name": "Ops books", "seed": "empty"}, timeout=30
    ).json()["id"]
    assert connect(api, admin, "qbo", sim_company=str(company)).status == 200
    stack.drain(timeout=60)

    # Given: two contacts QuickBooks refused (sync errors, not in QBO: drift), and a dead
    # letter of the firm's in the QBO push queue (a message of a contact now in step)
    first = _contact(api, auth, "Harbour Cafe")
    stack.drain(timeout=60)
    requests.post(
        f"{qbo}/_sim/faults",
        json={
            "action": "error",
            "method": "POST",
            "path": f"/v3/company/{company}/(customer|batch)",  # this company's only
            "status": 400,
            "body": REFUSED,
            "count": 2,
        },
        timeout=10,
    ).raise_for_status()
    refused = [_contact(api, auth, name) for name in ("Pier Bakery", "Quay Books")]
    stack.drain(timeout=60)
    fired = requests.get(f"{qbo}/_sim/faults", timeout=10).json()["faults"]
    requests.delete(f"{qbo}/_sim/faults", timeout=10)
    # one batch of both, or one call each
    assert fired[0]["fired"] in (1, 2), "QuickBooks was not asked for the two contacts"
    _dead_letter(stack, tenant, first)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(java_script_enabled=False).new_page()

        # a read key is refused; the admin key signs in
        page.goto(f"{api}/ops")
        page.fill("input[name=key]", reader)
        page.click("button:has-text('Sign in')")
        assert "needs an admin key" in page.inner_text("main")
        page.fill("input[name=key]", admin)
        page.click("button:has-text('Sign in')")
        assert page.url.endswith("/ops")
        row = page.inner_text("table")
        assert "QuickBooks Online\tactive\tOps books" in row
        page.screenshot(path=str(ARTIFACTS / "1-connections.png"), full_page=True)

        page.click("text=Sync errors")
        errors = page.inner_text("table")
        assert errors.count("qbo.") == 2
        assert "Invalid Reference Id" in errors
        page.screenshot(path=str(ARTIFACTS / "2-sync-errors.png"), full_page=True)

        page.click("text=Dead letters")
        assert "1 of this firm's" in page.inner_text("main")
        page.screenshot(path=str(ARTIFACTS / "3-dead-letters.png"), full_page=True)
        page.click("text=Re-drive this firm's messages")
        assert "qbo-push: moved 1" in page.inner_text(".note")
        stack.drain(timeout=60)

        page.click("text=Drift")
        page.click("text=Find drift at QuickBooks Online")
        main = page.inner_text("main")
        assert "In the hub, not linked: 2" in main
        assert "Content differs: 0" in main
        page.screenshot(path=str(ARTIFACTS / "4-drift.png"), full_page=True)
        page.click("text=Repair")
        assert "queued 2 contact" in page.inner_text(".note")
        stack.drain(timeout=60)
        page.goto(f"{api}/ops/drift?provider=qbo")
        assert "In the hub, not linked: 0" in page.inner_text("main")

        page.click("text=Sync errors")
        assert "No open sync errors." in page.inner_text("main")
        page.click("text=Retry all")
        assert "0 sync errors sent again" in page.inner_text(".note")

        page.click("text=Audit trail")
        trail = page.inner_text("table")
        for action in ("sync_errors.retry_all", "drift.repair", "dlq.redrive"):
            assert action in trail
        page.screenshot(path=str(ARTIFACTS / "5-audit.png"), full_page=True)

        page.click("text=Sign out")
        page.goto(f"{api}/ops/audit")
        assert page.locator("input[name=key]").count() == 1  # signed out: the form again
        browser.close()

    # the QuickBooks side: every contact there once, the dead letter sent nothing twice
    names = [c["DisplayName"] for c in _objects(qbo, company, "Customer")]
    assert sorted(names) == ["Harbour Cafe", "Pier Bakery", "Quay Books"]
    linked = requests.get(
        f"{api}/v1/links", headers=auth, params={"provider": "qbo", "kind": "contact"}, timeout=30
    ).json()["items"]
    assert {c["id"] for c in (first, *refused)} == {i["hub_id"] for i in linked}


def _contact(api, auth, name):
    reply = requests.post(f"{api}/v1/contacts", headers=auth, json={"name": name}, timeout=30)
    reply.raise_for_status()
    return reply.json()


def _objects(sim, company, kind):
    url = f"{sim}/_sim/companies/{company}/objects/{kind}"
    return requests.get(url, timeout=30).json()["objects"]


def _dead_letter(stack, tenant, contact):
    """A push message of the firm's, as the worker leaves one after its last receive."""
    ddb = stack.aws.client("dynamodb", access_key=TOOLING_KEY)
    row = ddb.get_item(
        TableName=stack.endpoints()["tables"]["ConnectionsTable"],
        Key={"tenant_id": {"S": tenant}, "provider": {"S": "qbo"}},
    )["Item"]
    (message,) = push_messages(
        tenant,
        row["connection_id"]["S"],
        "qbo",
        "contact",
        [(contact["id"], contact["version"])],
        1,
    )
    sqs = stack.aws.client("sqs", access_key=TOOLING_KEY)
    sqs.send_message(
        QueueUrl=stack.endpoints()["dead_letter_queues"]["QboPushDeadLetterQueue"],
        MessageBody=encode(message),
        MessageGroupId=message.group_id(),
        MessageDeduplicationId=f"dead-{message.dedup_id()}",
    )
