"""The hub records API (/v1/contacts, /v1/work-items, /v1/users, /v1/contact-types)
through the real api handler against moto: CRUD, ETag/If-Match, validation naming the
field, filters and cursor pages, contact type rules, soft delete, history, fan-out.

One moto stack and one cold-started handler serve the whole module; every test works in
a tenant of its own (the `api_key` fixture makes one), which walls the tests off from
each other as it walls firms off in the cloud."""

import json
import uuid
from datetime import UTC, datetime

import pytest

from booksync.errors import InvalidInput
from booksync.hub import records
from booksync.store.models import Connection
from booksync.store.tenants import create_api_key, create_tenant, tenant_for_key
from tests.conftest import _stack_env, lambda_context, load_event, load_handler

ACME = {
    "kind": "organisation",
    "name": "Acme Ltd",
    "contact_type": "Client",
    "emails": [{"address": "accounts@acme.example", "label": "billing"}],
    "phones": [{"number": "+44 20 7946 0000"}],
    "physical_address": {"line1": "1 High St", "city": "Leeds", "postal_code": "LS1 1AA"},
    "mailing_address": {"line1": "PO Box 9", "city": "Leeds"},
}
ADA = {"first_name": "Ada", "last_name": "Byron", "email": "ada@firm.example"}


def call(api, method, path, key, body=None, query="", headers=None):
    event = load_event("api/health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = query
    if query:
        event["queryStringParameters"] = dict(kv.split("=", 1) for kv in query.split("&"))
    event["headers"]["authorization"] = f"Bearer {key}"
    event["headers"].update(headers or {})
    if body is not None:
        event["body"] = json.dumps(body)
    answer = api(event, lambda_context("api"))
    text = answer.get("body") or "null"
    return answer["statusCode"], json.loads(text), answer.get("headers", {})


def if_match(version):
    return {"if-match": f'"{version}"'}


@pytest.fixture(scope="module")
def stack_env():
    patch = pytest.MonkeyPatch()
    try:
        yield from _stack_env(patch, {})
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def api(stack_env):
    patch = pytest.MonkeyPatch()
    try:
        yield load_handler("api", patch).lambda_handler
    finally:
        patch.undo()


@pytest.fixture
def tenant_id(api_key):
    return tenant_for_key(f"Bearer {api_key}")


def make(api, key, path, body):
    status, created, _ = call(api, "POST", path, key, body)
    assert status == 201, created
    return created


@pytest.fixture
def outbox(stack_env):
    from tests.conftest import Outbox

    return Outbox(stack_env)


def pushes(stack_env, outbox):
    """What the Records stream's fan-out queues for the writes made so far: every push
    message on the three push queues, taken off them."""
    outbox.flush()
    sqs = stack_env.client("sqs")
    found = []
    for logical in ("QboPushQueue", "QbtPushQueue", "XeroPushQueue"):
        url = stack_env.queue_url(logical)
        while True:
            reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = reply.get("Messages", [])
            if not messages:
                break
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(found, key=lambda m: (m["provider"], m["version"]))


def connect(tenant_id, provider, settings, status="active"):
    Connection(
        tenant_id,
        provider,
        connection_id=f"conn-{provider}-{uuid.uuid4().hex[:8]}",
        status=status,
        settings=settings,
    ).save()
    return Connection.get(tenant_id, provider).connection_id


# ------------------------------------------------------------------------------ CRUD


def test_contact_with_every_field_reads_back_as_sent_with_its_etag(api, api_key):
    # When a contact is created with emails, phones and both addresses
    status, created, headers = call(api, "POST", "/v1/contacts", api_key, ACME)
    # Then it is 201 at version 1, and reads back the same
    assert status == 201
    assert headers["Location"] == f"/v1/contacts/{created['id']}"
    assert headers["ETag"] == '"1"'
    status, read, headers = call(api, "GET", f"/v1/contacts/{created['id']}", api_key)
    assert status == 200
    assert headers["ETag"] == '"1"'
    assert {k: read[k] for k in ACME} == {
        **ACME,
        "emails": [{"address": "accounts@acme.example", "label": "billing"}],
        "phones": [{"number": "+44 20 7946 0000", "label": "primary"}],
        "physical_address": {**ACME["physical_address"], "line2": "", "region": "", "country": ""},
        "mailing_address": {
            **ACME["mailing_address"],
            "line2": "",
            "region": "",
            "postal_code": "",
            "country": "",
        },
    }
    assert (read["active"], read["parent_id"], read["origin"]) == (True, None, "practice")


def test_put_replaces_the_whole_contact_and_patch_changes_only_what_it_names(api, api_key):
    created = make(api, api_key, "/v1/contacts", ACME)
    path = f"/v1/contacts/{created['id']}"
    # When the contact is replaced by one with a name only
    status, replaced, headers = call(
        api, "PUT", path, api_key, {"name": "Acme Group"}, headers=if_match(1)
    )
    # Then everything not sent is back to its default, at version 2
    assert (status, headers["ETag"]) == (200, '"2"')
    assert (replaced["name"], replaced["emails"], replaced["physical_address"]) == (
        "Acme Group",
        [],
        None,
    )
    # When a PATCH names only the phones
    status, patched, headers = call(
        api, "PATCH", path, api_key, {"phones": [{"number": "0113 496 0000"}]}, headers=if_match(2)
    )
    # Then the name stays and the phones change
    assert (status, headers["ETag"]) == (200, '"3"')
    assert patched["name"] == "Acme Group"
    assert patched["phones"] == [{"number": "0113 496 0000", "label": "primary"}]


def test_a_work_item_is_created_changed_and_deleted_under_its_contact(api, api_key):
    contact = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    job = {"contact_id": contact["id"], "name": "2026 accounts", "work_type": "Year end"}
    created = make(api, api_key, "/v1/work-items", job)
    path = f"/v1/work-items/{created['id']}"
    status, changed, _ = call(
        api, "PATCH", path, api_key, {"status": "completed"}, headers=if_match(1)
    )
    assert status == 200
    assert (changed["name"], changed["status"], changed["version"]) == (
        "2026 accounts",
        "completed",
        2,
    )
    status, _, _ = call(api, "DELETE", path, api_key, headers=if_match(2))
    assert status == 204
    assert call(api, "GET", path, api_key)[0] == 404


def test_a_user_is_created_changed_and_deleted(api, api_key):
    created = make(api, api_key, "/v1/users", {**ADA, "roles": ["Manager"]})
    path = f"/v1/users/{created['id']}"
    status, changed, _ = call(
        api, "PUT", path, api_key, {**ADA, "task_types": ["Audit"]}, headers=if_match(1)
    )
    assert status == 200
    assert (changed["task_types"], changed["roles"]) == (["Audit"], [])
    assert call(api, "DELETE", path, api_key, headers=if_match(2))[0] == 204
    assert call(api, "GET", path, api_key)[0] == 404


def test_one_tenant_cannot_change_or_delete_anothers_record(api, api_key):
    created = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    other = create_api_key(create_tenant("Other Firm").tenant_id).key
    path = f"/v1/contacts/{created['id']}"
    assert call(api, "PATCH", path, other, {"name": "Mine"}, headers=if_match(1))[0] == 404
    assert call(api, "DELETE", path, other, headers=if_match(1))[0] == 404
    assert call(api, "GET", path, api_key)[1]["name"] == "Acme"


# ---------------------------------------------------------------------- ETag / If-Match


@pytest.mark.parametrize(
    ("method", "body"), [("PUT", {"name": "B"}), ("PATCH", {"name": "B"}), ("DELETE", None)]
)
def test_a_change_without_if_match_is_428_naming_if_match(api, api_key, method, body):
    created = make(api, api_key, "/v1/contacts", {"name": "A"})
    status, problem, _ = call(api, method, f"/v1/contacts/{created['id']}", api_key, body)
    assert status == 428
    assert problem["field"] == "If-Match"
    assert call(api, "GET", f"/v1/contacts/{created['id']}", api_key)[1]["name"] == "A"


def test_a_second_writer_with_the_same_etag_gets_412_and_does_not_overwrite(api, api_key):
    # Given two people who read the contact at version 1
    created = make(api, api_key, "/v1/contacts", {"name": "Acme", "contact_type": "Client"})
    path = f"/v1/contacts/{created['id']}"
    # When the first saves a new name and the second then saves a new type
    first = call(api, "PATCH", path, api_key, {"name": "Acme Group"}, headers=if_match(1))
    status, problem, headers = call(
        api, "PATCH", path, api_key, {"contact_type": "Supplier"}, headers=if_match(1)
    )
    # Then the second is refused with the current version, and the first change stands
    assert first[0] == 200
    assert status == 412
    assert (problem["current_version"], problem["field"], headers["ETag"]) == (2, "If-Match", '"2"')
    _, read, _ = call(api, "GET", path, api_key)
    assert (read["name"], read["contact_type"], read["version"]) == ("Acme Group", "Client", 2)


def test_a_stale_delete_is_412_and_the_contact_stays(api, api_key):
    created = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    path = f"/v1/contacts/{created['id']}"
    call(api, "PATCH", path, api_key, {"name": "Acme Group"}, headers=if_match(1))
    status, problem, _ = call(api, "DELETE", path, api_key, headers=if_match(1))
    assert (status, problem["current_version"]) == (412, 2)
    assert call(api, "GET", path, api_key)[0] == 200


def test_two_writers_that_read_the_same_version_cannot_both_win(
    api, api_key, tenant_id, monkeypatch
):
    # Given a writer that read version 1 just before another writer saved version 2
    created = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    stale = records.get_record(tenant_id, "contact", created["id"])
    call(
        api,
        "PATCH",
        f"/v1/contacts/{created['id']}",
        api_key,
        {"name": "Theirs"},
        headers=if_match(1),
    )
    reads = iter([stale])
    real_get = records.get_record
    monkeypatch.setattr(
        records, "get_record", lambda *a, **kw: next(reads, None) or real_get(*a, **kw)
    )
    # When the first writer saves against the version it read
    with pytest.raises(records.VersionMismatch) as refused:
        records.update_record(
            tenant_id, "contact", created["id"], {"name": "Mine"}, expected_version=1
        )
    # Then the conditional write refuses it and the other writer's change stands
    assert refused.value.current_version == 2
    assert real_get(tenant_id, "contact", created["id"]).data["name"] == "Theirs"


def test_an_unchanged_put_keeps_the_version(api, api_key):
    created = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    path = f"/v1/contacts/{created['id']}"
    status, read, headers = call(api, "PUT", path, api_key, {"name": "Acme"}, headers=if_match(1))
    assert (status, read["version"], headers["ETag"]) == (200, 1, '"1"')


# -------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "A\tB"}, "name"),
        ({"name": "A", "colour": "red"}, "colour"),
        ({"name": "A", "kind": "robot"}, "kind"),
        (
            {"name": "A", "emails": [{"address": "a@b.example"}, {"address": "nope"}]},
            "emails.1.address",
        ),
        ({"name": "A", "phones": [{"number": ""}]}, "phones.0.number"),
        (
            {"name": "A", "mailing_address": {"postal_code": "9" * 31}},
            "mailing_address.postal_code",
        ),
        ({"name": "A", "active": "sometimes"}, "active"),
    ],
)
def test_an_invalid_contact_is_400_naming_the_field(api, api_key, body, field):
    status, problem, headers = call(api, "POST", "/v1/contacts", api_key, body)
    assert (status, problem["field"]) == (400, field)
    assert headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/users", {**ADA, "email": "ada.example"}, "email"),
        ("/v1/users", {"first_name": "Ada", "email": "ada@firm.example"}, "last_name"),
        ("/v1/work-items", {"contact_id": "x", "name": "Job", "status": "paused"}, "status"),
        ("/v1/contact-types", {"name": ""}, "name"),
    ],
)
def test_invalid_users_work_items_and_types_are_400_naming_the_field(
    api, api_key, path, body, field
):
    status, problem, _ = call(api, "POST", path, api_key, body)
    assert (status, problem["field"]) == (400, field)


def test_a_patch_that_clears_a_required_field_names_it(api, api_key):
    created = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    status, problem, _ = call(
        api, "PATCH", f"/v1/contacts/{created['id']}", api_key, {"name": None}, headers=if_match(1)
    )
    assert (status, problem["field"]) == (400, "name")


def test_a_contact_type_the_firm_does_not_have_is_400_naming_contact_type(api, api_key):
    status, problem, _ = call(
        api, "POST", "/v1/contacts", api_key, {"name": "A", "contact_type": "Lead"}
    )
    assert (status, problem["field"]) == (400, "contact_type")
    assert "Client" in problem["detail"]


def test_a_contact_type_in_another_case_is_stored_as_the_firm_spells_it(api, api_key):
    created = make(api, api_key, "/v1/contacts", {"name": "A", "contact_type": "supplier"})
    assert created["contact_type"] == "Supplier"


def test_a_parent_or_contact_that_does_not_exist_is_400_naming_it(api, api_key):
    status, problem, _ = call(
        api, "POST", "/v1/contacts", api_key, {"name": "A", "parent_id": "nope"}
    )
    assert (status, problem["field"]) == (400, "parent_id")
    status, problem, _ = call(
        api, "POST", "/v1/work-items", api_key, {"contact_id": "nope", "name": "Job"}
    )
    assert (status, problem["field"]) == (400, "contact_id")


def test_a_contact_cannot_become_its_own_ancestor(api, api_key):
    # Given Group > Branch
    group = make(api, api_key, "/v1/contacts", {"name": "Group"})
    branch = make(api, api_key, "/v1/contacts", {"name": "Branch", "parent_id": group["id"]})
    path = f"/v1/contacts/{group['id']}"
    # When Group is put under Branch, or under itself
    under_child = call(
        api, "PATCH", path, api_key, {"parent_id": branch["id"]}, headers=if_match(1)
    )
    under_self = call(api, "PATCH", path, api_key, {"parent_id": group["id"]}, headers=if_match(1))
    # Then both are refused naming parent_id
    assert (under_child[0], under_child[1]["field"]) == (400, "parent_id")
    assert (under_self[0], under_self[1]["field"]) == (400, "parent_id")
    assert call(api, "GET", path, api_key)[1]["parent_id"] is None


def test_a_contact_whose_parent_was_deleted_can_still_be_edited(api, api_key):
    group = make(api, api_key, "/v1/contacts", {"name": "Group"})
    branch = make(api, api_key, "/v1/contacts", {"name": "Branch", "parent_id": group["id"]})
    call(api, "DELETE", f"/v1/contacts/{group['id']}", api_key, headers=if_match(1))
    path = f"/v1/contacts/{branch['id']}"
    status, changed, _ = call(api, "PATCH", path, api_key, {"name": "Leeds"}, headers=if_match(1))
    assert (status, changed["name"], changed["parent_id"]) == (200, "Leeds", group["id"])
    # but it cannot be moved under a deleted contact
    other = make(api, api_key, "/v1/contacts", {"name": "Other"})
    status, problem, _ = call(
        api,
        "PATCH",
        f"/v1/contacts/{other['id']}",
        api_key,
        {"parent_id": group["id"]},
        headers=if_match(1),
    )
    assert (status, problem["field"]) == (400, "parent_id")


# ------------------------------------------------------------------ filters and pages


def names(page):
    return sorted(item.get("name") or item.get("email") for item in page["items"])


def test_contacts_filter_by_type_active_name_and_parent(api, api_key):
    group = make(api, api_key, "/v1/contacts", {"name": "Acme Group"})
    make(api, api_key, "/v1/contacts", {"name": "Acme Leeds", "parent_id": group["id"]})
    make(api, api_key, "/v1/contacts", {"name": "Paper Co", "contact_type": "Supplier"})
    make(api, api_key, "/v1/contacts", {"name": "Old Client", "active": False})

    def listed(query):
        status, page, _ = call(api, "GET", "/v1/contacts", api_key, query=query)
        assert status == 200, page
        return names(page)

    assert listed("contact_type=Supplier") == ["Paper Co"]
    assert listed("active=false") == ["Old Client"]
    assert listed("q=aCmE") == ["Acme Group", "Acme Leeds"]
    assert listed(f"parent_id={group['id']}") == ["Acme Leeds"]
    assert listed("contact_type=Client&active=true&q=acme") == ["Acme Group", "Acme Leeds"]


def test_work_items_filter_by_contact_and_status_and_users_by_active_and_email(api, api_key):
    acme = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    other = make(api, api_key, "/v1/contacts", {"name": "Other"})
    make(api, api_key, "/v1/work-items", {"contact_id": acme["id"], "name": "Audit"})
    make(
        api,
        api_key,
        "/v1/work-items",
        {"contact_id": acme["id"], "name": "Tax", "status": "completed"},
    )
    make(api, api_key, "/v1/work-items", {"contact_id": other["id"], "name": "Payroll"})
    make(api, api_key, "/v1/users", ADA)
    make(api, api_key, "/v1/users", {**ADA, "email": "old@firm.example", "active": False})

    def listed(path, query):
        status, page, _ = call(api, "GET", path, api_key, query=query)
        assert status == 200, page
        return names(page)

    assert listed("/v1/work-items", f"contact_id={acme['id']}") == ["Audit", "Tax"]
    assert listed("/v1/work-items", "status=completed") == ["Tax"]
    assert listed("/v1/users", "active=false") == ["old@firm.example"]
    assert listed("/v1/users", "email=ADA@firm.example") == ["ada@firm.example"]


def test_filtered_pages_are_full_and_end_with_no_cursor(api, api_key):
    # Given 5 suppliers among 5 clients
    for i in range(5):
        make(api, api_key, "/v1/contacts", {"name": f"Client {i}"})
        make(api, api_key, "/v1/contacts", {"name": f"Supplier {i}", "contact_type": "Supplier"})
    # When suppliers are listed two at a time
    sizes, seen, cursor = [], [], None
    while True:
        query = "limit=2&contact_type=Supplier" + (f"&cursor={cursor}" if cursor else "")
        status, page, _ = call(api, "GET", "/v1/contacts", api_key, query=query)
        assert status == 200
        sizes.append(len(page["items"]))
        seen += [c["name"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Then every page is full until the last, and each supplier comes once
    assert sizes == [2, 2, 1]
    assert sorted(seen) == [f"Supplier {i}" for i in range(5)]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten"])
def test_a_limit_outside_1_to_200_is_400_naming_limit(api, api_key, query):
    status, problem, _ = call(api, "GET", "/v1/users", api_key, query=query)
    assert (status, problem["field"]) == (400, "limit")


def test_a_cursor_of_another_list_is_refused(api, api_key):
    for i in range(3):
        make(api, api_key, "/v1/contacts", {"name": f"Client {i}"})
    _, page, _ = call(api, "GET", "/v1/contacts", api_key, query="limit=1")
    status, problem, _ = call(
        api, "GET", "/v1/users", api_key, query=f"cursor={page['next_cursor']}"
    )
    assert (status, problem["field"]) == (400, "cursor")


# ---------------------------------------------------------------------- contact types


def type_names(api, key):
    status, page, _ = call(api, "GET", "/v1/contact-types", key)
    assert status == 200
    return names(page)


def test_a_new_firm_starts_with_the_four_contact_types(api, api_key):
    assert type_names(api, api_key) == ["Client", "Other", "Prospect", "Supplier"]


def test_a_contact_type_name_is_unique_in_any_case(api, api_key):
    make(api, api_key, "/v1/contact-types", {"name": "Partner"})
    status, problem, _ = call(api, "POST", "/v1/contact-types", api_key, {"name": "client"})
    assert (status, problem["field"]) == (409, "name")
    assert type_names(api, api_key) == ["Client", "Other", "Partner", "Prospect", "Supplier"]


def test_a_new_contact_type_can_be_given_to_contacts(api, api_key):
    make(api, api_key, "/v1/contact-types", {"name": "Partner"})
    assert (
        make(api, api_key, "/v1/contacts", {"name": "A", "contact_type": "Partner"})["contact_type"]
        == "Partner"
    )


def test_a_contact_type_in_use_cannot_be_deleted_until_no_contact_uses_it(api, api_key):
    # Given a Prospect contact
    _, page, _ = call(api, "GET", "/v1/contact-types", api_key)
    prospect = next(t for t in page["items"] if t["name"] == "Prospect")
    contact = make(api, api_key, "/v1/contacts", {"name": "Maybe Ltd", "contact_type": "Prospect"})
    type_path = f"/v1/contact-types/{prospect['id']}"
    # When the type is deleted: refused
    status, problem, _ = call(api, "DELETE", type_path, api_key, headers=if_match(1))
    assert status == 409
    assert "Prospect" in problem["detail"]
    # When the contact becomes a client, the type can go, and no new contact can use it
    call(
        api,
        "PATCH",
        f"/v1/contacts/{contact['id']}",
        api_key,
        {"contact_type": "Client"},
        headers=if_match(1),
    )
    assert call(api, "DELETE", type_path, api_key, headers=if_match(1))[0] == 204
    status, problem, _ = call(
        api, "POST", "/v1/contacts", api_key, {"name": "B", "contact_type": "Prospect"}
    )
    assert (status, problem["field"]) == (400, "contact_type")


def test_deleted_default_types_do_not_come_back(api, api_key):
    _, page, _ = call(api, "GET", "/v1/contact-types", api_key)
    for item in page["items"]:
        assert (
            call(api, "DELETE", f"/v1/contact-types/{item['id']}", api_key, headers=if_match(1))[0]
            == 204
        )
    assert type_names(api, api_key) == []


def test_a_contact_type_in_use_cannot_be_renamed(api, api_key):
    _, page, _ = call(api, "GET", "/v1/contact-types", api_key)
    client = next(t for t in page["items"] if t["name"] == "Client")
    make(api, api_key, "/v1/contacts", {"name": "Acme"})
    status, problem, _ = call(
        api,
        "PUT",
        f"/v1/contact-types/{client['id']}",
        api_key,
        {"name": "Customer"},
        headers=if_match(1),
    )
    assert (status, problem["field"]) == (409, "name")


# ------------------------------------------------------------------ delete and history


def test_a_deleted_contact_is_gone_from_reads_and_lists_but_kept_in_the_hub(
    api, api_key, tenant_id
):
    kept = make(api, api_key, "/v1/contacts", {"name": "Kept"})
    gone = make(api, api_key, "/v1/contacts", {"name": "Gone"})
    path = f"/v1/contacts/{gone['id']}"
    status, _, headers = call(api, "DELETE", path, api_key, headers=if_match(1))
    assert (status, headers["ETag"]) == (204, '"2"')
    assert call(api, "GET", path, api_key)[0] == 404
    assert call(api, "DELETE", path, api_key, headers=if_match(2))[0] == 404
    assert [c["id"] for c in call(api, "GET", "/v1/contacts", api_key)[1]["items"]] == [kept["id"]]
    stored = records.get_record(tenant_id, "contact", gone["id"], include_deleted=True)
    assert (stored.deleted, stored.version, stored.data["name"]) == (1, 2, "Gone")


def test_history_says_who_changed_what_from_what(api, api_key, tenant_id):
    created = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    path = f"/v1/contacts/{created['id']}"
    call(api, "PATCH", path, api_key, {"name": "Acme Ltd", "active": False}, headers=if_match(1))
    records.save_record(
        tenant_id, "contact", created["id"], {"name": "ACME LIMITED", "active": False}, origin="qbo"
    )
    call(api, "DELETE", path, api_key, headers=if_match(3))
    entries = records.get_record(tenant_id, "contact", created["id"], include_deleted=True).history
    assert [(e["version"], e["origin"], e["previous"]) for e in entries] == [
        (1, "practice", {}),
        (2, "practice", {"name": "Acme", "active": True}),
        (3, "qbo", {"name": "Acme Ltd"}),
        (4, "practice", {"deleted": 0}),
    ]
    assert all(datetime.fromisoformat(e["at"]).tzinfo is not None for e in entries)


def test_history_route_keeps_the_last_twenty_changes(api, api_key):
    created = make(api, api_key, "/v1/users", ADA)
    path = f"/v1/users/{created['id']}"
    for version in range(1, 25):
        status, _, _ = call(
            api, "PATCH", path, api_key, {"roles": [f"r{version}"]}, headers=if_match(version)
        )
        assert status == 200
    status, history, _ = call(api, "GET", f"{path}/history", api_key)
    assert status == 200
    assert [e["version"] for e in history["items"]] == list(range(6, 26))
    assert history["items"][-1]["previous"] == {"roles": ["r23"]}


# ---------------------------------------------------------------------------- fan-out


def test_a_contact_change_is_queued_for_exactly_the_connections_that_want_it(
    api, api_key, tenant_id, stack_env, outbox
):
    # Given QBO sending clients, Xero sending suppliers, and QBT (clients) needing reauth
    qbo = connect(tenant_id, "qbo", {"contact_types": ["Client"]})
    xero = connect(tenant_id, "xero", {"contact_types": ["Supplier"]})
    connect(tenant_id, "qbt", {"contact_types": ["Client"]}, status="needs_reauth")
    # When a client is created
    created = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    # Then only QBO gets it, in a FIFO group of its connection and a shard of its id
    queued = pushes(stack_env, outbox)
    assert queued[0].pop("shard").isdigit()
    assert queued[0].pop("explicit") is False  # the outbox's, not a send the firm asked for
    assert queued == [
        {
            "v": 1,
            "type": "push",
            "tenant_id": tenant_id,
            "connection_id": qbo,
            "provider": "qbo",
            "kind": "contact",
            "record_id": created["id"],
            "version": 1,
            "retry": 0,
        }
    ]
    # When it becomes a supplier, then only Xero gets version 2
    path = f"/v1/contacts/{created['id']}"
    call(api, "PATCH", path, api_key, {"contact_type": "Supplier"}, headers=if_match(1))
    assert [
        (m["provider"], m["connection_id"], m["version"]) for m in pushes(stack_env, outbox)
    ] == [("xero", xero, 2)]
    # When it is deleted, Xero gets the deletion (version 3)
    call(api, "DELETE", path, api_key, headers=if_match(2))
    assert [(m["provider"], m["version"]) for m in pushes(stack_env, outbox)] == [("xero", 3)]


def test_work_items_users_and_contact_types_go_where_the_settings_say(
    api, api_key, tenant_id, stack_env, outbox
):
    connect(tenant_id, "qbo", {"work_items_as_sub_customers": False})
    connect(tenant_id, "qbt", {"sync": "contacts_and_work_items", "contact_types": []})
    connect(tenant_id, "xero", {"sync_enabled": False})
    contact = make(api, api_key, "/v1/contacts", {"name": "Acme"})
    assert [m["provider"] for m in pushes(stack_env, outbox)] == ["qbo"]
    job = make(api, api_key, "/v1/work-items", {"contact_id": contact["id"], "name": "Audit"})
    assert [(m["provider"], m["kind"], m["record_id"]) for m in pushes(stack_env, outbox)] == [
        ("qbt", "work_item", job["id"])
    ]
    make(api, api_key, "/v1/users", ADA)
    assert [(m["provider"], m["kind"]) for m in pushes(stack_env, outbox)] == [
        ("qbo", "user"),
        ("qbt", "user"),
    ]
    make(api, api_key, "/v1/contact-types", {"name": "Partner"})
    assert pushes(stack_env, outbox) == []


def test_a_change_that_nobody_wants_and_an_unchanged_save_queue_nothing(
    api, api_key, tenant_id, stack_env, outbox
):
    connect(tenant_id, "qbo", {"contact_types": ["Client"]})
    created = make(api, api_key, "/v1/contacts", {"name": "Paper Co", "contact_type": "Supplier"})
    call(
        api,
        "PUT",
        f"/v1/contacts/{created['id']}",
        api_key,
        {"name": "Paper Co", "contact_type": "Supplier"},
        headers=if_match(1),
    )
    assert pushes(stack_env, outbox) == []


# ----------------------------------------------------------------- for the sync engine


def test_a_pulled_change_is_saved_and_not_sent_back_where_it_came_from(
    api, api_key, tenant_id, stack_env, outbox
):
    # Given QBO and Xero both sending clients
    connect(tenant_id, "qbo", {"contact_types": ["Client"]})
    connect(tenant_id, "xero", {"contact_types": ["Client"]})
    # When a pull from QBO brings a new contact under a derived id, then a change to it
    pulled_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "qbo/9130/Customer/58"))
    at = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    first = records.save_record(
        tenant_id, "contact", pulled_id, {"name": "Bill's Windsurf"}, origin="qbo", changed_at=at
    )
    second = records.save_record(
        tenant_id, "contact", pulled_id, {"name": "Bill's Windsurf Shop"}, origin="qbo"
    )
    # Then the record keeps the derived id, is at version 2 from QBO, and goes to Xero only
    assert (first.record_id, first.version, first.updated_at) == (pulled_id, 1, at)
    assert (second.version, second.origin) == (2, "qbo")
    # (the stream shows both versions; the fan-out sends the latest once)
    assert [(m["provider"], m["version"]) for m in pushes(stack_env, outbox)] == [("xero", 2)]
    _, read, _ = call(api, "GET", f"/v1/contacts/{pulled_id}", api_key)
    assert (read["name"], read["origin"]) == ("Bill's Windsurf Shop", "qbo")


def test_pulled_content_is_validated_naming_the_field(tenant_id):
    with pytest.raises(InvalidInput) as refused:
        records.save_record(tenant_id, "user", None, {**ADA, "email": "nope"}, origin="qbt")
    assert refused.value.field == "email"


# ---------------------------------------------------------------------------- OpenAPI


def test_the_openapi_document_shows_every_route_with_its_models(api, api_key):
    status, document, _ = call(api, "GET", "/v1/openapi.json", api_key)
    assert status == 200
    paths = document["paths"]
    for resource in ("contacts", "work-items", "users", "contact-types"):
        assert set(paths[f"/v1/{resource}"]) == {"get", "post"}
        assert set(paths[f"/v1/{resource}/{{record_id}}"]) == {"get", "put", "patch", "delete"}
    schemas = document["components"]["schemas"]
    assert {
        "ContactOut",
        "ContactPatch",
        "Contact",
        "WorkItemPage",
        "UserOut",
        "ContactType",
    } <= set(schemas)
    for method in ("put", "patch", "delete"):
        parameters = paths["/v1/contacts/{record_id}"][method]["parameters"]
        assert ("if-match", "header") in {(p["name"], p["in"]) for p in parameters}
    refusal = paths["/v1/contacts/{record_id}"]["patch"]["responses"]["412"]["content"]
    assert refusal["application/problem+json"]["schema"]["$ref"].endswith("/ProblemDetail")


def test_a_write_reaches_its_push_queue_even_if_the_api_dies_right_after_it(
    api, api_key, tenant_id, stack_env, outbox, monkeypatch
):
    # Given QBO sending clients, and an API process that cannot reach SQS at all (it dies
    # the moment it would enqueue anything)
    connect(tenant_id, "qbo", {"contact_types": ["Client"]})
    from booksync.engine.queues import Enqueuer

    def dead(*_args, **_kwargs):
        raise RuntimeError("the API process died after its write")

    monkeypatch.setattr(Enqueuer, "send", dead)
    monkeypatch.setattr(Enqueuer, "send_many", dead)
    # When a client is created, the write is all the API does
    created = make(api, api_key, "/v1/contacts", {"name": "Outbox Ltd"})
    monkeypatch.undo()
    # Then the Records stream's fan-out (its own function) queues the push
    assert [(m["provider"], m["record_id"]) for m in pushes(stack_env, outbox)] == [
        ("qbo", created["id"])
    ]


def test_a_stream_batch_whose_fan_out_fails_is_retried_from_there_and_loses_nothing(
    api, api_key, tenant_id, stack_env, outbox, monkeypatch
):
    from booksync.boot import boot
    from booksync.engine.outbox import fan_out_stream
    from booksync.engine.queues import Enqueuer
    from booksync.store.tenants import create_api_key, create_tenant

    # Given two firms sending clients to QBO, each writing a client (one stream batch)
    other_tenant = create_tenant("Other Firm").tenant_id
    other_key = create_api_key(other_tenant).key
    connect(tenant_id, "qbo", {"contact_types": ["Client"]})
    connect(other_tenant, "qbo", {"contact_types": ["Client"]})
    first = make(api, api_key, "/v1/contacts", {"name": "First Firm's Client"})
    second = make(api, other_key, "/v1/contacts", {"name": "Second Firm's Client"})
    batch = {"Records": outbox.read()}
    # When SQS refuses the second firm's messages
    real = Enqueuer.send_many

    def flaky(self, messages):
        if any(m.tenant_id == other_tenant for m in messages):
            raise RuntimeError("SQS is unavailable")
        return real(self, messages)

    monkeypatch.setattr(Enqueuer, "send_many", flaky)
    answer = fan_out_stream(boot().enqueuer, batch)
    # Then the answer names the second firm's first change: the stream retries from there
    sequences = [r["dynamodb"]["SequenceNumber"] for r in batch["Records"]]
    (failed,) = answer["batchItemFailures"]
    assert failed["itemIdentifier"] in sequences
    retry = {"Records": batch["Records"][sequences.index(failed["itemIdentifier"]) :]}
    # And when SQS is back, the retried part queues what was missing, nothing twice
    monkeypatch.undo()
    assert fan_out_stream(boot().enqueuer, retry) == {"batchItemFailures": []}
    queued = pushes(stack_env, outbox)
    assert sorted(m["record_id"] for m in queued) == sorted([first["id"], second["id"]])
