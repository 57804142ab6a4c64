"""Contact import through the practice API: link the exact, review the doubtful, create the
rest; the match preview writes nothing; duplicates are resolved; links are listed and
removed. The provider side is a fake source of 300 customers (the QBO/Xero clients plug
into the same `sources` seam)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from booksync.api.app import handle, make_app
from booksync.engine.seam import Change
from booksync.hub import importing as importer
from booksync.hub import review
from booksync.hub.importing import ProviderContact
from booksync.hub.records import save_record
from booksync.store import Connection, Link, Record
from booksync.store.links import find_by_provider_id
from booksync.store.tenants import create_api_key, create_tenant
from tests.conftest import _stack_env, lambda_context, load_event

EXACT, PARTIAL, NEW, CHILDREN = 20, 10, 270, 30


def call(app, method, path, key, body=None, query=""):
    event = load_event("api/health.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = query
    if query:
        event["queryStringParameters"] = dict(kv.split("=", 1) for kv in query.split("&"))
    event["headers"]["authorization"] = f"Bearer {key}"
    if body is not None:
        event["body"] = json.dumps(body)
    answer = handle(app, event, lambda_context("api"))
    return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None


def contact(name: str, email: str | None, **more) -> dict:
    return {"name": name, "emails": [{"address": email}] if email else [], **more}


def provider_books(exact=EXACT, partial=PARTIAL, new=NEW, children=CHILDREN):
    """QBO customers: `exact` equal to hub contacts, `partial` close to one, `new` new of
    which `children` are sub-customers (listed before their parents, as a paged query
    may return them). By default the 300 of the issue: 20 / 10 / 270 (30 jobs)."""
    items = [
        ProviderContact.from_dump(f"{i}", contact(f"Exact Client {i}", f"exact{i}@x.example"))
        for i in range(exact)
    ]
    items += [
        ProviderContact.from_dump(
            f"{100 + i}", contact(f"Partial Client {i} Ltd", f"partial{i}@qbo.example")
        )
        for i in range(partial)
    ]
    parents = [
        ProviderContact.from_dump(f"{200 + i}", contact(f"New Client {i}", f"new{i}@x.example"))
        for i in range(new - children)
    ]
    jobs = [
        ProviderContact.from_dump(
            f"{900 + i}",
            contact(f"Job {i}", None),
            parent_provider_id=f"{200 + i}",
            provider_version="0",
        )
        for i in range(children)
    ]
    return items + jobs + parents


def make_firm(books, exact=EXACT, partial=PARTIAL):
    """A tenant with `exact` and `partial` counterparts of the books in the hub, plus 3
    contacts the provider lacks (2 clients, 1 supplier), and the practice API wired to a
    fake source of `books`."""
    tenant = create_tenant("Harbour Accountants")
    key = create_api_key(tenant.tenant_id).key
    hub_ids = {}

    def add(label, data):
        record = save_record(tenant.tenant_id, "contact", None, data, origin="practice")
        hub_ids[label] = record.record_id

    for i in range(exact):
        add(f"exact{i}", contact(f"EXACT  client {i}", f"Exact{i}@x.example"))
    for i in range(partial):
        add(f"partial{i}", contact(f"Partial Client {i}", f"partial{i}@hub.example"))
    for name, kind in (
        ("Only Hub A", "Client"),
        ("Only Hub B", "Client"),
        ("Paper Co", "Supplier"),
    ):
        add(name, contact(name, None, contact_type=kind))

    asked = []

    def sources(tenant_id: str, provider: str) -> list[ProviderContact]:
        asked.append((tenant_id, provider))
        return books

    app = make_app(sources=sources)

    class Firm:
        tenant_id = tenant.tenant_id
        api_key = key
        hub = hub_ids
        calls = asked

        def api(self, method, path, body=None, query="", api_key=None):
            return call(app, method, path, api_key or key, body, query)

    return Firm()


@pytest.fixture
def firm(stack_env):
    """The 300 customers of the issue, nothing imported yet."""
    return make_firm(provider_books())


@pytest.fixture
def small_firm(stack_env):
    """3 exact, 10 close, 12 new (2 jobs), imported: for tests that change the outcome."""
    firm = make_firm(provider_books(exact=3, partial=10, new=12, children=2), exact=3)
    status, counts = firm.api("POST", "/v1/connections/qbo/import")
    assert (status, counts["linked"], counts["review"], counts["created"]) == (200, 3, 10, 12)
    return firm


@pytest.fixture(scope="class")
def imported(request):
    """One import of the 300 customers, shared by the tests that only read its outcome."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for _env in _stack_env(monkeypatch, {}):
            firm = make_firm(provider_books())
            firm.first = firm.api("POST", "/v1/connections/qbo/import")
            yield firm


def records_of(tenant_id: str, kind: str = "contact") -> dict[str, tuple[int, dict]]:
    return {
        r.record_id: (int(r.version), r.data)
        for r in Record.query(tenant_id, Record.record_key.startswith(f"{kind}#"))
    }


def links_of(tenant_id: str) -> dict[str, str]:
    return {link.provider_id: link.hub_key for link in Link.query(f"{tenant_id}#qbo")}


def snapshot(tenant_id):
    return records_of(tenant_id), links_of(tenant_id), records_of(tenant_id, "duplicate")


def open_duplicates(firm):
    _, page = firm.api("GET", "/v1/duplicates", query="provider=qbo&status=open")
    return {d["provider_contact"]["id"]: d for d in page["items"]}


def all_links(firm, query):
    seen, cursor, pages = [], None, 0
    while True:
        status, page = firm.api(
            "GET", "/v1/links", query=query + (f"&cursor={cursor}" if cursor else "")
        )
        assert status == 200, page
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return seen, pages


# ------------------------------------------------------------------- one import of 300


class TestImportOf300Customers:
    """Given 300 QBO customers (20 equal to hub contacts, 10 close, 270 new with 30 jobs),
    when the firm imports them once:"""

    def test_20_are_linked_10_sent_to_review_and_270_created(self, imported):
        status, counts = imported.first

        assert status == 200, counts
        assert (counts["linked"], counts["review"], counts["created"]) == (20, 10, 270)
        assert counts["failed"] == []
        assert len(records_of(imported.tenant_id)) == 33 + 270
        assert len(links_of(imported.tenant_id)) == 290
        assert imported.calls == [(imported.tenant_id, "qbo")]

    def test_exact_matches_link_to_the_existing_hub_contact_at_its_version(self, imported):
        link = find_by_provider_id(imported.tenant_id, "qbo", "Customer", "7")

        assert link.hub_key == f"contact#{imported.hub['exact7']}"
        assert link.synced_version == 1

    def test_new_customers_come_in_with_the_import_contact_type_and_origin_qbo(self, imported):
        link = find_by_provider_id(imported.tenant_id, "qbo", "Customer", "250")
        record = Record.get(imported.tenant_id, link.hub_key)

        assert record.origin == "qbo"
        assert record.data["name"] == "New Client 50"
        assert record.data["contact_type"] == "Client"
        assert link.synced_version == record.version

    def test_sub_customers_come_in_under_their_parent(self, imported):
        # customer 900 is a job of customer 200, listed before it
        job_link = find_by_provider_id(imported.tenant_id, "qbo", "Customer", "900")
        job = Record.get(imported.tenant_id, job_link.hub_key)
        parent = find_by_provider_id(imported.tenant_id, "qbo", "Customer", "200")

        assert f"contact#{job.data['parent_id']}" == parent.hub_key

    def test_each_possible_duplicate_lists_its_candidates_and_why(self, imported):
        duplicates = open_duplicates(imported)

        assert len(duplicates) == 10
        [candidate] = duplicates["104"]["candidates"]
        assert candidate["hub_id"] == imported.hub["partial4"]
        assert candidate["reasons"] == ["names differ only in a legal suffix (Inc, Ltd, ...)"]

    def test_links_are_listed_page_by_page_with_the_hub_names(self, imported):
        seen, pages = all_links(imported, "kind=contact&limit=120")

        assert pages == 3
        assert len({(i["provider"], i["hub_id"]) for i in seen}) == 290
        names = {i["provider_id"]: i["name"] for i in seen}
        assert names["7"] == "EXACT  client 7"

    def test_the_preview_then_shows_everything_linked_or_in_review(self, imported):
        _, preview = imported.api("GET", "/v1/connections/qbo/match-preview")

        counts = preview["provider_side"]["counts"]
        assert (counts["already_linked"], counts["review"], counts["create"]) == (290, 10, 0)

    def test_running_the_import_again_changes_nothing(self, imported):
        before = snapshot(imported.tenant_id)

        status, counts = imported.api("POST", "/v1/connections/qbo/import")

        assert status == 200
        assert (counts["linked"], counts["created"], counts["already_linked"]) == (0, 0, 290)
        assert counts["review"] == 10
        assert snapshot(imported.tenant_id) == before


# ---------------------------------------------------------------------------- preview


def test_match_preview_shows_both_sides_and_writes_nothing(firm):
    # Given the hub before any import
    before = snapshot(firm.tenant_id)

    # When the firm previews the match with its 300 QBO customers
    status, preview = firm.api("GET", "/v1/connections/qbo/match-preview")

    # Then it sees what would be linked, created and reviewed, and what the hub would send
    assert status == 200
    counts = preview["provider_side"]["counts"]
    assert (counts["link"], counts["review"], counts["create"]) == (20, 10, 270)
    hub = {h["name"]: h for h in preview["hub_side"]["items"]}
    assert hub["Only Hub A"]["why"] == "would be sent"
    assert hub["Paper Co"]["why"] == "not sent (contact type not chosen)"
    assert preview["hub_side"]["counts"] == {"link": 20, "review": 10, "send": 2, "not_sent": 1}
    review = next(i for i in preview["provider_side"]["items"] if i["provider_id"] == "103")
    assert review["candidates"][0]["hub_id"] == firm.hub["partial3"]
    # and nothing was written
    assert snapshot(firm.tenant_id) == before


def test_import_from_a_provider_without_contact_import_is_404(firm):
    status, problem = firm.api("POST", "/v1/connections/qbt/import")

    assert status == 404
    assert "qbo and xero" in problem["detail"]


# ------------------------------------------------------------------------- duplicates


def test_linking_a_duplicate_to_its_candidate_links_it_and_closes_it(small_firm):
    # Given an open possible duplicate
    duplicate = open_duplicates(small_firm)["101"]

    # When the firm links it to its candidate
    status, resolved = small_firm.api(
        "POST",
        f"/v1/duplicates/{duplicate['id']}/resolve",
        {"action": "link", "hub_id": small_firm.hub["partial1"]},
    )

    # Then the pair is linked and the duplicate is resolved, no longer open
    assert status == 200, resolved
    assert resolved["status"] == "resolved"
    link = find_by_provider_id(small_firm.tenant_id, "qbo", "Customer", "101")
    assert link.hub_key == f"contact#{small_firm.hub['partial1']}"
    assert "101" not in open_duplicates(small_firm)


def test_contacts_list_by_origin_shows_what_the_import_created(small_firm):
    status, page = small_firm.api("GET", "/v1/contacts", query="origin=qbo&limit=200")
    assert status == 200
    assert len(page["items"]) == 12  # the 12 new customers, not the hub's own contacts
    assert {c["origin"] for c in page["items"]} == {"qbo"}
    status, page = small_firm.api("GET", "/v1/contacts", query="origin=practice&limit=200")
    assert len(page["items"]) == 3 + 10 + 3  # exact, close and the hub's own
    assert small_firm.api("GET", "/v1/contacts", query="origin=elsewhere")[0] == 400


def test_importing_a_duplicate_as_new_creates_a_hub_contact_and_links_it(small_firm):
    contacts_before = len(records_of(small_firm.tenant_id))

    status, resolved = small_firm.api(
        "POST", "/v1/duplicates/qbo:102/resolve", {"action": "import_as_new"}
    )

    assert status == 200, resolved
    link = find_by_provider_id(small_firm.tenant_id, "qbo", "Customer", "102")
    record = Record.get(small_firm.tenant_id, link.hub_key)
    assert record.data["name"] == "Partial Client 2 Ltd"
    assert len(records_of(small_firm.tenant_id)) == contacts_before + 1


def test_resolved_duplicates_stay_resolved_when_the_import_runs_again(small_firm):
    # Given one duplicate linked, one imported as new and one ignored
    small_firm.api(
        "POST",
        "/v1/duplicates/qbo:101/resolve",
        {"action": "link", "hub_id": small_firm.hub["partial1"]},
    )
    small_firm.api("POST", "/v1/duplicates/qbo:102/resolve", {"action": "import_as_new"})
    small_firm.api("POST", "/v1/duplicates/qbo:103/resolve", {"action": "ignore"})

    # When the import runs again
    _, counts = small_firm.api("POST", "/v1/connections/qbo/import")

    # Then the ignored one is not offered again and the others stay linked
    assert (counts["ignored"], counts["review"], counts["already_linked"]) == (1, 7, 17)
    _, ignored = small_firm.api("GET", "/v1/duplicates", query="status=ignored")
    assert [d["id"] for d in ignored["items"]] == ["qbo:103"]
    assert find_by_provider_id(small_firm.tenant_id, "qbo", "Customer", "103") is None


def test_linking_a_duplicate_to_a_contact_that_is_not_a_candidate_names_the_field(small_firm):
    status, problem = small_firm.api(
        "POST",
        "/v1/duplicates/qbo:101/resolve",
        {"action": "link", "hub_id": small_firm.hub["exact1"]},
    )

    assert status == 400
    assert problem["field"] == "hub_id"


def test_linking_without_a_hub_id_names_the_field(small_firm):
    status, problem = small_firm.api("POST", "/v1/duplicates/qbo:101/resolve", {"action": "link"})

    assert status == 400
    assert problem["field"] == "hub_id"


def test_an_unknown_action_names_the_field(small_firm):
    status, problem = small_firm.api("POST", "/v1/duplicates/qbo:101/resolve", {"action": "merge"})

    assert status == 400
    assert problem["field"] == "action"


def test_a_resolved_duplicate_cannot_be_resolved_again(small_firm):
    small_firm.api("POST", "/v1/duplicates/qbo:105/resolve", {"action": "import_as_new"})

    status, problem = small_firm.api("POST", "/v1/duplicates/qbo:105/resolve", {"action": "ignore"})

    assert status == 409
    assert "already" in problem["detail"]


def test_another_tenant_sees_none_of_the_duplicates(small_firm):
    stranger = create_api_key(create_tenant("Other Firm").tenant_id).key

    _, page = small_firm.api("GET", "/v1/duplicates", api_key=stranger)
    status, _ = small_firm.api(
        "POST", "/v1/duplicates/qbo:101/resolve", {"action": "ignore"}, api_key=stranger
    )

    assert page["items"] == []
    assert status == 404
    assert open_duplicates(small_firm)["101"]["status"] == "open"


# ------------------------------------------------------------------------------ links


def test_removing_a_link_unlinks_and_deletes_no_record(small_firm):
    # Given exact customer 1 linked to its hub contact
    hub_id = small_firm.hub["exact1"]
    contacts_before = records_of(small_firm.tenant_id)

    # When the firm removes the link
    status, _ = small_firm.api("DELETE", f"/v1/links/qbo/contact/{hub_id}")

    # Then the pair is unlinked and every record is still there, unchanged
    assert status == 204
    assert find_by_provider_id(small_firm.tenant_id, "qbo", "Customer", "1") is None
    assert records_of(small_firm.tenant_id) == contacts_before
    seen, _ = all_links(small_firm, "provider=qbo&limit=10")
    assert hub_id not in {i["hub_id"] for i in seen}
    assert len(seen) == 14


def test_removing_a_link_that_does_not_exist_is_404(small_firm):
    status, problem = small_firm.api("DELETE", "/v1/links/qbo/contact/nope")

    assert status == 404
    assert problem["title"] == "Not found"


# ------------------------------------------------------------------- import, directly


def test_a_crash_between_creating_and_linking_is_repaired_without_a_second_record(stack_env):
    # Given an import that created a hub contact for customer 7 and died before its link
    tenant_id = create_tenant("Firm").tenant_id
    item = ProviderContact.from_dump("7", contact("Quay Cakes", None))
    hub_id = importer.hub_id_for("qbo", "realm-1", "contact", "7")
    save_record(tenant_id, "contact", hub_id, contact("Quay Cakes", None), origin="qbo")

    # When the import runs again
    result = importer.run_import(
        tenant_id, "qbo", [item], "Client", save_record, company_id="realm-1"
    )

    # Then the existing record is linked and no second one is made
    assert (result.linked, result.created, result.review) == (1, 0, 0)
    assert list(records_of(tenant_id)) == [hub_id]
    assert find_by_provider_id(tenant_id, "qbo", "Customer", "7").hub_key == f"contact#{hub_id}"


def test_inactive_customers_are_linked_when_exact_but_never_created(stack_env):
    tenant_id = create_tenant("Firm").tenant_id
    save_record(tenant_id, "contact", None, contact("Acme", "a@x.example"), origin="practice")
    gone = [
        ProviderContact.from_dump("1", contact("Acme", "a@x.example", active=False)),
        ProviderContact.from_dump("2", contact("Closed Shop", "c@x.example", active=False)),
    ]

    result = importer.run_import(tenant_id, "qbo", gone, "Client", save_record)

    assert (result.linked, result.created, result.skipped_inactive) == (1, 0, 1)


def test_a_job_of_a_customer_in_review_waits_for_its_parent(stack_env):
    # Given customer 1 close to a hub contact, and its job 2
    tenant_id = create_tenant("Firm").tenant_id
    save_record(tenant_id, "contact", None, contact("Acme", "a@x.example"), origin="practice")
    books = [
        ProviderContact.from_dump("1", contact("Acme Ltd", "b@x.example")),
        ProviderContact.from_dump("2", contact("2024 Accounts", None), parent_provider_id="1"),
    ]

    # When imported, the parent goes to review and the job is not created on its own
    result = importer.run_import(tenant_id, "qbo", books, "Client", save_record)
    assert (result.review, result.waiting_for_parent, result.created) == (1, 1, 0)

    # When the parent is imported as new, the next import brings the job in under it
    review.resolve_duplicate(tenant_id, "qbo:1", "import_as_new", save_record=save_record)
    again = importer.run_import(tenant_id, "qbo", books, "Client", save_record)

    assert (again.created, again.already_linked) == (1, 1)
    job = Record.get(tenant_id, find_by_provider_id(tenant_id, "qbo", "Customer", "2").hub_key)
    parent = find_by_provider_id(tenant_id, "qbo", "Customer", "1")
    assert f"contact#{job.data['parent_id']}" == parent.hub_key


def test_the_import_uses_the_connections_contact_type_for_imports(stack_env):
    # Given a Xero connection whose settings import contacts as Prospects
    tenant_id = create_tenant("Firm").tenant_id
    Connection(
        tenant_id,
        "xero",
        connection_id="c1",
        company_id="org-1",
        settings={"import_contact_type": "Prospect"},
    ).save()
    books = [ProviderContact.from_dump("guid-1", contact("Harbour Bakery", "h@x.example"))]
    app = make_app(sources=lambda _tenant, _provider: books)
    key = create_api_key(tenant_id).key

    # When the Xero contacts are imported
    status, counts = call(app, "POST", "/v1/connections/xero/import", key)

    # Then the new contact is a Prospect, with the id derived from the Xero organisation
    assert (status, counts["created"]) == (200, 1)
    hub_id = importer.hub_id_for("xero", "org-1", "contact", "guid-1")
    assert records_of(tenant_id)[hub_id][1]["contact_type"] == "Prospect"


def test_a_contact_met_by_a_pull_is_matched_like_an_import(stack_env):
    # Given a hub contact and a QBO connection
    tenant_id = create_tenant("Firm").tenant_id
    saved = save_record(
        tenant_id, "contact", None, contact("Acme", "a@x.example"), origin="practice"
    )
    conn = Connection(tenant_id, "qbo", connection_id="c1", company_id="realm-1")

    # When a pull meets two customers it has no link for: one equal, one new
    def met(provider_id, name, email):
        return Change(
            object_type="Customer",
            provider_id=provider_id,
            provider_version="0",
            raw=None,
            changed_at=datetime.now(UTC),
            kind="contact",
            content=contact(name, email),
        )

    linked = importer.adopt_contacts(conn, [met("1", "ACME", "a@x.example")], save_record)
    created = importer.adopt_contacts(conn, [met("2", "Quay Cakes", "q@x.example")], save_record)

    # Then the equal one is linked to the existing record and only the new one is created
    assert linked == []
    assert find_by_provider_id(tenant_id, "qbo", "Customer", "1").hub_key == saved.record_key
    assert [r.data["name"] for r in created] == ["Quay Cakes"]
