"""The practice API through its real handler: authentication, validation, tenancy."""

import json

import pytest

from booksync.store.tenants import create_api_key, create_tenant
from tests.conftest import lambda_context, load_event


def call(handler, method, path, key=None, body=None, query=""):
    event = load_event("api/health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = query
    if query:
        event["queryStringParameters"] = dict(kv.split("=", 1) for kv in query.split("&"))
    if key:
        event["headers"]["authorization"] = f"Bearer {key}"
    if body is not None:
        event["body"] = json.dumps(body)
    answer = handler(event, lambda_context("api"))
    return answer["statusCode"], json.loads(answer["body"]), answer.get("headers", {})


@pytest.fixture
def api(handler):
    return handler("api")


def test_created_contact_reads_back_with_its_version(api, api_key):
    status, created, headers = call(api, "POST", "/v1/contacts", api_key, {"name": " Acme Ltd "})
    assert status == 201
    assert headers["Location"] == f"/v1/contacts/{created['id']}"
    status, read, headers = call(api, "GET", f"/v1/contacts/{created['id']}", api_key)
    assert status == 200
    assert read["name"] == "Acme Ltd"
    assert read["version"] == 1
    assert read["origin"] == "practice"
    assert headers["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("auth", "detail"),
    [(None, "send Authorization"), ("bks_nope", "unknown API key")],
)
def test_missing_or_unknown_key_is_401_problem(api, auth, detail):
    status, problem, headers = call(api, "GET", "/v1/contacts", auth)
    assert status == 401
    assert problem["title"] == "Unauthorized"
    assert detail in problem["detail"]
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_revoked_key_is_refused(api, stack_env):
    from booksync.store.tenants import revoke_api_key

    tenant = create_tenant("Firm")
    new = create_api_key(tenant.tenant_id)
    revoke_api_key(tenant.tenant_id, new.key_id)
    status, problem, _ = call(api, "GET", "/v1/contacts", new.key)
    assert status == 401
    assert "revoked" in problem["detail"]


def test_invalid_body_names_the_field(api, api_key):
    status, problem, _ = call(api, "POST", "/v1/contacts", api_key, {"name": ""})
    assert status == 400
    assert problem["field"] == "name"
    status, problem, _ = call(api, "POST", "/v1/contacts", api_key, {"name": "A", "colour": "red"})
    assert status == 400
    assert problem["field"] == "colour"


def test_one_tenant_cannot_read_anothers_contact(api, api_key):
    _, created, _ = call(api, "POST", "/v1/contacts", api_key, {"name": "Acme"})
    other = create_api_key(create_tenant("Other Firm").tenant_id).key
    status, _problem, _ = call(api, "GET", f"/v1/contacts/{created['id']}", other)
    assert status == 404
    _, page, _ = call(api, "GET", "/v1/contacts", other)
    assert page["items"] == []


def test_list_pages_with_a_cursor_until_done(api, api_key):
    for i in range(5):
        call(api, "POST", "/v1/contacts", api_key, {"name": f"Client {i}"})
    seen, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page, _ = call(api, "GET", "/v1/contacts", api_key, query=query)
        assert status == 200
        assert len(page["items"]) <= 2
        seen += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"Client {i}" for i in range(5)]


def test_a_cursor_we_did_not_issue_is_a_400_naming_cursor(api, api_key):
    status, problem, _ = call(api, "GET", "/v1/contacts", api_key, query="cursor=bm90LWpzb24")
    assert status == 400
    assert problem["field"] == "cursor"


def test_unknown_route_is_a_404_problem(api, api_key):
    status, problem, _ = call(api, "GET", "/v1/nothing-here", api_key)
    assert status == 404
    assert problem["type"].endswith("/not-found")
