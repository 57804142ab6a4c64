"""The audit trail: every operator and admin action is one row (who, what, when, which firm),
read newest first through GET /v1/audit and `booksync audit`; a firm never sees another's."""

from __future__ import annotations

import json

import pytest

from booksync.ops.cli import main as cli
from booksync.store import Link
from booksync.store.tenants import create_api_key, create_tenant
from tests.conftest import load_handler
from tests.integration.oauth_dance import Dance
from tests.integration.test_import_api import links_of, small_firm  # noqa: F401 - fixture


def _cli_json(capsys, *argv):
    capsys.readouterr()
    assert cli(list(argv)) == 0
    out = capsys.readouterr().out
    starts = [i for i in (out.find("{\n"), out.find("[\n")) if i >= 0]
    return json.loads(out[min(starts) :])


def _trail(firm, **query):
    rows, cursor = [], None
    while True:
        q = "&".join(
            f"{k}={v}" for k, v in {**query, **({"cursor": cursor} if cursor else {})}.items()
        )
        status, page = firm.api("GET", "/v1/audit", query=q)
        assert status == 200, page
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows


def test_each_admin_action_is_one_row_of_the_firms_trail_newest_first(small_firm, capsys):  # noqa: F811
    firm = small_firm
    _, keys = firm.api("GET", "/v1/api-keys")
    (own_key,) = [k["key_id"] for k in keys["items"]]
    # Given a firm's admin resolves a duplicate, removes a link, makes and revokes a key
    # and retries every sync error through the API
    assert firm.api("POST", "/v1/duplicates/qbo:102/resolve", {"action": "import_as_new"})[0] == 200
    hub_key = links_of(firm.tenant_id)["0"]
    kind, hub_id = hub_key.split("#", 1)
    assert firm.api("DELETE", f"/v1/links/qbo/{kind}/{hub_id}")[0] == 204
    status, made = firm.api("POST", "/v1/api-keys", {"scope": "read", "name": "reports"})
    assert status == 201, made
    assert firm.api("DELETE", f"/v1/api-keys/{made['key_id']}")[0] == 200
    assert firm.api("POST", "/v1/sync-errors/retry-all")[0] == 200
    # and an operator makes and revokes a key with the CLI
    cli_key = _cli_json(capsys, "api-keys", "create", firm.tenant_id, "--scope", "write")
    _cli_json(capsys, "api-keys", "revoke", firm.tenant_id, cli_key["key_id"])

    # Then the firm's trail names each, newest first, with who did it
    expected = [
        ("operator-cli", "api_key.revoke"),
        ("operator-cli", "api_key.create"),
        (own_key, "sync_errors.retry_all"),
        (own_key, "api_key.revoke"),
        (own_key, "api_key.create"),
        (own_key, "link.remove"),
        (own_key, "duplicate.resolve"),
    ]
    rows = _trail(firm, limit=2)  # in pages of two, by cursor
    assert [(r["who"], r["action"]) for r in rows] == expected
    assert rows[-1]["details"]["duplicate_id"] == "qbo:102"
    assert rows[-2]["details"] == {"provider": "qbo", "kind": kind, "hub_id": hub_id}
    assert rows[3]["details"] == {"key_id": made["key_id"]}
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)
    # and the operator's CLI shows the same rows
    listed = _cli_json(capsys, "audit", firm.tenant_id)
    assert [(r["who"], r["action"]) for r in listed] == expected


def test_a_firm_never_sees_another_firms_trail_and_read_keys_see_none(small_firm, capsys):  # noqa: F811
    # Given another firm whose operator made a key, and the first firm's own action
    other = create_tenant("Elsewhere")
    _cli_json(capsys, "api-keys", "create", other.tenant_id)
    assert small_firm.api("POST", "/v1/sync-errors/retry-all")[0] == 200
    # Then each firm's trail holds only its own rows
    assert [r["action"] for r in _trail(small_firm)] == ["sync_errors.retry_all"]
    assert {r["tenant_id"] for r in _cli_json(capsys, "audit", other.tenant_id)} == {
        other.tenant_id
    }
    # and a read key may not read the trail
    read_key = create_api_key(small_firm.tenant_id, "read").key
    status, problem = small_firm.api("GET", "/v1/audit", api_key=read_key)
    assert status == 403, problem


def test_deleting_a_tenant_is_kept_in_its_trail(stack_env, capsys):
    tenant = create_tenant("Closing Down")
    _cli_json(capsys, "tenants", "delete", tenant.tenant_id)
    (row,) = _cli_json(capsys, "audit", tenant.tenant_id)
    assert (row["who"], row["action"], row["details"]) == (
        "operator-cli",
        "tenant.delete",
        {"keys_revoked": 0},
    )


@pytest.fixture
def sim_env(sim_stack_env, sims, monkeypatch):
    return load_handler("oauth", monkeypatch).lambda_handler, sims["qbo"].url


def test_a_reset_and_a_disconnect_name_the_key_that_asked(sim_env, capsys):
    import requests

    oauth, qbo = sim_env
    tenant = create_tenant("Switching Books")
    made = create_api_key(tenant.tenant_id)
    dance = Dance(oauth, made.key)

    def company(name):
        reply = requests.post(
            f"{qbo}/_sim/companies", json={"name": name, "seed": "empty"}, timeout=10
        )
        reply.raise_for_status()
        return str(reply.json()["id"])

    # Given a firm connected to one QBO company, with a link
    assert dance.connect("qbo", sim_company=company("Old Books"))[0] == 200
    Link(
        f"{tenant.tenant_id}#qbo", "contact#h1", provider_key="contact#58", provider_id="58"
    ).save()
    # When its admin connects another company with a reset, then disconnects
    assert dance.connect("qbo", sim_company=company("New Books"), reset="true")[0] == 200
    assert dance.disconnect("qbo")[0] == 200
    # Then both are in the trail, with the key that asked
    rows = _cli_json(capsys, "audit", tenant.tenant_id)
    assert [(r["who"], r["action"], r["details"]) for r in rows] == [
        (made.key_id, "connection.disconnect", {"provider": "qbo"}),
        (made.key_id, "connection.reset", {"provider": "qbo"}),
    ]
