"""Connecting books, read as an attacker: an edited realmId, a sign-in link forwarded to
another firm's browser, two firms racing for one company, a forged X-Forwarded-Proto,
PKCE, token sealing and refresh races. Real oauth handler, simulators' OAuth servers."""

# ruff: noqa: F811 - the connections tests' fixtures, taken by their names

from __future__ import annotations

import threading
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from booksync.connections import tokens as token_module
from booksync.store import Connection
from booksync.store import connections as connection_rows
from booksync.store.models import CompanyClaim
from tests.conftest import lambda_context
from tests.integration.oauth_dance import Dance, oauth_event
from tests.integration.test_connections import env, stack_env  # noqa: F401 - fixtures


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# ---------------------------------------------------------------- realm


def test_an_edited_realm_id_is_refused_and_the_owner_keeps_its_books(env):
    victim_company = env.company("qbo", "Victim Books")
    victim_id, _, victim = env.tenant("Victim")
    assert victim.connect("qbo", sim_company=victim_company)[0] == 200
    mallory_id, _, mallory = env.tenant("Mallory")
    own = env.company("qbo", "Mallory Books")
    query = mallory.consent(mallory.connect_url("qbo"), sim_company=own)
    query["realmId"] = str(victim_company)  # edits the callback URL
    status, page = mallory.callback("qbo", query)
    assert status == 403
    assert "does not cover" in page
    with pytest.raises(Connection.DoesNotExist):
        Connection.get(mallory_id, "qbo")
    assert Connection.get(victim_id, "qbo").status == "active"


def test_an_edited_realm_id_for_a_company_nobody_holds_is_refused_too(env):
    _, _, dance = env.tenant()
    query = dance.consent(dance.connect_url("qbo"), sim_company=env.company("qbo", "Mine"))
    query["realmId"] = str(env.company("qbo", "Not Mine"))
    assert dance.callback("qbo", query)[0] == 403


# ---------------------------------------------------------------- browser binding


def test_a_sign_in_forwarded_to_another_browser_connects_nothing(env):
    sender_id, key, sender = env.tenant("Sender")
    url = sender.connect_url("xero")  # the sender opened the hand-off in their browser
    receiver = Dance(env.oauth, key)  # someone at another firm, their own browser
    query = receiver.consent(url, sim_company=env.company("xero", "Receiver Ltd"))
    status, page = receiver.callback("xero", query)
    assert status == 403
    assert "another browser" in page
    with pytest.raises(Connection.DoesNotExist):
        Connection.get(sender_id, "xero")


def test_a_callback_without_the_cookie_is_refused(env):
    _, _, dance = env.tenant()
    query = dance.consent(dance.connect_url("qbt"))
    dance.cookies.clear()
    assert dance.callback("qbt", query)[0] == 403


def test_the_hand_off_page_names_the_firm_and_works_once(env):
    _, key, dance = env.tenant("Harbour & Co")
    url = dance.handoff_url("qbo")
    status, page = dance.open_handoff(url)
    assert status == 200
    assert "Connect QuickBooks Online to" in page
    assert "Harbour &amp; Co" in page
    assert "booksync_oauth" in dance.cookies
    again = Dance(env.oauth, key)
    status, page = again.open_handoff(url)
    assert status == 400
    assert "expired" in page


def test_the_binding_cookie_is_httponly_lax_and_secure_on_https(env):
    _, key, _ = env.tenant()
    dance = Dance(env.oauth, key)
    url = dance.handoff_url("qbo")
    parts = urlsplit(url)
    event = oauth_event("GET", parts.path, dict(parse_qsl(parts.query)))
    event["requestContext"]["domainName"] = "abc123.execute-api.us-east-1.amazonaws.com"
    answer = env.oauth(event, lambda_context())
    (cookie,) = answer["cookies"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie


# ---------------------------------------------------------------- one company per firm


def test_two_firms_connecting_one_company_at_once_cannot_both_win(env, monkeypatch):
    company = env.company("qbo", "Contested Books")
    firms = [env.tenant(f"Firm {n}") for n in range(2)]
    queries = [
        dance.consent(dance.connect_url("qbo"), sim_company=company) for _, _, dance in firms
    ]
    # both read the company index before either wrote: it says nobody holds the company
    monkeypatch.setattr(connection_rows, "with_company", lambda key: [])
    results = [None, None]

    def run(n):
        results[n] = firms[n][2].callback("qbo", queries[n])[0]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    winners = [tid for tid, _, _ in firms if connection_rows.get(tid, "qbo") is not None]
    assert len(winners) == 1
    claim = CompanyClaim.get(f"company#qbo#{company}")
    assert claim.owner_tenant_id == winners[0]


def test_disconnecting_gives_the_company_back(env):
    company = env.company("xero", "Moving Ltd")
    _, _, first = env.tenant("First")
    assert first.connect("xero", sim_company=company)[0] == 200
    assert first.disconnect("xero")[0] == 200
    second_id, _, second = env.tenant("Second")
    assert second.connect("xero", sim_company=company)[0] == 200
    assert CompanyClaim.get(f"company#xero#{company}").owner_tenant_id == second_id


# ---------------------------------------------------------------- redirect URI and PKCE


def test_the_redirect_uri_ignores_a_client_set_forwarded_proto(env):
    from booksync.api.oauth import callback_uri

    event = {
        "headers": {"x-forwarded-proto": "http", "x-forwarded-host": "evil.example"},
        "requestContext": {"domainName": "abc123.execute-api.us-east-1.amazonaws.com"},
    }
    assert callback_uri(event, "qbo") == (
        "https://abc123.execute-api.us-east-1.amazonaws.com/oauth/qbo/callback"
    )
    assert callback_uri(event, "qbo", "https://books.example.com/") == (
        "https://books.example.com/oauth/qbo/callback"
    )


@pytest.mark.parametrize(("provider", "pkce"), [("qbo", True), ("xero", True), ("qbt", False)])
def test_pkce_for_every_provider_that_takes_it(env, provider, pkce):
    _, _, dance = env.tenant()
    query = _query(dance.connect_url(provider))
    assert ("code_challenge" in query) is pkce
    if pkce:
        assert query["code_challenge_method"] == "S256"
    status, _ = dance.callback(provider, dance.consent(dance.connect_url(provider)))
    assert status == 200  # the verifier goes with the code exchange


def test_a_write_key_cannot_reset_links_or_disconnect(env):
    from booksync.store.tenants import create_api_key, create_tenant

    tenant = create_tenant("Members")
    member = Dance(env.oauth, create_api_key(tenant.tenant_id, "write").key)
    answer = env.oauth(
        oauth_event("GET", "/oauth/qbo/connect", {"reset": "true"}, member.key), lambda_context()
    )
    assert answer["statusCode"] == 403
    assert member.disconnect("qbo")[0] == 403
    reader = Dance(env.oauth, create_api_key(tenant.tenant_id, "read").key)
    answer = env.oauth(oauth_event("GET", "/oauth/qbo/connect", None, reader.key), lambda_context())
    assert answer["statusCode"] == 403


# ---------------------------------------------------------------- tokens


def test_sealed_tokens_open_only_for_their_own_connection(env):
    tenant_id, _, dance = env.tenant()
    dance.connect("qbt")
    conn = Connection.get(tenant_id, "qbt")
    vault = env.runtime().vault
    assert vault.open_connection(conn).access_token
    with pytest.raises(Exception, match="InvalidCiphertext"):
        vault.open(tenant_id, "qbt", conn.tokens, connection_id="another-connection")


def test_tokens_sealed_before_the_connection_id_was_in_the_context_still_open(env):
    import base64
    import json

    tenant_id, _, dance = env.tenant()
    dance.connect("qbt")
    conn = Connection.get(tenant_id, "qbt")
    runtime = env.runtime()
    plain = runtime.vault.open_connection(conn)
    legacy = runtime.clients.kms.encrypt(
        KeyId=runtime.settings.token_key_id,
        Plaintext=json.dumps(plain.to_json()).encode(),
        EncryptionContext={"tenant_id": tenant_id, "provider": "qbt"},
    )["CiphertextBlob"]
    conn.update(actions=[Connection.tokens.set(base64.b64encode(legacy).decode())])
    again = Connection.get(tenant_id, "qbt")
    assert runtime.vault.open_connection(again).access_token == plain.access_token


def test_the_refresh_lease_outlasts_a_refresh_and_its_retry():
    from booksync.providers.oauth import TIMEOUT

    connect, read = TIMEOUT
    worst = 2 * (connect + read) + 2 * 2  # two tries, each up to its timeouts, plus slack
    assert worst < token_module.LEASE_SECONDS
    assert token_module.LEASE_SECONDS > token_module.WAIT_SECONDS


def test_needs_reauth_does_not_flip_a_connection_refreshed_meanwhile(env):
    tenant_id, _, dance = env.tenant()
    dance.connect("qbo", sim_company=env.company("qbo", "Race Books"))
    judged = Connection.get(tenant_id, "qbo")  # a worker judged this grant dead...
    runtime = env.runtime()
    other = Connection.get(tenant_id, "qbo")  # ...while another caller refreshed it
    runtime.tokens.refresh_now(other, runtime.vault.open_connection(other))
    token_module.mark_needs_reauth(judged, "invalid_grant")
    assert Connection.get(tenant_id, "qbo").status == "active"


def test_the_scheduler_keepalive_and_a_worker_never_refresh_with_one_token(env):
    tenant_id, _, dance = env.tenant()
    dance.connect("xero", sim_company=env.company("xero", "Keepalive Ltd"))
    requests.delete(f"{env.sim['xero']}/_sim/calls", timeout=10)
    runtime = env.runtime()
    conn = Connection.get(tenant_id, "xero")
    lease = f"refresh#{conn.connection_id}"
    from booksync.store import leases

    assert leases.acquire(lease, "worker", token_module.LEASE_SECONDS)
    # the worker holds the lease: the keepalive does not refresh alongside it
    assert runtime.tokens.keepalive(conn) is False
    assert env.calls("xero", "POST", "/connect/token") == 0
