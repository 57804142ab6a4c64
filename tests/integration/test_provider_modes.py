"""booksync against the simulators' harsher modes: what the real services may do that a
kind simulator would not (local/simulators/README.md, "Modes"). Each test sets the mode on
its own company, connects a tenant through the real OAuth dance and syncs through the
engine (push_records, pull), then checks what a firm would see: one object per record,
nothing lost, and a sync error in words where a person must act."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from booksync.boot import boot
from booksync.engine.pull import covered_by_a_later_pull, pull
from booksync.engine.push import Wanted, push_records
from booksync.hub import importing
from booksync.hub.records import create_record, update_record
from booksync.providers import registry
from booksync.providers.qbo.changes import QboChanges
from booksync.providers.qbo.customers import Customers
from booksync.providers.qbo.employees import Employees
from booksync.providers.qbt import custom_fields
from booksync.settings import get_settings
from booksync.store import SyncErrorRow, leases, links, utcnow
from booksync.store import connections as connection_rows
from booksync.store.tenants import create_api_key, create_tenant
from tests.conftest import _stack_env, load_handler
from tests.integration.oauth_dance import Dance


@pytest.fixture(scope="module")
def stack_env(sims):
    with pytest.MonkeyPatch.context() as mp:
        for handle in sims.values():
            requests.post(f"{handle.url}/_sim/reset", timeout=10).raise_for_status()
        yield from _stack_env(mp, {name: h.url for name, h in sims.items()})


@pytest.fixture(scope="module")
def oauth_handler(stack_env):
    with pytest.MonkeyPatch.context() as mp:
        yield load_handler("oauth", mp).lambda_handler


class Firm:
    """A tenant connected to a fresh company of one provider, with modes set on it."""

    def __init__(self, oauth, sims, provider: str, modes: dict[str, Any], seed: str = "empty"):
        self.provider = provider
        self.sim = sims[provider].url
        requests.delete(f"{self.sim}/_sim/faults", timeout=10)
        tenant = create_tenant(f"Modes {provider}")
        self.tenant_id = tenant.tenant_id
        key = create_api_key(self.tenant_id).key
        reply = requests.post(
            f"{self.sim}/_sim/companies",
            json={"name": f"{provider} books", "seed": seed},
            timeout=10,
        )
        reply.raise_for_status()
        self.company = str(reply.json()["id"])
        # connect first: connecting reads the company (QBO company info must answer for
        # the realm), which a mode such as a spent read allowance would refuse
        status, page = Dance(oauth, key).connect(provider, sim_company=self.company)
        assert status == 200, page
        requests.put(
            f"{self.sim}/_sim/companies/{self.company}/modes", json=modes, timeout=10
        ).raise_for_status()
        self.runtime = boot(get_settings())

    def session(self):
        return self.runtime.session(connection_rows.get(self.tenant_id, self.provider))

    def objects(self, kind: str) -> list[dict[str, Any]]:
        url = f"{self.sim}/_sim/companies/{self.company}/objects/{kind}"
        return requests.get(url, timeout=10).json()["objects"]

    def contacts(self, names: list[str]) -> list[str]:
        return [
            create_record(
                self.tenant_id, "contact", {"name": n, "contact_type": "Client"}
            ).record_id
            for n in names
        ]

    def push(self, kind: str, ids: list[str]):
        family = registry.pushed(self.provider, kind)
        assert family is not None
        return push_records(self.session(), family, [Wanted(kind, i) for i in ids])

    def fault(self, **rule: Any) -> None:
        requests.post(f"{self.sim}/_sim/faults", json=rule, timeout=10).raise_for_status()

    def errors(self) -> list[SyncErrorRow]:
        return [r for r in SyncErrorRow.query(self.tenant_id) if r.status == "open"]


def _push_until_done(firm: Firm, kind: str, ids: list[str], rounds: int = 6):
    """As the queue does: a record whose push failed for now is sent again."""
    outcome = None
    for _ in range(rounds):
        outcome = firm.push(kind, ids)
        ids = [i for i, r in outcome.results.items() if r is not None]
        if not ids:
            return outcome
    return outcome


# ------------------------------------------------------------------------------ QBO


@pytest.mark.parametrize("mode", ["replay", "ignored", "batch_6000"])
def test_qbo_lost_replies_make_one_customer_per_contact_in_every_requestid_mode(
    oauth_handler, sims, mode
):
    # Given QBO answering repeated requestids in this mode, and every create's reply lost
    firm = Firm(oauth_handler, sims, "qbo", {"requestid": mode})
    ids = firm.contacts([f"Lost Reply {mode} {i}" for i in range(5)])
    firm.fault(action="drop_after_commit", method="POST", path="/(batch|customer)", count=2)
    # When the engine pushes them until they are linked (one record renamed meanwhile)
    first = firm.push("contact", ids)
    assert any(r is not None for r in first.results.values())
    update_record(
        firm.tenant_id, "contact", ids[0], {"name": "Renamed Meanwhile", "contact_type": "Client"}
    )
    _push_until_done(firm, "contact", ids)
    # Then QuickBooks holds each exactly once, the renamed one under its new name
    names = [c["DisplayName"] for c in firm.objects("Customer")]
    assert sorted(names) == sorted(
        ["Renamed Meanwhile"] + [f"Lost Reply {mode} {i}" for i in range(1, 5)]
    )
    assert all(links.get_link(firm.tenant_id, "qbo", "contact", i) for i in ids)
    assert firm.errors() == []


@pytest.mark.parametrize("order", ["oldest_first", "newest_first", "unordered"])
def test_a_capped_cdc_answer_loses_no_change_whatever_it_cut(oauth_handler, sims, order):
    # Given QBO's changes read up to now, then 1,050 customers made in QBO's screens
    firm = Firm(oauth_handler, sims, "qbo", {"cdc_order": order})
    source = QboChanges([Customers(), Employees()])
    cursor = source.read(firm.session(), None).cursor
    for i in range(1050):
        requests.post(
            f"{firm.sim}/_sim/companies/{firm.company}/objects/Customer",
            json={"DisplayName": f"Cdc {i:04d}"},
            timeout=10,
        ).raise_for_status()
    # When the next read meets CDC's cap of 1,000 objects, whichever it cut
    page = source.read(firm.session(), cursor)
    # Then every one of the 1,050 is in what the engine gets
    assert {c.raw["DisplayName"] for c in page.changes if c.raw} == {
        f"Cdc {i:04d}" for i in range(1050)
    }


def test_a_customer_with_an_open_balance_made_inactive_is_an_error_saying_why(oauth_handler, sims):
    # Given Intuit's sample company imported (its customer 1 owes 125), and linked
    firm = Firm(oauth_handler, sims, "qbo", {}, seed="sandbox")
    pull(firm.session(), lambda record, provider: None)
    owing = [c for c in firm.objects("Customer") if float(c.get("Balance") or 0) > 0]
    assert owing, "the sandbox seed has a customer with an open balance"
    link = links.find_by_provider_id(firm.tenant_id, "qbo", "Customer", str(owing[0]["Id"]))
    hub_id = links.hub_id_of(link)
    # When the contact is made inactive in the hub and pushed
    from booksync.store import records as record_rows

    data = dict(record_rows.get(firm.tenant_id, "contact", hub_id).data)
    update_record(firm.tenant_id, "contact", hub_id, {**data, "active": False})
    outcome = firm.push("contact", [hub_id])
    # Then it is refused with the reason, and QBO keeps the customer active
    failure = outcome.results[hub_id]
    assert failure is not None
    assert failure.code == "qbo.has_open_balance"
    assert "open balance" in failure.spec.fix


@pytest.mark.parametrize("status", ["403", "429"])
def test_past_the_monthly_coreplus_allowance_reads_are_an_error_for_a_person(
    oauth_handler, sims, status
):
    # Given a connected firm, then the app's CorePlus allowance spent for the month
    firm = Firm(oauth_handler, sims, "qbo", {})
    requests.put(
        f"{firm.sim}/_sim/companies/{firm.company}/modes",
        json={"coreplus_cap": status, "coreplus_cap_limit": 0},
        timeout=10,
    ).raise_for_status()
    # When a pull reads QBO
    with pytest.raises(Exception) as info:
        pull(firm.session(), lambda record, provider: None)
    # Then it says so, not as a throttle to retry for ever nor as a lost grant
    assert getattr(info.value, "code", "") == "qbo.app_blocked"
    assert connection_rows.get(firm.tenant_id, "qbo").status == "active"


# ------------------------------------------------------------------------------ QBT


@pytest.mark.parametrize("write_status", ["200", "201", "207"])
def test_qbt_writes_answered_with_any_2xx_link_each_record_once(oauth_handler, sims, write_status):
    firm = Firm(oauth_handler, sims, "qbt", {"write_status": write_status})
    ids = firm.contacts([f"Status {write_status} {i}" for i in range(3)])
    outcome = firm.push("contact", ids)
    assert list(outcome.results.values()) == [None, None, None]
    again = firm.push("contact", ids)  # a repeated delivery
    assert again.sent == 0
    names = [j["name"] for j in firm.objects("jobcodes")]
    assert sorted(n for n in names if n.startswith("Status")) == [
        f"Status {write_status} {i}" for i in range(3)
    ]


def test_without_the_custom_fields_add_on_save_and_sync_says_what_to_install(oauth_handler, sims):
    firm = Firm(oauth_handler, sims, "qbt", {"customfields_addon": "not_installed"})
    with pytest.raises(Exception) as info:
        custom_fields.setup(firm.session())
    assert getattr(info.value, "code", "") == "qbt.custom_fields_unavailable"
    assert "Custom Fields add-on" in info.value.spec.fix


# ------------------------------------------------------------------------------ Xero


def test_near_the_end_of_xeros_day_the_connection_waits_and_says_so(oauth_handler, sims):
    # Given a Xero organisation whose app tier allows 52 calls a day (booksync leaves 50)
    firm = Firm(oauth_handler, sims, "xero", {"day_limit": 52})
    ids = firm.contacts([f"Day {i}" for i in range(3)])
    # When the engine pushes: the calls themselves leave the day nearly spent
    for i in ids:
        firm.push("contact", [i])
    calls = requests.get(f"{firm.sim}/_sim/calls", timeout=10).json()["calls"]
    # Then Xero never answered 429: booksync stopped first, and a sync error says why
    assert not [c for c in calls if c["status"] == 429]
    (error,) = [e for e in firm.errors() if e.code == "xero.day_limit"]
    assert "X-DayLimit-Remaining" in error.provider_message
    # and every record is either at Xero or waiting for the hold, never lost
    outcome = firm.push("contact", ids)
    waiting = [r for r in outcome.results.values() if r is not None]
    assert all(r.code == "xero.day_limit" for r in waiting)


def test_a_xero_webhook_pull_reads_only_the_sources_its_events_name(oauth_handler, sims):
    # Given a Xero organisation pulled once in full (contacts, payroll, payments)
    firm = Firm(oauth_handler, sims, "xero", {})
    pull(firm.session(), lambda record, provider: None)
    conn = connection_rows.get(firm.tenant_id, "xero")
    last_sync = conn.last_sync_at
    # and a contact notice and an invoice notice sent after it began (the coverage check
    # allows the clocks a second)
    time.sleep(1.1)
    sent = utcnow()
    time.sleep(1.1)
    requests.delete(f"{firm.sim}/_sim/calls", timeout=10)
    # When the contact notice's pull runs
    pull(firm.session(), lambda record, provider: None, topics=frozenset({"CONTACT"}))
    # Then it read Xero's contacts only: one call, not one per source
    calls = requests.get(f"{firm.sim}/_sim/calls", timeout=10).json()["calls"]
    assert [c["path"].split("?")[0] for c in calls] == ["/api.xro/2.0/Contacts"]
    # the contact notice is covered by it, the invoice notice is not (its payments were
    # last read before it was sent), and the connection's full-sync time is unchanged
    conn = connection_rows.get(firm.tenant_id, "xero")
    assert covered_by_a_later_pull(conn, [(sent, frozenset({"CONTACT"}))])
    assert not covered_by_a_later_pull(conn, [(sent, frozenset({"INVOICE"}))])
    assert not covered_by_a_later_pull(conn, [(sent, None)])
    assert conn.last_sync_at == last_sync


def test_a_lost_create_in_a_high_volume_organisation_is_found_by_short_filters(oauth_handler, sims):
    # Given an organisation refusing long OR filters (HighVolumeException), and lost replies
    firm = Firm(oauth_handler, sims, "xero", {"high_volume": "on", "high_volume_threshold": 0})
    ids = firm.contacts([f"High Volume {i:02d}" for i in range(25)])
    firm.fault(action="drop_after_commit", method="PUT", path="/Contacts", count=1)
    outcome = _push_until_done(firm, "contact", ids)
    # Then every record is linked (none left refused) to its one contact in Xero
    assert outcome is not None
    assert all(r is None for r in outcome.results.values()), outcome.results
    assert all(links.get_link(firm.tenant_id, "xero", "contact", i) for i in ids)
    names = [c["Name"] for c in firm.objects("Contacts") if c["Name"].startswith("High Volume")]
    assert sorted(names) == [f"High Volume {i:02d}" for i in range(25)]


# ------------------------------------------------------------------------- both


@pytest.mark.parametrize(
    ("provider", "method", "path"),
    [("qbo", "POST", "/(batch|customer)"), ("xero", "PUT", "/Contacts")],
)
def test_a_pull_meeting_our_own_create_before_its_link_links_it_without_a_review(
    oauth_handler, sims, provider, method, path, monkeypatch
):
    # Given hub contacts (names only) whose creates reached the provider, replies lost
    firm = Firm(oauth_handler, sims, provider, {})
    pull(firm.session(), lambda record, provider: None)  # the first pull: nothing there yet
    ids = firm.contacts([f"Own Create {provider} {i}" for i in range(3)])
    firm.fault(action="drop_after_commit", method=method, path=path, count=1)
    first = firm.push("contact", ids)
    assert all(r is not None for r in first.results.values())
    assert not any(links.get_link(firm.tenant_id, provider, "contact", i) for i in ids)
    # When a pull meets the new objects before the retry has linked them
    whole_firm_reads = []
    read = importing.hub_contacts
    monkeypatch.setattr(
        importing, "hub_contacts", lambda tenant: whole_firm_reads.append(tenant) or read(tenant)
    )
    pull(firm.session(), lambda record, provider: None)
    # Then each is linked to the record that made it, found by key (the firm's contacts
    # are not read: a bulk sync's pulls meet hundreds of these): no possible duplicate,
    # no new contact
    assert whole_firm_reads == []
    assert all(links.get_link(firm.tenant_id, provider, "contact", i) for i in ids)
    assert importing.duplicates_of(firm.tenant_id, provider, "contact") == []
    from booksync.store import records as record_rows

    names = [r.data["name"] for r in record_rows.all_of_kind(firm.tenant_id, "contact")]
    assert sorted(n for n in names if n.startswith("Own Create")) == sorted(
        f"Own Create {provider} {i}" for i in range(3)
    )
    # and the retry finds them linked: still one object each at the provider
    again = firm.push("contact", ids)
    assert all(r is None for r in again.results.values()), again.results
    kind = "Customer" if provider == "qbo" else "Contacts"
    field = "DisplayName" if provider == "qbo" else "Name"
    made = [o[field] for o in firm.objects(kind) if o[field].startswith("Own Create")]
    assert sorted(made) == sorted(f"Own Create {provider} {i}" for i in range(3))


def test_two_clients_of_one_name_in_flight_are_never_found_by_that_name(oauth_handler, sims):
    """The push keeps each create's record under the DisplayName it sends, for a pull that
    meets the object before its link; two records sending one name (one push or two) leave
    the name to the import's matching, which weighs both, instead of linking either."""
    from booksync.store import leases

    firm = Firm(oauth_handler, sims, "qbo", {})
    first = firm.contacts(["Twin Ltd"])
    firm.fault(action="drop_after_commit", method="POST", path="/(batch|customer)", count=1)
    firm.push("contact", first)
    conn = str(connection_rows.get(firm.tenant_id, "qbo").connection_id)
    key = leases.intent_lookup_key(conn, "contact", "twin ltd")
    assert leases.read_many([key])[key] == {"hub_id": first[0]}
    # a second client of that name goes while the first is in flight
    second = firm.contacts(["Twin Ltd"])
    firm.push("contact", second)
    assert leases.read_many([key])[key] == {"hub_id": None}
    # and the pull that meets the object leaves it to matching: not linked to the second
    pull(firm.session(), lambda record, provider: None)
    assert links.get_link(firm.tenant_id, "qbo", "contact", second[0]) is None


def test_creates_the_provider_throttled_are_not_looked_for_on_their_next_try(oauth_handler, sims):
    # Given QBO throttles the batch that would create five customers
    firm = Firm(oauth_handler, sims, "qbo", {})
    ids = firm.contacts([f"Throttled {i}" for i in range(5)])
    firm.fault(action="throttle", method="POST", path="/batch", count=1)
    first = firm.push("contact", ids)
    assert {getattr(r, "code", None) for r in first.results.values()} == {"qbo.throttled"}
    # When they are pushed again after the wait
    requests.delete(f"{firm.sim}/_sim/calls", timeout=10).raise_for_status()
    again = firm.push("contact", ids)
    # Then they are created in one batch, without a query for what the throttled try made
    # (a 429 is refused before QBO carries anything out)
    assert set(again.results.values()) == {None}
    calls = requests.get(f"{firm.sim}/_sim/calls", timeout=10).json()["counts"]
    assert [k for k in calls if "query" in k] == []
    assert sorted(c["DisplayName"] for c in firm.objects("Customer")) == [
        f"Throttled {i}" for i in range(5)
    ]


def test_after_a_throttled_chunk_the_records_behind_it_are_not_read_or_sent(oauth_handler, sims):
    # Given 70 new contacts (three QBO batches: 30, 30, 10) and QBO throttling the first
    firm = Firm(oauth_handler, sims, "qbo", {})
    ids = firm.contacts([f"Behind {i:02d}" for i in range(70)])
    firm.fault(action="throttle", method="POST", path="/batch", count=1)
    requests.delete(f"{firm.sim}/_sim/calls", timeout=10).raise_for_status()
    outcome = firm.push("contact", ids)
    # Then all 70 go back to the queue with QBO's wait, after one call to QBO
    assert {getattr(r, "code", None) for r in outcome.results.values()} == {"qbo.throttled"}
    assert len(outcome.results) == 70
    calls = requests.get(f"{firm.sim}/_sim/calls", timeout=10).json()["counts"]
    assert sum(calls.values()) == 1
    # and only the throttled chunk's creates were noted (then taken back): the 40 behind
    # it were not read nor written, so their next try costs what a first try does
    conn = str(firm.session().connection.connection_id)
    keys = [leases.intent_key(conn, "contact", i) for i in ids]
    noted = leases.read_many(keys)
    assert sorted(noted) == sorted(keys[:30])
    assert all(row.get("sent") == [] for row in noted.values())
    # When a worker (which waits out the hold and the budget's turns up to its deadline)
    # pushes them again, all 70 are created, each once
    family = registry.pushed("qbo", "contact")
    assert family is not None
    worker = firm.runtime.session(firm.session().connection, time.time() + 60)
    again = push_records(worker, family, [Wanted("contact", i) for i in ids])
    assert set(again.results.values()) == {None}
    assert len(firm.objects("Customer")) == 70


def test_creates_whose_reply_was_lost_are_still_looked_for_on_their_next_try(oauth_handler, sims):
    # Given QBO commits the batch but its reply never comes back
    firm = Firm(oauth_handler, sims, "qbo", {})
    ids = firm.contacts([f"Dropped {i}" for i in range(3)])
    firm.fault(action="drop_after_commit", method="POST", path="/batch", count=1)
    first = firm.push("contact", ids)
    assert all(r is not None for r in first.results.values())
    # When they are pushed again: the try may have made them, so they are looked for
    requests.delete(f"{firm.sim}/_sim/calls", timeout=10).raise_for_status()
    assert set(firm.push("contact", ids).results.values()) == {None}
    calls = requests.get(f"{firm.sim}/_sim/calls", timeout=10).json()["counts"]
    assert [k for k in calls if "query" in k]
    # and each customer is there once
    assert sorted(c["DisplayName"] for c in firm.objects("Customer")) == [
        f"Dropped {i}" for i in range(3)
    ]
