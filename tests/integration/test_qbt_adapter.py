"""booksync's QuickBooks Time families against the QBT simulator, through a tenant connected
by the real OAuth dance: contacts and work items as jobcodes, users, custom fields, pull."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from booksync.boot import boot
from booksync.engine.pull import PullResult, pull
from booksync.engine.push import Wanted, push_records
from booksync.engine.seam import Change, Family, ProviderSession, PushItem
from booksync.errors import SyncFailure
from booksync.hub.entities import entity
from booksync.hub.records import create_record, update_record
from booksync.providers import registry
from booksync.providers.qbt.changes import QbtChanges, stamp
from booksync.providers.qbt.custom_fields import ensure_custom_fields
from booksync.providers.qbt.jobcodes import CLIENTS, WORK_ITEMS, Jobcodes
from booksync.providers.qbt.users import Users, unmatched_users
from booksync.settings import get_settings
from booksync.store import Connection, Record, links
from booksync.store import connections as connection_rows
from booksync.store import records as record_rows
from booksync.store.tenants import create_api_key, create_tenant
from tests.conftest import _stack_env, load_handler
from tests.integration.oauth_dance import Dance

JOBCODES = "/api/v1/jobcodes"


@pytest.fixture(scope="module")
def stack_env(sims):
    """The moto stack pointing at the simulators, built once for this module (each test
    connects a new tenant to a new QBT company, so tests still share no data)."""
    with pytest.MonkeyPatch.context() as mp:
        for handle in sims.values():
            requests.post(f"{handle.url}/_sim/reset", timeout=10).raise_for_status()
        yield from _stack_env(mp, {name: h.url for name, h in sims.items()})


@pytest.fixture(scope="module")
def oauth_handler(stack_env):
    with pytest.MonkeyPatch.context() as mp:
        yield load_handler("oauth", mp).lambda_handler


@dataclass
class Qbt:
    """A tenant connected to a fresh QBT company, and what a test needs around it."""

    tenant_id: str
    connection: Connection
    session: ProviderSession
    sim: str
    company: str

    def objects(self, kind: str) -> list[dict[str, Any]]:
        url = f"{self.sim}/_sim/companies/{self.company}/objects/{kind}"
        return requests.get(url, timeout=10).json()["objects"]

    def jobcode(self, jobcode_id: str | int) -> dict[str, Any]:
        return next(j for j in self.objects("jobcodes") if str(j["id"]) == str(jobcode_id))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [j for j in self.objects("jobcodes") if j["name"] == name]

    def in_qbt(self, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A person creates something in QuickBooks Time's own screens."""
        url = f"{self.sim}/_sim/companies/{self.company}/objects/{kind}"
        reply = requests.post(url, json=fields, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def edit_in_qbt(self, kind: str, object_id: Any, fields: dict[str, Any]) -> None:
        url = f"{self.sim}/_sim/companies/{self.company}/objects/{kind}/{object_id}"
        requests.patch(url, json=fields, timeout=10).raise_for_status()

    def calls(self, method: str, endpoint: str) -> int:
        counts = requests.get(f"{self.sim}/_sim/calls", timeout=10).json()["counts"]
        return int(counts.get(f"{method} {endpoint}", 0))

    def fault(self, **rule: Any) -> None:
        requests.post(f"{self.sim}/_sim/faults", json=rule, timeout=10).raise_for_status()

    def advance_clock(self, seconds: int) -> None:
        url = f"{self.sim}/_sim/clock/advance"
        requests.post(url, json={"seconds": seconds}, timeout=10).raise_for_status()

    def push(self, family: Family, records: list[Record]) -> list[Exception | None]:
        """Push as the qbt_push worker does (the engine writes the links); one answer each."""
        wanted = [Wanted(r.kind, r.record_id) for r in records]
        outcome = push_records(self.session, family, wanted)
        return [outcome.results[r.record_id] for r in records]

    def pull(self) -> PullResult:
        """Pull as the qbt_pull worker does: every QBT source read from its cursor and
        applied to the hub by the engine (a hub win would be requeued: not here)."""
        return pull(self.session, lambda record, provider: None)

    def link(self, record: Record) -> str:
        found = links.get_link(self.tenant_id, "qbt", record.kind, record.record_id)
        assert found is not None, f"{record.kind} {record.record_id} has no link"
        return found.provider_id


@pytest.fixture
def qbt(stack_env, oauth_handler, sims) -> Qbt:
    sim = sims["qbt"].url
    company = requests.post(
        f"{sim}/_sim/companies", json={"name": "Harbour Time", "seed": "empty"}, timeout=10
    ).json()["id"]
    tenant = create_tenant("Harbour Accounting")
    status, page = Dance(oauth_handler, create_api_key(tenant.tenant_id).key).connect(
        "qbt", sim_company=company
    )
    assert status == 200, page
    connection = connection_rows.get(tenant.tenant_id, "qbt")
    assert connection is not None
    session = boot(get_settings()).session(connection)
    requests.delete(f"{sim}/_sim/calls", timeout=10).raise_for_status()
    return Qbt(tenant.tenant_id, connection, session, sim, str(company))


def contact(q: Qbt, name: str, **fields: Any) -> Record:
    return create_record(q.tenant_id, "contact", {"name": name, **fields})


def edit(q: Qbt, record: Record, **changes: Any) -> Record:
    return update_record(q.tenant_id, record.kind, record.record_id, {**record.data, **changes})


def stored(q: Qbt, record: Record) -> Record:
    """The record as the store holds it now."""
    found = record_rows.get(q.tenant_id, record.kind, record.record_id)
    assert found is not None
    return found


def no_failures(results: list[Exception | None]) -> bool:
    return all(r is None for r in results)


# -------------------------------------------------------------------------------- jobcodes


def test_120_contacts_become_top_level_jobcodes_in_three_writes(qbt):
    # Given 120 contacts in the hub and none in QuickBooks Time
    records = [contact(qbt, f"Client {n:03d}") for n in range(120)]
    # When they are pushed
    results = qbt.push(CLIENTS, records)
    # Then each is a top-level jobcode, written 50 at a time, and linked by id
    assert no_failures(results), results
    assert qbt.calls("POST", JOBCODES) == 3
    top = {j["name"]: j for j in qbt.objects("jobcodes") if j["parent_id"] == 0}
    assert {f"Client {n:03d}" for n in range(120)} <= set(top)
    assert {qbt.link(r) for r in records} == {str(top[r.data["name"]]["id"]) for r in records}


def test_a_batch_of_new_names_is_created_without_reading_the_account_first(qbt):
    # Given 40 hub contacts, three of whose names QuickBooks Time already has (one archived)
    existing = [qbt.in_qbt("jobcodes", {"name": f"Client {n:03d}"}) for n in (3, 17, 29)]
    qbt.edit_in_qbt("jobcodes", existing[2]["id"], {"active": False})
    records = [contact(qbt, f"Client {n:03d}") for n in range(40)]
    # When they are pushed
    results = qbt.push(CLIENTS, records)
    # Then one write sends all 40, and no read of the account's jobcodes precedes it (a
    # listing grows with the account: 25 calls a batch at 5,000 clients)
    assert no_failures(results), results
    assert qbt.calls("POST", JOBCODES) == 1
    assert qbt.calls("GET", JOBCODES) == 0
    # And the three QBT answered 202 for are linked, the archived one restored, none twice
    for jobcode, record in zip(existing, (records[3], records[17], records[29]), strict=True):
        assert qbt.link(record) == str(jobcode["id"])
    assert qbt.jobcode(existing[2]["id"])["active"] is True
    names = [j["name"] for j in qbt.objects("jobcodes") if j["type"] == "regular"]
    assert sorted(names) == [f"Client {n:03d}" for n in range(40)]


def test_a_202_without_the_jobcode_is_followed_by_a_look_up_by_name(qbt):
    # Given four names QuickBooks Time already has, and a create reply whose 202s carry no
    # id (the docs do not say that a 202 echoes the existing jobcode)
    existing = [qbt.in_qbt("jobcodes", {"name": f"Client {n}"}) for n in range(4)]
    accepted = {"_status_code": 202, "_status_message": "Accepted"}
    body = {"results": {"jobcodes": {str(i): accepted for i in range(1, 5)}}, "more": False}
    qbt.fault(
        action="error", method="POST", path="^/api/v1/jobcodes$", status=200, body=body, count=1
    )
    records = [contact(qbt, f"Client {n}") for n in range(4)]
    # When they are pushed
    results = qbt.push(CLIENTS, records)
    # Then each is found by name and linked
    assert no_failures(results), results
    assert [qbt.link(r) for r in records] == [str(j["id"]) for j in existing]
    assert qbt.calls("GET", JOBCODES) == 4


def test_existing_jobcode_with_the_same_name_under_the_same_parent_is_linked_not_duplicated(qbt):
    # Given "Acme Corp" already exists at the top level in QuickBooks Time
    existing = qbt.in_qbt("jobcodes", {"name": "Acme Corp"})
    record = contact(qbt, "Acme Corp")
    # When the hub contact of that name is pushed
    results = qbt.push(CLIENTS, [record])
    # Then it is linked to the existing jobcode and nothing is created
    assert no_failures(results), results
    assert qbt.link(record) == str(existing["id"])
    assert len(qbt.named("Acme Corp")) == 1
    assert qbt.calls("POST", JOBCODES) == 0


def test_same_name_under_another_parent_is_not_a_match_and_a_jobcode_is_created(qbt):
    # Given "Acme Corp" exists only as a job under another client
    globex = qbt.in_qbt("jobcodes", {"name": "Globex Ltd"})
    child = qbt.in_qbt("jobcodes", {"name": "Acme Corp", "parent_id": globex["id"]})
    record = contact(qbt, "Acme Corp")
    # When the contact "Acme Corp" is pushed
    qbt.push(CLIENTS, [record])
    # Then a top-level "Acme Corp" is created and linked
    linked = qbt.jobcode(qbt.link(record))
    assert linked["id"] != child["id"]
    assert linked["parent_id"] == 0
    assert len(qbt.named("Acme Corp")) == 2


def test_archived_jobcode_of_the_same_name_is_linked_and_restored(qbt):
    old = qbt.in_qbt("jobcodes", {"name": "Initech"})
    qbt.edit_in_qbt("jobcodes", old["id"], {"active": False})
    record = contact(qbt, "Initech")
    results = qbt.push(CLIENTS, [record])
    assert no_failures(results), results
    assert qbt.link(record) == str(old["id"])
    assert qbt.jobcode(old["id"])["active"] is True


def test_two_contacts_of_one_name_do_not_share_a_jobcode(qbt):
    # Given two hub contacts both named "John Smith"
    first, second = contact(qbt, "John Smith"), contact(qbt, "john smith")
    # When they are pushed together
    results = qbt.push(CLIENTS, [first, second])
    # Then one gets the jobcode and the other a sync error a person can act on
    assert results[0] is None
    assert isinstance(results[1], SyncFailure)
    assert results[1].code == "qbt.validation"
    assert len(qbt.named("John Smith")) == 1
    # And a later push of the second does not take over the first one's jobcode
    [again] = qbt.push(CLIENTS, [second])
    assert isinstance(again, SyncFailure)
    assert links.get_link(qbt.tenant_id, "qbt", "contact", second.record_id) is None


def test_renaming_a_contact_renames_its_jobcode_by_id(qbt):
    # Given a contact pushed as a jobcode
    record = contact(qbt, "Acme Corp")
    qbt.push(CLIENTS, [record])
    jobcode_id = qbt.link(record)
    # When the contact is renamed in the hub and pushed again
    results = qbt.push(CLIENTS, [edit(qbt, record, name="Acme Group")])
    # Then the same jobcode carries the new name; no second jobcode exists
    assert no_failures(results), results
    assert qbt.jobcode(jobcode_id)["name"] == "Acme Group"
    assert qbt.named("Acme Corp") == []
    assert qbt.link(record) == jobcode_id


def test_renaming_a_jobcode_in_qbt_does_not_reach_the_hub(qbt):
    # Given a contact pushed as a jobcode, which someone renames in QuickBooks Time
    record = contact(qbt, "Acme Corp")
    qbt.push(CLIENTS, [record])
    qbt.edit_in_qbt("jobcodes", qbt.link(record), {"name": "ACME (do not use)"})
    # When the connection is pulled
    result = qbt.pull()
    # Then the hub contact keeps its name and nothing but users came back
    assert result.applied == 0
    assert stored(qbt, record).data["name"] == "Acme Corp"
    assert stored(qbt, record).version == record.version


def test_deactivating_a_contact_archives_its_jobcode_and_reactivating_restores_it(qbt):
    record = contact(qbt, "Acme Corp")
    qbt.push(CLIENTS, [record])
    jobcode_id = qbt.link(record)
    # When deactivated: archived
    record = edit(qbt, record, active=False)
    assert no_failures(qbt.push(CLIENTS, [record]))
    assert qbt.jobcode(jobcode_id)["active"] is False
    # When renamed while inactive: nothing QBT refuses (an archived jobcode cannot be edited)
    record = edit(qbt, record, name="Acme Group")
    assert no_failures(qbt.push(CLIENTS, [record]))
    # When active again: restored and renamed in the same edit
    record = edit(qbt, record, active=True)
    assert no_failures(qbt.push(CLIENTS, [record]))
    restored = qbt.jobcode(jobcode_id)
    assert (restored["active"], restored["name"]) == (True, "Acme Group")


def test_work_item_becomes_a_child_jobcode_of_its_contact(qbt):
    client = contact(qbt, "Acme Corp")
    qbt.push(CLIENTS, [client])
    job = create_record(
        qbt.tenant_id, "work_item", {"contact_id": client.record_id, "name": "Year-end"}
    )
    results = qbt.push(WORK_ITEMS, [job])
    assert no_failures(results), results
    child = qbt.jobcode(qbt.link(job))
    assert child["name"] == "Year-end"
    assert str(child["parent_id"]) == qbt.link(client)


def test_work_item_waits_while_its_contact_is_not_yet_in_qbt(qbt):
    client = contact(qbt, "Acme Corp")
    job = create_record(
        qbt.tenant_id, "work_item", {"contact_id": client.record_id, "name": "Year-end"}
    )
    [failure] = qbt.push(WORK_ITEMS, [job])
    assert isinstance(failure, SyncFailure)
    assert failure.code == "qbt.unavailable"  # transient: retried after the contact goes
    assert "client jobcode not yet" in failure.provider_message
    assert qbt.named("Year-end") == []


def test_retry_after_a_crash_between_write_and_link_creates_no_duplicate(qbt):
    # Given contacts written to QBT whose links were never saved (the worker died)
    records = [contact(qbt, f"Client {n}") for n in range(5)]
    first = CLIENTS.push(qbt.session, _items(records))
    assert all(not isinstance(r, Exception) for r in first)
    # When the message is delivered again
    results = qbt.push(CLIENTS, records)
    # Then the jobcodes already there are linked; none is created twice (the retry's
    # write is answered 202, "already exists", for each)
    assert no_failures(results), results
    assert qbt.calls("POST", JOBCODES) == 2
    assert all(len(qbt.named(f"Client {n}")) == 1 for n in range(5))
    assert {qbt.link(r) for r in records} == {r.provider_id for r in first}


def _items(records: list[Record]) -> list[PushItem]:
    return [
        PushItem(r, entity(r.kind).model.model_validate(r.data), None, f"key-{r.record_id}")
        for r in records
    ]


def test_new_jobcodes_are_assigned_to_all_users_when_the_firm_asks(qbt):
    record = contact(qbt, "Acme Corp")
    results = qbt.push(Jobcodes("contact", assign_to_all_users=True), [record])
    assert no_failures(results), results
    assert qbt.jobcode(qbt.link(record))["assigned_to_all"] is True
    assignments = qbt.objects("jobcode_assignments")
    assert any(a["user_id"] == 0 and str(a["jobcode_id"]) == qbt.link(record) for a in assignments)


def test_throttled_push_is_classified_as_rate_limited_and_the_retry_goes_through(qbt):
    # Given QBT answers the next jobcode lookup with its 429 (no Retry-After header)
    qbt.fault(action="throttle", method="GET", path="/jobcodes", count=1)
    record = contact(qbt, "Acme Corp")
    # When the contact is pushed
    [failure] = qbt.push(CLIENTS, [record])
    # Then it waits a minute, as a rate limit, and nothing was written
    assert isinstance(failure, SyncFailure)
    assert failure.code == "qbt.throttled"
    assert failure.retry_after == 60
    assert qbt.named("Acme Corp") == []
    # And the retry succeeds
    assert no_failures(qbt.push(CLIENTS, [record]))
    assert len(qbt.named("Acme Corp")) == 1


# ----------------------------------------------------------------------------------- users


def hub_user(q: Qbt, first: str, last: str, email: str) -> Record:
    return create_record(
        q.tenant_id, "user", {"first_name": first, "last_name": last, "email": email}
    )


def test_users_are_matched_by_email_and_the_rest_created_with_time_tracking_on(qbt):
    # Given a QBT user with Blair's email, and one whose *username* is Casey's email
    blair = qbt.in_qbt(
        "users",
        {
            "username": "bkeeper",
            "first_name": "Blair",
            "last_name": "Keeper",
            "email": "blair@harbour.example",
        },
    )
    namesake = qbt.in_qbt(
        "users",
        {
            "username": "casey@harbour.example",
            "first_name": "Casey",
            "last_name": "Other",
            "email": "casey.other@harbour.example",
        },
    )
    records = [
        hub_user(qbt, "Blair", "Keeper", "Blair@Harbour.example"),
        hub_user(qbt, "Casey", "Payne", "casey@harbour.example"),
    ]
    # When the hub users are pushed
    results = qbt.push(Users(), records)
    # Then Blair is linked by email; Casey is a new user (a username is no match)
    assert no_failures(results), results
    assert qbt.link(records[0]) == str(blair["id"])
    assert qbt.link(records[1]) != str(namesake["id"])
    users = {str(u["id"]): u for u in qbt.objects("users")}
    casey = users[qbt.link(records[1])]
    assert casey["email"] == "casey@harbour.example"
    assert casey["permissions"]["time_tracking"] is True
    assert casey["username"] != namesake["username"]  # usernames are unique in QBT
    assert len(users) == 4  # the owner, Blair, the namesake and the new Casey


def test_a_pushed_user_read_back_by_the_pull_is_our_own_echo(qbt):
    # Given a hub user we created in QBT
    record = hub_user(qbt, "Devon", "Ledger", "devon@harbour.example")
    assert no_failures(qbt.push(Users(), [record]))
    # When the pull reads the users back
    result = qbt.pull()
    # Then ours is recognised as the echo of our write and the hub record is untouched
    assert result.echoes == 1
    assert result.applied == 0
    assert stored(qbt, record).version == record.version


def test_a_surname_changed_in_qbt_reaches_the_linked_hub_user(qbt):
    record = hub_user(qbt, "Devon", "Ledger", "devon@harbour.example")
    qbt.push(Users(), [record])
    qbt.pull()
    qbt.advance_clock(5)
    qbt.edit_in_qbt("users", qbt.link(record), {"last_name": "Ledger-Smith"})
    result = qbt.pull()
    assert result.applied == 1
    assert stored(qbt, record).data["last_name"] == "Ledger-Smith"


def test_pushing_users_again_creates_no_one_twice(qbt):
    records = [hub_user(qbt, "Devon", "Ledger", "devon@harbour.example")]
    Users().push(qbt.session, _items(records))  # written, but the link was lost
    assert no_failures(qbt.push(Users(), records))
    assert [u["email"] for u in qbt.objects("users")].count("devon@harbour.example") == 1


def test_qbt_users_without_a_hub_match_are_listed_with_the_reason(qbt):
    # Given QBT users: one matched, one without email, one archived, one unknown to the hub
    qbt.in_qbt(
        "users",
        {
            "username": "blair",
            "first_name": "Blair",
            "last_name": "K",
            "email": "blair@harbour.example",
        },
    )
    qbt.in_qbt("users", {"username": "noemail", "first_name": "No", "last_name": "Mail"})
    gone = qbt.in_qbt(
        "users",
        {
            "username": "gone",
            "first_name": "Gone",
            "last_name": "User",
            "email": "gone@harbour.example",
        },
    )
    qbt.edit_in_qbt("users", gone["id"], {"active": False})
    hub_users = [{"first_name": "Blair", "last_name": "K", "email": "BLAIR@harbour.example"}]
    # When the unmatched users are listed
    listed = {u["username"]: u["reason"] for u in unmatched_users(qbt.session, hub_users)}
    # Then each unmatched one says why; the matched one is not listed
    assert listed == {"admin": "no_hub_user", "noemail": "no_email", "gone": "archived"}


def hub_users_in(changes: list[Change]) -> list[dict[str, Any]]:
    """The hub users changes map to (a QBT user without email or name maps to none)."""
    mapped = [Users().from_provider(c.raw) for c in changes if c.raw is not None]
    return [u for u in mapped if u is not None]


def test_pull_returns_users_changed_since_the_cursor_and_no_jobcodes(qbt):
    # Given a first pull of everyone, the newest a user added after the owner
    qbt.advance_clock(5)
    qbt.in_qbt(
        "users",
        {
            "username": "blair",
            "first_name": "Blair",
            "last_name": "Keeper",
            "email": "blair@harbour.example",
        },
    )
    # (one source reads QBT's changes, users and timesheets: jobcodes are pushed only)
    assert [source.name for source in registry.sources("qbt")] == [QbtChanges.name]
    first = QbtChanges([Users()]).read(qbt.session, None)
    cursor = first.cursor
    assert {u["email"] for u in hub_users_in(first.changes)} >= {"blair@harbour.example"}
    # When Blair's surname changes in QBT later on (and a jobcode is renamed there)
    qbt.advance_clock(5)
    blair = next(u for u in qbt.objects("users") if u["username"] == "blair")
    qbt.edit_in_qbt("users", blair["id"], {"last_name": "Ledger"})
    jobcode = qbt.in_qbt("jobcodes", {"name": "Acme Corp"})
    qbt.edit_in_qbt("jobcodes", jobcode["id"], {"name": "Acme Group"})
    page = QbtChanges([Users()]).read(qbt.session, cursor)
    changes, later = page.changes, page.cursor
    # Then only that user comes back, hub-shaped, and the cursor moves on
    assert [(c.object_type, c.provider_id, hub_users_in([c])) for c in changes] == [
        (
            "user",
            str(blair["id"]),
            [
                {
                    "first_name": "Blair",
                    "last_name": "Ledger",
                    "email": "blair@harbour.example",
                    "active": True,
                }
            ],
        )
    ]
    assert stamp(json.loads(later)["users"]) > stamp(json.loads(cursor)["users"])
    assert changes[0].changed_at.tzinfo is not None


# --------------------------------------------------------------------------- custom fields


def active_items(q: Qbt, field_id: str) -> set[str]:
    return {
        i["name"]
        for i in q.objects("customfielditems")
        if str(i["customfield_id"]) == field_id and i["active"]
    }


def test_custom_fields_are_created_once_and_their_items_kept_in_step(qbt):
    # Given a first setup
    ids = ensure_custom_fields(qbt.session, ["Bookkeeping", "Tax"], ["Partner", "Manager"])
    fields = {str(f["id"]): f for f in qbt.objects("customfields")}
    assert fields[ids["task_type"]]["name"] == "Task type"
    assert fields[ids["role"]]["name"] == "Role"
    assert fields[ids["task_type"]]["type"] == "managed-list"
    assert active_items(qbt, ids["task_type"]) == {"Bookkeeping", "Tax"}
    # When the hub's task types change and setup runs again
    again = ensure_custom_fields(qbt.session, ["Bookkeeping", "Payroll"], ["Partner", "Manager"])
    # Then the same two fields serve; "Tax" is deactivated and "Payroll" added
    assert again == ids
    assert len(qbt.objects("customfields")) == 2
    assert qbt.calls("POST", "/api/v1/customfields") == 1
    assert active_items(qbt, ids["task_type"]) == {"Bookkeeping", "Payroll"}
    assert active_items(qbt, ids["role"]) == {"Partner", "Manager"}


def test_with_fewer_than_two_custom_fields_free_setup_names_the_fields_to_deactivate(qbt):
    # Given five of QuickBooks Time's six custom fields in use
    names = ["Mileage", "Vehicle", "Site", "Weather", "Equipment"]
    for name in names:
        qbt.in_qbt("customfields", {"name": name, "type": "free-form"})
    # When setup asks for its two fields
    with pytest.raises(SyncFailure) as caught:
        ensure_custom_fields(qbt.session, ["Bookkeeping"], ["Partner"])
    # Then it fails with the sync error naming the fields that could be deactivated
    assert caught.value.code == "qbt.too_many_custom_fields"
    assert caught.value.spec.title == "Too many custom fields in QBT"
    assert all(f"'{name}'" in caught.value.provider_message for name in names)
    assert len(qbt.objects("customfields")) == 5  # nothing half-made


def test_custom_fields_fit_when_two_of_six_are_free(qbt):
    for name in ["Mileage", "Vehicle", "Site", "Weather"]:
        qbt.in_qbt("customfields", {"name": name, "type": "free-form"})
    ids = ensure_custom_fields(qbt.session, ["Bookkeeping"], ["Partner"])
    assert set(ids) == {"task_type", "role"}
    assert sum(1 for f in qbt.objects("customfields") if f["active"]) == 6


def test_an_api_request_sits_out_a_short_hold_a_worker_heard_instead_of_refusing(qbt):
    from booksync.boot import REQUEST_SECONDS
    from booksync.engine.budget import Budget
    from booksync.providers.qbt.client import QbtClient

    # Given a worker heard QBT's 429 and held the connection for a few seconds (long enough
    # to outlast booting a runtime on a loaded machine)
    connection_id = str(qbt.connection.connection_id)
    Budget("qbt", connection_id).hold(5.0, "qbt.throttled", "QBT answered 429")
    # Then a caller with no deadline (the operator CLI) is refused at once, with the wait
    with pytest.raises(SyncFailure) as info:
        QbtClient(boot(get_settings()).session(qbt.connection)).get_all("users", {})
    assert info.value.code == "qbt.throttled"
    assert 0 < info.value.retry_after <= 5.0
    # But an API request (import-from-xero, billing-setup, drift) waits the hold out and
    # gets its answer, instead of a 409 the firm would have to retry by hand
    Budget("qbt", connection_id).hold(2.0, "qbt.throttled", "QBT answered 429")
    api = boot(get_settings(), request_seconds=REQUEST_SECONDS)
    users = QbtClient(api.session(qbt.connection)).get_all("users", {})
    assert [u["first_name"] for u in users] == ["Avery"]  # the account's owner
