"""Security of the practice API through its real handler: key scopes, expiry, revocation,
deleted tenants, malformed bodies, over-long ids, bounded pages, per-key rate limits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from booksync.store import ApiKey, utcnow
from booksync.store.sync_errors import upsert_error
from booksync.store.tenants import create_api_key, create_tenant, delete_tenant
from tests.integration.test_api import call


@pytest.fixture
def api(handler):
    return handler("api")


@pytest.fixture
def firm(stack_env):
    """A tenant with one key of each scope."""
    tenant = create_tenant("Harbour & Co")
    keys = {s: create_api_key(tenant.tenant_id, s).key for s in ("read", "write", "admin")}
    return tenant.tenant_id, keys


def _fail(tenant_id, n, provider="qbo"):
    from booksync.errors import SyncFailure

    upsert_error(
        tenant_id=tenant_id,
        provider=provider,
        connection_id="c1",
        kind="contact",
        record_id=f"r{n:04d}",
        failure=SyncFailure("qbo.duplicate_name", "Duplicate Name Exists Error"),
        message={"type": "push", "tenant_id": tenant_id},
    )


# ---------------------------------------------------------------- scopes


def test_a_read_key_reads_but_never_writes(api, firm):
    _, keys = firm
    assert call(api, "GET", "/v1/contacts", keys["read"])[0] == 200
    status, problem, _ = call(api, "POST", "/v1/contacts", keys["read"], {"name": "Acme"})
    assert status == 403
    assert "read-only" in problem["detail"]
    assert call(api, "POST", "/v1/contacts", keys["write"], {"name": "Acme"})[0] == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/sync-errors/retry-all"),
        ("DELETE", "/v1/links/qbo/contact/some-id"),
        ("GET", "/v1/api-keys"),
        ("POST", "/v1/api-keys"),
        ("DELETE", "/v1/api-keys/0123abcd"),
    ],
)
def test_admin_routes_refuse_a_write_key_with_the_reason(api, firm, method, path):
    _, keys = firm
    body = {"scope": "read"} if method == "POST" and "api-keys" in path else None
    status, problem, _ = call(api, method, path, keys["write"], body)
    assert status == 403
    assert problem["title"] == "Forbidden"
    assert "admin scope" in problem["detail"]
    assert call(api, method, path, keys["admin"], body)[0] != 403


def test_a_key_made_before_scopes_existed_is_admin(api, firm):
    tenant_id, _ = firm
    old = create_api_key(tenant_id)
    row = next(r for r in ApiKey.by_tenant.query(tenant_id) if r.key_id == old.key_id)
    row.update(actions=[ApiKey.scope.remove()])  # as stored before this change
    assert call(api, "GET", "/v1/api-keys", old.key)[0] == 200


def test_the_require_guard_names_the_scope_needed_and_the_keys():
    from booksync.api.auth import Forbidden, require
    from booksync.store.tenants import Caller

    class Holder:
        context = {"caller": Caller("t1", "abcd1234", "write")}

    assert require(Holder, "write").tenant_id == "t1"
    with pytest.raises(Forbidden) as refused:
        require(Holder, "admin")
    assert "admin scope" in refused.value.detail
    assert "has write" in refused.value.detail


# ---------------------------------------------------------------- key lifecycle


def test_admins_list_create_and_revoke_keys_through_the_api(api, firm):
    _, keys = firm
    status, made, _ = call(
        api, "POST", "/v1/api-keys", keys["admin"], {"scope": "read", "name": "reports"}
    )
    assert status == 201
    assert made["scope"] == "read"
    assert call(api, "GET", "/v1/contacts", made["key"])[0] == 200
    _, listing, _ = call(api, "GET", "/v1/api-keys", keys["admin"], query="limit=2")
    assert len(listing["items"]) == 2
    assert listing["next_cursor"]
    assert "key" not in listing["items"][0]
    _, rest, _ = call(
        api, "GET", "/v1/api-keys", keys["admin"], query=f"limit=50&cursor={listing['next_cursor']}"
    )
    ids = {k["key_id"] for k in listing["items"] + rest["items"]}
    assert made["key_id"] in ids
    status, revoked, _ = call(api, "DELETE", f"/v1/api-keys/{made['key_id']}", keys["admin"])
    assert status == 200
    assert revoked["revoked_at"]
    status, problem, _ = call(api, "GET", "/v1/contacts", made["key"])
    assert status == 401
    assert "revoked" in problem["detail"]


def test_another_firms_key_cannot_be_revoked(api, firm, stack_env):
    _, keys = firm
    other = create_tenant("Other")
    theirs = create_api_key(other.tenant_id, "admin")
    status, _, _ = call(api, "DELETE", f"/v1/api-keys/{theirs.key_id}", keys["admin"])
    assert status == 404
    assert call(api, "GET", "/v1/contacts", theirs.key)[0] == 200


def test_an_expired_key_is_refused(api, firm):
    tenant_id, _ = firm
    key = create_api_key(tenant_id, "read", expires_at=utcnow() + timedelta(hours=1))
    assert call(api, "GET", "/v1/contacts", key.key)[0] == 200
    row = next(r for r in ApiKey.by_tenant.query(tenant_id) if r.key_id == key.key_id)
    row.update(actions=[ApiKey.expires_at.set(utcnow() - timedelta(seconds=1))])
    status, problem, _ = call(api, "GET", "/v1/contacts", key.key)
    assert status == 401
    assert "expired" in problem["detail"]


def test_last_use_is_recorded(api, firm):
    _, keys = firm
    call(api, "GET", "/v1/contacts", keys["read"])
    _, listing, _ = call(api, "GET", "/v1/api-keys", keys["admin"])
    used = {k["scope"]: k["last_used_at"] for k in listing["items"]}
    assert used["read"] is not None


def test_a_deleted_tenants_keys_stop_working(api, firm):
    tenant_id, keys = firm
    assert delete_tenant(tenant_id) == 3
    for key in keys.values():
        assert call(api, "GET", "/v1/contacts", key)[0] == 401


def test_a_key_of_a_tenant_row_removed_by_hand_stops_working(api, firm):
    from booksync.store import Tenant

    tenant_id, keys = firm
    Tenant(tenant_id).delete()  # an operator removed the row directly
    status, problem, _ = call(api, "GET", "/v1/contacts", keys["admin"])
    assert status == 401
    assert "no longer exists" in problem["detail"]


# ---------------------------------------------------------------- bodies, ids, pages


def test_malformed_settings_json_is_a_400_naming_the_body(api, firm):
    _, keys = firm
    from tests.conftest import load_event

    event = load_event("api/health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/connections/qbo/settings"
    event["requestContext"]["http"]["method"] = "PUT"
    event["headers"]["authorization"] = f"Bearer {keys['write']}"
    event["headers"]["content-type"] = "application/json"
    event["body"] = '{"sync": '
    from tests.conftest import lambda_context

    answer = api(event, lambda_context("api"))
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["field"] == "body"


def test_a_settings_body_that_is_not_an_object_is_a_400(api, firm):
    _, keys = firm
    status, problem, _ = call(api, "PUT", "/v1/connections/qbo/settings", keys["write"], [1, 2])
    assert status == 400
    assert problem["field"] == "body"


@pytest.mark.parametrize(
    "path",
    [
        "/v1/contacts/{id}",
        "/v1/contacts/{id}/history",
        "/v1/sync-errors/{id}",
        "/v1/duplicates/qbo:{id}",
    ],
)
def test_an_over_long_id_is_a_400_not_a_dynamodb_error(api, firm, path):
    _, keys = firm
    status, problem, _ = call(api, "GET", path.format(id="x" * 1500), keys["read"])
    assert status == 400
    assert problem["field"] == "path"


def test_sync_errors_page_with_a_cursor(api, firm):
    tenant_id, keys = firm
    for n in range(7):
        _fail(tenant_id, n)
    seen, cursor = [], None
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, page, _ = call(api, "GET", "/v1/sync-errors", keys["read"], query=query)
        assert status == 200
        assert len(page["items"]) <= 3
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7


def test_a_sync_error_page_reads_a_bounded_number_of_rows(api, firm, monkeypatch):
    from booksync.store import sync_errors

    tenant_id, keys = firm
    for n in range(6):
        _fail(tenant_id, n)
    monkeypatch.setattr(sync_errors, "PAGE_READ_BUDGET", 4)
    _, page, _ = call(api, "GET", "/v1/sync-errors", keys["read"], query="code=qbo.nothing")
    assert page["items"] == []
    assert page["next_cursor"]  # stopped after 4 rows, with where to go on


def test_a_forged_cursor_is_a_400(api, firm):
    _, keys = firm
    status, problem, _ = call(api, "GET", "/v1/sync-errors", keys["read"], query="cursor=%%%")
    assert status == 400
    assert problem["field"] == "cursor"


def test_duplicates_page_with_a_cursor(api, firm):
    from booksync.store import Record

    tenant_id, keys = firm
    for n in range(5):
        Record(
            tenant_id,
            f"duplicate#qbo#p{n}",
            kind="duplicate",
            record_id=f"qbo#p{n}",
            data={
                "provider": "qbo",
                "provider_id": f"p{n}",
                "name": f"Acme {n}",
                "status": "open",
                "candidates": [],
            },
        ).save()
    status, page, _ = call(api, "GET", "/v1/duplicates", keys["read"], query="limit=2")
    assert status == 200, page
    assert len(page["items"]) == 2
    assert page["next_cursor"]


# ---------------------------------------------------------------- rate limits


def test_a_key_over_its_burst_gets_429_and_others_do_not(api, firm, monkeypatch):
    _, keys = firm
    monkeypatch.setenv("API_KEY_BURST", "3")
    monkeypatch.setenv("API_KEY_RATE_PER_SECOND", "1")
    from booksync.settings import get_settings

    get_settings.cache_clear()
    statuses = [call(api, "GET", "/v1/contacts", keys["read"])[0] for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    status, _, headers = call(api, "GET", "/v1/contacts", keys["read"])
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert call(api, "GET", "/v1/contacts", keys["write"])[0] == 200  # its own bucket
    get_settings.cache_clear()


def test_operators_create_list_and_revoke_scoped_keys_and_delete_tenants(api, stack_env, capsys):
    from booksync.ops.cli import main

    tenant = create_tenant("Cli Firm")
    assert (
        main(["api-keys", "create", tenant.tenant_id, "--scope", "read", "--expires-in-days", "30"])
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made["scope"] == "read"
    assert made["expires_at"]
    assert main(["api-keys", "list", tenant.tenant_id]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["key_id"] for k in listed] == [made["key_id"]]
    assert "key" not in listed[0]
    assert call(api, "POST", "/v1/contacts", made["key"], {"name": "Acme"})[0] == 403
    assert main(["tenants", "delete", tenant.tenant_id]) == 0
    assert json.loads(capsys.readouterr().out)["keys_revoked"] == 1
    assert call(api, "GET", "/v1/contacts", made["key"])[0] == 401
