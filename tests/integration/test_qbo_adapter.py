"""booksync's QBO client and families against the QBO simulator, connected through the
real OAuth: batched idempotent creates, sparse updates, stale SyncTokens, name clashes,
sub-customers, lost creates found by their intent, throttling, outages and the CDC pull."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from booksync.engine.pull import PullResult, apply_changes
from booksync.engine.seam import Change, Family, Page, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub import content as hub
from booksync.hub.records import create_record
from booksync.providers.qbo.changes import QboChanges
from booksync.providers.qbo.client import QboClient
from booksync.providers.qbo.customers import Customers
from booksync.providers.qbo.employees import Employees
from booksync.providers.qbo.jobs import Jobs
from booksync.providers.qbo.namelist import list_all
from booksync.settings import get_settings
from booksync.store import Link, Record, links
from booksync.store import connections as connection_rows
from booksync.store import records as record_rows
from booksync.store.tenants import create_api_key, create_tenant
from tests.integration.oauth_dance import Dance


@pytest.fixture(scope="module")
def stack(sims):
    """template.yaml's tables, queues and keys under moto with the providers pointing at
    the simulators, and the oauth handler: built once for this module (the slow part);
    each test gets its own firm and its own fresh QBO company."""
    from tests.conftest import _stack_env, load_handler

    with pytest.MonkeyPatch.context() as mp:
        for handle in sims.values():
            requests.post(f"{handle.url}/_sim/reset", timeout=10).raise_for_status()
        env = _stack_env(mp, {name: h.url for name, h in sims.items()})
        next(env)
        yield load_handler("oauth", mp).lambda_handler
        next(env, None)


@dataclass
class Qbo:
    url: str
    realm: str
    tenant_id: str
    session: ProviderSession

    @property
    def sim_objects(self) -> str:
        return f"{self.url}/_sim/companies/{self.realm}/objects"

    def client(self) -> QboClient:
        return QboClient(self.session)

    def objects(self, kind: str) -> list[dict[str, Any]]:
        reply = requests.get(f"{self.sim_objects}/{kind}", timeout=10)
        reply.raise_for_status()
        return list(reply.json()["objects"])

    def customers(self) -> list[dict[str, Any]]:
        return self.objects("Customer")

    def customer(self, customer_id: str) -> dict[str, Any]:
        return next(c for c in self.customers() if c["Id"] == customer_id)

    def ui_change(self, kind: str, object_id: str, **fields: Any) -> dict[str, Any]:
        reply = requests.patch(f"{self.sim_objects}/{kind}/{object_id}", json=fields, timeout=10)
        reply.raise_for_status()
        return dict(reply.json())

    def ui_create(self, kind: str, **fields: Any) -> dict[str, Any]:
        reply = requests.post(f"{self.sim_objects}/{kind}", json=fields, timeout=10)
        reply.raise_for_status()
        return dict(reply.json())

    def fault(self, **rule: Any) -> None:
        requests.post(f"{self.url}/_sim/faults", json=rule, timeout=10).raise_for_status()

    def batch_calls(self) -> int:
        counts = requests.get(f"{self.url}/_sim/calls", timeout=10).json()["counts"]
        return sum(n for k, n in counts.items() if k.startswith("POST") and "/batch" in k)

    def clear_calls(self) -> None:
        requests.delete(f"{self.url}/_sim/calls", timeout=10).raise_for_status()


@pytest.fixture
def qbo(stack, sims) -> Qbo:
    """A firm connected to an empty QBO company through the real OAuth dance."""
    from booksync.boot import boot

    url = sims["qbo"].url
    requests.delete(f"{url}/_sim/faults", timeout=10).raise_for_status()
    tenant = create_tenant("Harbour Accountants")
    key = create_api_key(tenant.tenant_id).key
    reply = requests.post(
        f"{url}/_sim/companies", json={"name": "Harbour Books", "seed": "empty"}, timeout=10
    )
    reply.raise_for_status()
    realm = str(reply.json()["id"])
    status, page = Dance(stack, key).connect("qbo", sim_company=realm)
    assert status == 200, page
    connection = connection_rows.get(tenant.tenant_id, "qbo")
    assert connection is not None
    session = boot(get_settings()).session(connection)
    return Qbo(url, realm, tenant.tenant_id, session)


def item(
    qbo: Qbo,
    kind: str,
    content: Any,
    *,
    hub_id: str | None = None,
    link: Link | None = None,
    sent_before: tuple[dict[str, Any], ...] = (),
) -> PushItem:
    hub_id = hub_id or uuid.uuid4().hex[:12]
    record = Record(qbo.tenant_id, Record.key(kind, hub_id), kind=kind, record_id=hub_id, version=1)
    return PushItem(
        record, content, link, idempotency_key=f"{hub_id}-v1-{kind}"[:36], sent_before=sent_before
    )


def remember(qbo: Qbo, family: Family, pushed: Pushed) -> Link:
    """What the engine does with a Pushed: write the link, keyed by the family's id space."""
    return links.save_link(
        qbo.tenant_id,
        "qbo",
        family.kind,
        pushed.hub_id,
        family.object_type,
        pushed.provider_id,
        provider_version=pushed.provider_version,
        content_hash=pushed.content_hash,
        synced_version=1,
    )


def no_requeue(record: Record, provider: str) -> None:
    """A pull's requeue (the hub won a conflict): nothing here sends it anywhere."""


def contact(name: str, **fields: Any) -> hub.Contact:
    return hub.Contact(name=name, **fields)


def only_pushed(results: list[Any]) -> list[Pushed]:
    assert all(isinstance(r, Pushed) for r in results), results
    return list(results)


def stored(qbo: Qbo, kind: str, content: Any) -> PushItem:
    """A hub record saved in the store (a pull applies changes to stored records)."""
    record = create_record(qbo.tenant_id, kind, content.model_dump(mode="json"))
    return PushItem(record, content, None, idempotency_key=f"{record.record_id}-{kind}"[:36])


def read(qbo: Qbo, cursor: str | None, now: Callable[[], datetime] | None = None) -> Page:
    """One read of the QBO source as the registry builds it: customers (contacts and
    jobs) and employees in one read."""
    return QboChanges([Customers(), Jobs(), Employees()], now=now).read(qbo.session, cursor)


def hub_view(family: Family, change: Change) -> dict[str, Any]:
    """The hub content a change maps to through `family` (as the engine maps it)."""
    assert change.object_type == family.object_type, change
    assert change.raw is not None, change
    content = family.from_provider(change.raw)
    assert content is not None, change
    return content


# ----------------------------------------------------------------------- push: customers


def test_thirty_five_new_contacts_become_customers_in_two_batch_calls(qbo):
    # Given 35 contacts QuickBooks has never seen
    items = [item(qbo, "contact", contact(f"Client {n:02d} Ltd")) for n in range(35)]
    qbo.clear_calls()
    # When they are pushed
    results = only_pushed(Customers().push(qbo.session, items))
    # Then each is a customer, and it took two batch calls (30 + 5)
    assert qbo.batch_calls() == 2
    names = {c["DisplayName"] for c in qbo.customers()}
    assert names == {f"Client {n:02d} Ltd" for n in range(35)}
    assert len({r.provider_id for r in results}) == 35
    assert [r.hub_id for r in results] == [i.record.record_id for i in items]


def test_a_repeated_create_with_the_same_idempotency_keys_creates_nothing_new(qbo):
    # Given a batch of creates that QuickBooks ran, but whose links were never written
    items = [item(qbo, "contact", contact(f"Replay {n}")) for n in range(3)]
    first = only_pushed(Customers().push(qbo.session, items))
    # When the same message is delivered again
    again = only_pushed(Customers().push(qbo.session, items))
    # Then QuickBooks replays its first answer: same customers, no duplicates, no 6240
    assert [r.provider_id for r in again] == [r.provider_id for r in first]
    assert len(qbo.customers()) == 3


def test_a_single_repeated_create_is_replayed_too(qbo):
    one = [item(qbo, "contact", contact("Solo Traders"))]
    first = only_pushed(Customers().push(qbo.session, one))
    again = only_pushed(Customers().push(qbo.session, one))
    assert again[0].provider_id == first[0].provider_id
    assert len(qbo.customers()) == 1


def test_update_is_sparse_and_keeps_what_quickbooks_has_that_we_do_not_send(qbo):
    # Given a customer we created, to which the bookkeeper added notes and a website in QBO
    it = item(qbo, "contact", contact("Bayside Cafe", emails=[{"address": "a@bayside.test"}]))
    pushed = only_pushed(Customers().push(qbo.session, [it]))[0]
    link = remember(qbo, Customers(), pushed)
    qbo.ui_change("Customer", pushed.provider_id, Notes="Pays late", WebAddr={"URI": "x.test"})
    fresh = links.get_link(qbo.tenant_id, "qbo", "contact", it.record.record_id)
    # When the practice changes the email
    changed = contact("Bayside Cafe", emails=[{"address": "accounts@bayside.test"}])
    update = item(qbo, "contact", changed, hub_id=it.record.record_id, link=fresh or link)
    # (the link still holds the SyncToken before the bookkeeper's edit)
    result = Customers().push(qbo.session, [update])[0]
    # Then the email changed and the bookkeeper's fields are still there
    assert isinstance(result, Pushed), result
    stored = qbo.customer(pushed.provider_id)
    assert stored["PrimaryEmailAddr"]["Address"] == "accounts@bayside.test"
    assert stored["Notes"] == "Pays late"
    assert stored["WebAddr"] == {"URI": "x.test"}


def test_a_stale_sync_token_is_re_read_and_retried_once(qbo):
    # Given a linked customer someone edited in QuickBooks after our last write
    it = item(qbo, "contact", contact("Stale & Co"))
    pushed = only_pushed(Customers().push(qbo.session, [it]))[0]
    link = remember(qbo, Customers(), pushed)
    qbo.ui_change("Customer", pushed.provider_id, Notes="edited in QBO")
    # When we update with our old SyncToken
    changed = contact("Stale & Co", phones=[{"number": "555-0101"}])
    result = Customers().push(
        qbo.session, [item(qbo, "contact", changed, hub_id=it.record.record_id, link=link)]
    )[0]
    # Then the update went through with the fresh token
    assert isinstance(result, Pushed), result
    stored = qbo.customer(pushed.provider_id)
    assert stored["PrimaryPhone"]["FreeFormNumber"] == "555-0101"
    assert result.provider_version == stored["SyncToken"] == "2"


def test_a_name_clash_names_the_existing_customer_so_it_can_be_linked(qbo):
    # Given a customer made in QuickBooks by hand
    existing = qbo.ui_create("Customer", DisplayName="Harbour Marine")
    # When a contact with the same name is pushed (as part of a batch)
    items = [
        item(qbo, "contact", contact("Harbour Marine")),
        item(qbo, "contact", contact("Other Client")),
    ]
    results = Customers().push(qbo.session, items)
    # Then that item fails as a duplicate name naming the existing customer; the other is in
    clash = results[0]
    assert isinstance(clash, SyncFailure)
    assert clash.code == "qbo.duplicate_name"
    assert "Another customer, vendor or employee is already using this name" in (
        clash.provider_message
    )
    assert f"Customer Id={existing['Id']}" in clash.provider_message
    assert isinstance(results[1], Pushed)


def test_a_child_contact_becomes_a_sub_customer_of_its_linked_parent(qbo):
    parent = item(qbo, "contact", contact("Group Holdings"))
    remember(qbo, Customers(), only_pushed(Customers().push(qbo.session, [parent]))[0])
    child = item(qbo, "contact", contact("Group Trading", parent_id=parent.record.record_id))
    result = only_pushed(Customers().push(qbo.session, [child]))[0]
    stored = qbo.customer(result.provider_id)
    assert stored["Job"] is True
    assert stored["FullyQualifiedName"] == "Group Holdings:Group Trading"


def test_parent_and_child_in_one_push_go_parent_first(qbo):
    parent = item(qbo, "contact", contact("Family Trust"))
    child = item(qbo, "contact", contact("Family Trust Sub", parent_id=parent.record.record_id))
    results = only_pushed(Customers().push(qbo.session, [child, parent]))
    assert qbo.customer(results[0].provider_id)["ParentRef"]["value"] == results[1].provider_id


def test_a_child_whose_parent_is_not_in_quickbooks_yet_is_retried_later(qbo):
    orphan = item(qbo, "contact", contact("Orphan Pty", parent_id="never-synced"))
    result = Customers().push(qbo.session, [orphan])[0]
    assert isinstance(result, SyncFailure)
    assert result.code == "qbo.unavailable"
    assert result.kind == "transient"
    assert qbo.customers() == []


def test_a_sixth_level_sub_customer_is_a_depth_limit_error(qbo):
    # Given a chain of six linked contacts (levels 0..5)
    parent_id = None
    for level in range(6):
        it = item(qbo, "contact", contact(f"Level {level}", parent_id=parent_id))
        remember(qbo, Customers(), only_pushed(Customers().push(qbo.session, [it]))[0])
        parent_id = it.record.record_id
    # When a seventh hangs below level 5
    too_deep = item(qbo, "contact", contact("Level 6", parent_id=parent_id))
    result = Customers().push(qbo.session, [too_deep])[0]
    # Then it is a clear error a person must fix, with QuickBooks' words
    assert isinstance(result, SyncFailure)
    assert result.code == "qbo.depth_limit"
    assert result.kind == "needs_fix"
    assert "5 levels" in result.provider_message


def test_a_work_item_becomes_a_job_under_its_contacts_customer(qbo):
    client = item(qbo, "contact", contact("Jobs Client"))
    linked = remember(qbo, Customers(), only_pushed(Customers().push(qbo.session, [client]))[0])
    work = hub.WorkItem(contact_id=client.record.record_id, name="2025 Year End")
    result = only_pushed(Jobs().push(qbo.session, [item(qbo, "work_item", work)]))[0]
    stored = qbo.customer(result.provider_id)
    assert stored["ParentRef"]["value"] == linked.provider_id
    assert stored["BillWithParent"] is True
    assert stored["FullyQualifiedName"] == "Jobs Client:2025 Year End"


def _client_with_job(qbo: Qbo, client_name: str, job_name: str) -> tuple[PushItem, Any]:
    client = item(qbo, "contact", contact(client_name))
    remember(qbo, Customers(), only_pushed(Customers().push(qbo.session, [client]))[0])
    work = hub.WorkItem(contact_id=client.record.record_id, name=job_name)
    return client, item(qbo, "work_item", work)


def test_a_job_named_like_another_clients_job_asks_for_a_rename_not_a_link(qbo):
    # Given a job "2026 Year End" sent for one client (QuickBooks' names are unique
    # across all customers, jobs of other clients included)
    _, first = _client_with_job(qbo, "Harbour Marine", "2026 Year End")
    existing = only_pushed(Jobs().push(qbo.session, [first]))[0]
    # When another client's work item of the same name is sent
    _, second = _client_with_job(qbo, "Bayside Dental", "2026 Year End")
    result = Jobs().push(qbo.session, [second])[0]
    # Then it is a sync error of its own kind that asks for a rename and names the job
    # holding the name, not the customer-clash error that offers linking
    assert isinstance(result, SyncFailure)
    assert result.code == "qbo.duplicate_job_name"
    assert result.kind == "needs_fix"
    assert "Rename the work item" in result.spec.fix
    assert f"Customer Id={existing.provider_id}" in result.provider_message
    assert [c["DisplayName"] for c in qbo.customers()].count("2026 Year End") == 1


def test_a_job_whose_create_reply_was_lost_is_recognised_as_ours_on_retry(qbo):
    # Given a job created in QuickBooks whose answer never reached us (no link written)
    _, job = _client_with_job(qbo, "Harbour Marine", "2026 Year End")
    created = only_pushed(Jobs().push(qbo.session, [job]))[0]
    # When the create is sent again under another request id, as a retry in a new bundle
    # (the engine hands it what the lost create wrote: its intent)
    retry = PushItem(
        job.record, job.content, None, "other-request-id", sent_before=(Jobs().intent(job),)
    )
    result = Jobs().push(qbo.session, [retry])[0]
    # Then the job QuickBooks already holds is ours: linked, not a clash, not a second job
    assert isinstance(result, Pushed)
    assert result.provider_id == created.provider_id
    assert [c["DisplayName"] for c in qbo.customers()].count("2026 Year End") == 1


def test_a_contact_renamed_after_its_create_was_lost_is_found_by_the_name_that_create_sent(qbo):
    # Given a customer created in QuickBooks whose answer never reached us (no link
    # written), and the contact renamed in the hub before the retry
    first = item(qbo, "contact", contact("Harbour Marine"))
    created = only_pushed(Customers().push(qbo.session, [first]))[0]
    renamed = contact("Harbour Marine Group")
    # When the create is tried again, under another request id, with the intent of the
    # lost create
    retry = PushItem(
        first.record, renamed, None, "other-request-id", sent_before=(Customers().intent(first),)
    )
    result = Customers().push(qbo.session, [retry])[0]
    # Then the customer the lost create made is found by the name it sent, and brought up
    # to date: one customer, ours, with the new name
    assert isinstance(result, Pushed), result
    assert result.provider_id == created.provider_id
    assert [c["DisplayName"] for c in qbo.customers()] == ["Harbour Marine Group"]
    assert result.content_hash == Customers().fingerprint_of(qbo.customer(created.provider_id))


def test_a_job_made_from_a_work_item_comes_back_as_that_work_item_not_a_new_contact(qbo):
    # Given a work item sent as a job, and a plain sub-customer made in QuickBooks
    client = stored(qbo, "contact", contact("Jobs Client"))
    parent = remember(qbo, Customers(), only_pushed(Customers().push(qbo.session, [client]))[0])
    work = stored(
        qbo, "work_item", hub.WorkItem(contact_id=client.record.record_id, name="2025 Year End")
    )
    job = only_pushed(Jobs().push(qbo.session, [work]))[0]
    remember(qbo, Jobs(), job)
    theirs = qbo.ui_create(
        "Customer", DisplayName="Their Job", Job=True, ParentRef={"value": parent.provider_id}
    )
    # When the bookkeeper renames our job in QuickBooks (and makes it inactive) and the
    # pull runs
    qbo.ui_change("Customer", job.provider_id, DisplayName="2025 Year End Accounts", Active=False)
    result = PullResult()
    apply_changes(qbo.session, read(qbo, None).changes, no_requeue, result)
    # Then our job changed the work item: the new name only (its status stays the hub's)
    after = record_rows.get(qbo.tenant_id, "work_item", work.record.record_id)
    assert after is not None
    assert after.data["name"] == "2025 Year End Accounts"
    assert after.data["status"] == "active"
    assert after.data["contact_id"] == client.record.record_id
    ours = links.find_by_provider_id(qbo.tenant_id, "qbo", "Customer", job.provider_id)
    assert ours is not None
    assert links.kind_of(ours) == "work_item"
    assert links.hub_id_of(ours) == work.record.record_id
    # and no contact was made of it; the sub-customer we did not make is a contact, under
    # its parent, as before
    theirs_link = links.find_by_provider_id(qbo.tenant_id, "qbo", "Customer", theirs["Id"])
    assert theirs_link is not None
    assert links.kind_of(theirs_link) == "contact"
    made = record_rows.get(qbo.tenant_id, "contact", links.hub_id_of(theirs_link))
    assert made is not None
    assert made.data["name"] == "Their Job"
    assert made.data["parent_id"] == client.record.record_id
    contacts = record_rows.all_of_kind(qbo.tenant_id, "contact")
    assert sorted(str(r.data["name"]) for r in contacts) == ["Jobs Client", "Their Job"]


# ----------------------------------------------------------------------- push: staff


def test_a_user_is_matched_to_an_existing_employee_by_email_before_creating(qbo):
    existing = qbo.ui_create(
        "Employee",
        GivenName="Sam",
        FamilyName="Lee",
        DisplayName="Samuel Lee",
        PrimaryEmailAddr={"Address": "sam@harbour.test"},
    )
    user = hub.User(first_name="Sam", last_name="Lee", email="SAM@harbour.test")
    result = only_pushed(Employees().push(qbo.session, [item(qbo, "user", user)]))[0]
    assert result.provider_id == existing["Id"]
    assert len(qbo.objects("Employee")) == 1


def test_a_new_user_becomes_an_employee(qbo):
    user = hub.User(first_name="Ana", last_name="Ruiz", email="ana@harbour.test")
    result = only_pushed(Employees().push(qbo.session, [item(qbo, "user", user)]))[0]
    assert qbo.client().read("Employee", result.provider_id)["DisplayName"] == "Ana Ruiz"


# ----------------------------------------------------------------------- errors


def test_throttling_is_rate_limited_with_a_wait(qbo):
    qbo.fault(action="throttle", path="/batch", count=1)
    items = [item(qbo, "contact", contact(f"Busy {n}")) for n in range(2)]
    results = Customers().push(qbo.session, items)
    assert all(isinstance(r, SyncFailure) and r.code == "qbo.throttled" for r in results)
    assert results[0].kind == "rate_limited"
    assert results[0].retry_after == 60  # QBO names no Retry-After: its window's length
    assert not results[0].wait_named  # (the connection's hold escalates up to it)
    assert "ThrottleExceeded" in results[0].provider_message


def test_a_server_error_is_transient(qbo):
    qbo.fault(action="error", status=503, path="/customer", count=1)
    result = Customers().push(qbo.session, [item(qbo, "contact", contact("Down Ltd"))])[0]
    assert isinstance(result, SyncFailure)
    assert result.code == "qbo.unavailable"
    assert result.kind == "transient"


def test_a_5010_saying_the_period_is_closed_is_a_period_closed_error(qbo):
    # python-quickbooks #208: "Account Period Closed" came with code 5010
    body = {
        "Fault": {
            "Error": [
                {
                    "Message": "Account Period Closed, Cannot Update Through Services API",
                    "Detail": "Stale Object Error : The account period has closed",
                    "code": "5010",
                }
            ],
            "type": "ValidationFault",
        },
        "time": "2025-01-01T00:00:00.000-08:00",
    }
    qbo.fault(action="error", status=400, path="/customer", count=1, body=body)
    result = Customers().push(qbo.session, [item(qbo, "contact", contact("Closed Co"))])[0]
    assert isinstance(result, SyncFailure)
    assert result.code == "qbo.period_closed"
    assert result.provider_message.startswith("Account Period Closed")


# ----------------------------------------------------------------------- pull


def test_first_pull_lists_every_customer_and_employee_active_or_not(qbo):
    kept = qbo.ui_create("Customer", DisplayName="Kept Ltd")
    gone = qbo.ui_create("Customer", DisplayName="Gone Ltd")
    requests.delete(f"{qbo.sim_objects}/Customer/{gone['Id']}", timeout=10).raise_for_status()
    qbo.ui_create("Employee", GivenName="Pat", FamilyName="Ng")
    page = read(qbo, None)
    by_id = {(c.object_type, c.provider_id): c for c in page.changes}
    assert hub_view(Customers(), by_id[("Customer", kept["Id"])])["active"] is True
    assert hub_view(Customers(), by_id[("Customer", gone["Id"])])["active"] is False
    assert any(
        c.object_type == "Employee" and hub_view(Employees(), c)["first_name"] == "Pat"
        for c in page.changes
    )
    assert datetime.fromisoformat(page.cursor).tzinfo is not None


def test_cdc_pull_sees_a_change_made_in_the_quickbooks_screens_and_a_deactivation(qbo):
    # Given two customers and a cursor from a first pull
    a = qbo.ui_create(
        "Customer",
        DisplayName="Screen Co",
        ParentRef=None,
        PrimaryEmailAddr={"Address": "o@s.test"},
    )
    b = qbo.ui_create("Customer", DisplayName="Closing Co")
    cursor = read(qbo, None).cursor
    # When the bookkeeper edits one and deactivates the other in QuickBooks
    qbo.ui_change(
        "Customer",
        a["Id"],
        PrimaryEmailAddr={"Address": "new@s.test"},
        Mobile={"FreeFormNumber": "0400 000 000"},
        ShipAddr={"Line1": "1 Quay St", "City": "Harbour"},
    )
    requests.delete(
        f"{qbo.sim_objects}/Customer/{b['Id']}", params={"action": "archive"}, timeout=10
    ).raise_for_status()
    # Then the next pull, from the cursor, carries both changes
    # (our own clock is wrong on purpose: the cursor must be QuickBooks' time, not ours)
    page = read(qbo, cursor, now=lambda: datetime(2001, 1, 1, tzinfo=UTC))
    by_id = {c.provider_id: c for c in page.changes if c.object_type == "Customer"}
    edited = hub_view(Customers(), by_id[a["Id"]])
    assert edited["emails"] == [{"address": "new@s.test", "label": "primary"}]
    assert {"number": "0400 000 000", "label": "mobile"} in edited["phones"]
    assert edited["physical_address"]["line1"] == "1 Quay St"
    assert hub_view(Customers(), by_id[b["Id"]])["active"] is False
    assert datetime.fromisoformat(page.cursor) >= datetime.fromisoformat(cursor)


def test_a_cursor_older_than_thirty_days_falls_back_to_a_full_pull(qbo):
    qbo.ui_create("Customer", DisplayName="Old Friend")
    old = (datetime.now(UTC) - timedelta(days=45)).isoformat()
    page = read(qbo, old)
    names = [hub_view(Customers(), c)["name"] for c in page.changes if c.object_type == "Customer"]
    assert names == ["Old Friend"]


def test_our_own_push_pulled_back_hashes_the_same_as_we_sent(qbo):
    sent = contact(
        "Echo Ltd",
        emails=[{"address": "e@echo.test"}],
        phones=[{"number": "555", "label": "fax"}],
        mailing_address={"line1": "PO Box 1", "city": "Harbour"},
    )
    pushed = only_pushed(Customers().push(qbo.session, [item(qbo, "contact", sent)]))[0]
    page = read(qbo, None)
    pulled = next(c for c in page.changes if c.provider_id == pushed.provider_id)
    assert hub.content_hash(hub_view(Customers(), pulled)) == pushed.content_hash
    assert pulled.provider_version == pushed.provider_version


def test_list_customers_pages_raw_customers_for_the_importer(qbo):
    qbo.ui_create("Customer", DisplayName="Import Me")
    assert [c["DisplayName"] for c in list_all(qbo.session, "Customer")] == ["Import Me"]
    assert [c["DisplayName"] for c in Customers().import_list(qbo.session)] == ["Import Me"]
