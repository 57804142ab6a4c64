"""Connections end to end through the real oauth and api handlers and the simulators'
real OAuth servers: connect, refuse, reconnect, disconnect, tokens, needs_reauth."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from booksync.settings import get_settings
from booksync.store import Connection, Link
from booksync.store.tenants import create_api_key, create_tenant
from tests.integration.oauth_dance import Dance
from tests.integration.test_api import call

PROVIDERS = ("qbo", "qbt", "xero")


def expire_access_token(runtime, tenant_id, provider):
    """Rewrite the stored tokens as if the access token had expired a moment ago."""
    from booksync.providers.oauth import TokenSet

    conn = Connection.get(tenant_id, provider)
    tokens = runtime.vault.open_connection(conn)
    expired = TokenSet(tokens.access_token, tokens.refresh_token, time.time() - 10, tokens.extra)
    sealed = runtime.vault.seal(tenant_id, provider, expired, connection_id=conn.connection_id)
    conn.update(actions=[Connection.tokens.set(sealed)])


@pytest.fixture
def stack_env(sim_stack_env):
    """Here the providers are the simulators (overrides conftest's stack_env)."""
    return sim_stack_env


@pytest.fixture
def env(stack_env, handler, sims):
    class Env:
        def __init__(self):
            self.oauth = handler("oauth")
            self.api = handler("api")
            self.sim = {name: h.url for name, h in sims.items()}

        def tenant(self, name="Firm"):
            tenant = create_tenant(name)
            key = create_api_key(tenant.tenant_id).key
            return tenant.tenant_id, key, Dance(self.oauth, key)

        def company(self, provider, name, seed="sandbox"):
            reply = requests.post(
                f"{self.sim[provider]}/_sim/companies",
                json={"name": name, "seed": seed},
                timeout=10,
            )
            reply.raise_for_status()
            return reply.json()["id"]

        def calls(self, provider, method, path_part):
            counts = requests.get(f"{self.sim[provider]}/_sim/calls", timeout=10).json()["counts"]
            return sum(n for k, n in counts.items() if k.startswith(method) and path_part in k)

        def runtime(self):
            from booksync.boot import boot

            return boot(get_settings())

    return Env()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_full_oauth_dance_connects_and_lists_the_company(env, provider):
    tenant_id, key, dance = env.tenant()
    company = env.company(provider, f"Harbour {provider}")
    status, page = dance.connect(provider, sim_company=company)
    assert status == 200, page
    assert "is connected" in page
    _, listing, _ = call(env.api, "GET", "/v1/connections", key)
    row = {c["provider"]: c for c in listing["items"]}[provider]
    assert row["status"] == "active"
    assert row["company_id"] == str(company)
    assert row["connected_since"] is not None
    assert row["open_errors"] == 0
    stored = Connection.get(tenant_id, provider)
    assert "access_token" not in stored.tokens  # sealed with KMS, not readable at rest
    token, _ = env.runtime().tokens.access_token(tenant_id, provider)
    assert token  # the sealed tokens open again with the tenant's encryption context


def test_qbo_connection_is_named_after_the_company(env):
    _, key, dance = env.tenant()
    dance.connect("qbo", sim_company=env.company("qbo", "Bayside Books Ltd"))
    _, listing, _ = call(env.api, "GET", "/v1/connections", key)
    assert listing["items"][0]["company_name"] == "Bayside Books Ltd"


def test_denied_consent_stores_nothing(env):
    tenant_id, _, dance = env.tenant()
    url = dance.connect_url("xero")
    state = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["state"]
    status, page = dance.callback("xero", {"error": "access_denied", "state": state})
    assert status == 400
    assert "not granted" in page
    with pytest.raises(Connection.DoesNotExist):
        Connection.get(tenant_id, "xero")


def test_state_is_single_use(env):
    _tenant_id, _, dance = env.tenant()
    query = dance.consent(dance.connect_url("qbt"))
    assert dance.callback("qbt", query)[0] == 200
    status, page = dance.callback("qbt", query)
    assert status == 400
    assert "opened twice" in page


def test_forged_state_is_refused(env):
    _, _, dance = env.tenant()
    query = dance.consent(dance.connect_url("qbo"))
    nonce, _, _sig = query["state"].partition(".")
    status, page = dance.callback("qbo", {**query, "state": f"{nonce}.{'0' * 32}"})
    assert status == 400
    assert "not valid" in page


def test_expired_state_is_refused(env, monkeypatch):
    from booksync.store import leases

    _, _, dance = env.tenant()
    query = dance.consent(dance.connect_url("qbo"))
    monkeypatch.setattr(leases, "_now", lambda: int(time.time()) + 601)
    status, page = dance.callback("qbo", query)
    assert status == 400
    assert "expired" in page


def test_a_company_connected_to_another_tenant_is_refused(env):
    company = env.company("qbo", "Shared Books")
    _, _, first = env.tenant("First")
    assert first.connect("qbo", sim_company=company)[0] == 200
    second_id, _, second = env.tenant("Second")
    status, page = second.connect("qbo", sim_company=company)
    assert status == 409
    assert "another booksync firm" in page
    with pytest.raises(Connection.DoesNotExist):
        Connection.get(second_id, "qbo")


def test_reconnecting_the_same_company_resumes_with_its_links(env):
    tenant_id, _, dance = env.tenant()
    company = env.company("qbo", "Resume Co")
    dance.connect("qbo", sim_company=company)
    first = Connection.get(tenant_id, "qbo")
    Link(f"{tenant_id}#qbo", "contact#h1", provider_key="contact#58", provider_id="58").save()
    assert dance.disconnect("qbo")[0] == 200
    assert dance.connect("qbo", sim_company=company)[0] == 200
    again = Connection.get(tenant_id, "qbo")
    assert again.connection_id == first.connection_id
    assert again.status == "active"
    assert Link.get(f"{tenant_id}#qbo", "contact#h1").provider_id == "58"


def test_a_different_company_while_links_exist_needs_a_reset(env):
    tenant_id, _, dance = env.tenant()
    dance.connect("qbo", sim_company=env.company("qbo", "Old Books"))
    Link(f"{tenant_id}#qbo", "contact#h1", provider_key="contact#58", provider_id="58").save()
    other = env.company("qbo", "New Books")
    status, page = dance.connect("qbo", sim_company=other)
    assert status == 409
    assert "reset" in page
    assert Connection.get(tenant_id, "qbo").company_name == "Old Books"
    status, _ = dance.connect("qbo", sim_company=other, reset="true")
    assert status == 200
    assert Connection.get(tenant_id, "qbo").company_name == "New Books"
    assert list(Link.query(f"{tenant_id}#qbo")) == []


def test_disconnect_revokes_at_the_provider_and_keeps_links(env):
    tenant_id, _key, dance = env.tenant()
    dance.connect("xero", sim_company=env.company("xero", "Gone Ltd"))
    Link(f"{tenant_id}#xero", "contact#h1", provider_key="contact#x", provider_id="x").save()
    status, body = dance.disconnect("xero")
    assert status == 200
    assert body["revoked_at_provider"] is True
    assert env.calls("xero", "POST", "/connect/revocation") == 1
    conn = Connection.get(tenant_id, "xero")
    assert conn.status == "disconnected"
    assert conn.tokens is None
    assert Link.get(f"{tenant_id}#xero", "contact#h1")


def test_twenty_concurrent_requests_on_an_expired_token_refresh_once(env):
    tenant_id, _, dance = env.tenant()
    company = env.company("qbo", "Busy Books")
    dance.connect("qbo", sim_company=company)
    requests.delete(f"{env.sim['qbo']}/_sim/calls", timeout=10)
    runtime = env.runtime()
    expire_access_token(runtime, tenant_id, "qbo")
    service = runtime.tokens
    results, errors = [], []

    def worker():
        try:
            results.append(service.access_token(tenant_id, "qbo")[0])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(results) == 20
    assert env.calls("qbo", "POST", "/oauth2/v1/tokens/bearer") == 1
    assert len(set(results)) == 1
    reply = requests.get(
        f"{env.sim['qbo']}/v3/company/{company}/companyinfo/{company}",
        headers={"Authorization": f"Bearer {results[0]}", "Accept": "application/json"},
        timeout=10,
    )
    assert reply.status_code == 200


def test_xero_lost_refresh_reply_recovers_with_the_grace_period(env):
    tenant_id, _, dance = env.tenant()
    dance.connect("xero", sim_company=env.company("xero", "Lossy Ltd"))
    rule = {"action": "drop_after_commit", "method": "POST", "path": "/connect/token", "count": 1}
    requests.post(f"{env.sim['xero']}/_sim/faults", json=rule, timeout=10).raise_for_status()
    service = env.runtime().tokens
    service.clock = lambda: time.time() + 3600
    token, conn = service.access_token(tenant_id, "xero")
    assert conn.status == "active"
    reply = requests.get(
        f"{env.sim['xero']}/connections", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert reply.status_code == 200


def test_revoked_qbo_grant_ends_in_needs_reauth_and_reconnecting_clears_it(env):
    tenant_id, key, dance = env.tenant()
    company = env.company("qbo", "Revoked Inc")
    dance.connect("qbo", sim_company=company)
    requests.post(f"{env.sim['qbo']}/_sim/oauth/revoke", json={"company_id": company}, timeout=10)
    service = env.runtime().tokens
    service.clock = lambda: time.time() + 7200
    with pytest.raises(Exception, match="reauth"):
        service.access_token(tenant_id, "qbo")
    _, listing, _ = call(env.api, "GET", "/v1/connections", key)
    assert listing["items"][0]["status"] == "needs_reauth"
    assert listing["items"][0]["open_errors"] == 1
    _, errors, _ = call(env.api, "GET", "/v1/sync-errors", key)
    (error,) = errors["items"]
    assert error["code"] == "qbo.reauth_required"
    assert "Reconnect QuickBooks Online" in error["what_to_do"]
    assert dance.connect("qbo", sim_company=company)[0] == 200
    _, listing, _ = call(env.api, "GET", "/v1/connections", key)
    assert listing["items"][0]["status"] == "active"
    assert listing["items"][0]["open_errors"] == 0


def test_a_401_with_a_fresh_token_marks_needs_reauth(env):
    tenant_id, _, dance = env.tenant()
    company = env.company("qbo", "Locked Out")
    dance.connect("qbo", sim_company=company)
    runtime = env.runtime()
    service = runtime.tokens
    session = runtime.session(Connection.get(tenant_id, "qbo"))
    attempts = []

    def request(token):
        attempts.append(token)
        return requests.get(
            f"{env.sim['qbo']}/v3/company/{company}/companyinfo/{company}",
            headers={"Authorization": "Bearer not-a-token", "Accept": "application/json"},
            timeout=10,
        )

    with pytest.raises(Exception, match=r"qbo\.reauth_required"):
        service.call(session, request)
    assert len(attempts) == 2
    assert attempts[0] != attempts[1]  # the retry used a refreshed token
    assert Connection.get(tenant_id, "qbo").status == "needs_reauth"


def test_a_contact_changed_while_a_connection_needs_reauth_reaches_it_after_reconnect(
    env, stack_env, outbox
):
    # Given QBT connected, then its grant refused (needs_reauth)
    tenant_id, key, dance = env.tenant()
    company = env.company("qbt", "Parked Co")
    dance.connect("qbt", sim_company=company)
    conn = Connection.get(tenant_id, "qbt")
    conn.update(actions=[Connection.status.set("needs_reauth")])
    sqs = stack_env.client("sqs")
    push_url = stack_env.queue_url("QbtPushQueue")
    pull_url = stack_env.queue_url("QbtPullQueue")
    sqs.purge_queue(QueueUrl=pull_url)
    # When the firm creates a client meanwhile (and the outbox runs: nobody active wants it)
    status, created, _ = call(env.api, "POST", "/v1/contacts", key, {"name": "Made While Away"})
    assert status == 201
    outbox.flush()
    assert "Messages" not in sqs.receive_message(QueueUrl=push_url, MaxNumberOfMessages=10)
    # Then reconnecting queues its push (and a pull for what changed in QBT meanwhile)
    assert dance.connect("qbt", sim_company=company)[0] == 200
    pushed = [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=push_url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert [(p["kind"], p["record_id"]) for p in pushed] == [("contact", created["id"])]
    pulls = sqs.receive_message(QueueUrl=pull_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["reason"] for m in pulls] == ["manual"]


def test_settings_are_validated_and_unknown_fields_named(env):
    _, key, dance = env.tenant()
    dance.connect("qbt")
    status, settings, _ = call(env.api, "GET", "/v1/connections/qbt/settings", key)
    assert status == 200
    assert settings["sync"] == "contacts"
    status, problem, _ = call(
        env.api, "PUT", "/v1/connections/qbt/settings", key, {"colour": "red"}
    )
    assert status == 400
    assert problem["field"] == "colour"
    status, _saved, _ = call(
        env.api, "PUT", "/v1/connections/qbt/settings", key, {"sync": "contacts_and_work_items"}
    )
    assert status == 200
    assert (
        call(env.api, "GET", "/v1/connections/qbt/settings", key)[1]["sync"]
        == "contacts_and_work_items"
    )


def test_one_tenant_sees_none_of_anothers_connections_settings_or_errors(env):
    _a_id, a_key, _a = env.tenant("A")
    b_id, b_key, b = env.tenant("B")
    company = env.company("qbo", "B Books")
    b.connect("qbo", sim_company=company)
    requests.post(f"{env.sim['qbo']}/_sim/oauth/revoke", json={"company_id": company}, timeout=10)
    service = env.runtime().tokens
    service.clock = lambda: time.time() + 7200
    with pytest.raises(Exception, match="reauth"):
        service.access_token(b_id, "qbo")
    _, listing, _ = call(env.api, "GET", "/v1/connections", a_key)
    assert all(c["status"] == "not_connected" for c in listing["items"])
    assert call(env.api, "GET", "/v1/connections/qbo/settings", a_key)[0] == 404
    assert call(env.api, "GET", "/v1/sync-errors", a_key)[1]["items"] == []
    assert len(call(env.api, "GET", "/v1/sync-errors", b_key)[1]["items"]) == 1
