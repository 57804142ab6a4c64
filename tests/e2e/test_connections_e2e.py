"""Connecting all three providers over HTTP through the real redirects, on the local stack."""

import json
import time

import pytest
import requests

from local.person import connect
from tests.e2e.conftest import operator_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def firm(stack):
    tenant = operator_cli(stack, "tenants", "create", "Connections Firm")
    key = operator_cli(stack, "api-keys", "create", tenant["tenant_id"])["key"]
    results = {p: connect(stack.gateway.url, key, p) for p in ("qbo", "qbt", "xero")}
    return key, results


def _connections(stack, key):
    reply = requests.get(
        f"{stack.gateway.url}/v1/connections",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    return {c["provider"]: c for c in reply.json()["items"]}


def test_each_provider_connects_through_its_redirects(firm):
    _, results = firm
    for provider, result in results.items():
        assert result.status == 200, (provider, result.page)
        assert result.title.endswith("is connected")
        assert len(result.hops) == 1  # consent redirected straight back to booksync's callback
        assert "/oauth/" in result.hops[0]
        assert "/callback?" in result.hops[0]


def test_connections_are_active_and_their_first_pull_runs(stack, firm):
    key, _ = firm
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = _connections(stack, key)
        if all(r["last_successful_sync"] for r in rows.values()):
            break
        time.sleep(0.3)
    for provider, row in rows.items():
        assert row["status"] == "active", provider
        assert row["company_name"], provider
        assert row["last_successful_sync"], provider


def test_connect_without_a_key_is_refused(stack):
    reply = requests.get(f"{stack.gateway.url}/oauth/qbo/connect", timeout=30)
    assert reply.status_code == 401


def test_no_token_value_appears_in_any_log(stack, firm):
    tokens = set()
    for url in stack.endpoints()["simulators"].values():
        oauth = requests.get(f"{url}/_sim/snapshot", timeout=30).json()["oauth"]
        tokens |= set(oauth["access"]) | set(oauth["refresh"])
    assert len(tokens) >= 3
    logs = "".join(p.read_text() for p in (stack.state_dir / "logs").glob("*.log"))
    assert len(logs) > 1000
    leaked = [t for t in tokens if t in logs]
    assert leaked == []
    assert json.loads(logs.splitlines()[0])  # the logs are JSON lines
