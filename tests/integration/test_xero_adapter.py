"""The Xero families against the Xero simulator, connected through the real OAuth dance:
batched idempotent contact pushes, per-element failures, name clashes, archiving, lost
creates found by ContactNumber, rate limits, pulls from If-Modified-Since, and payroll
employees as hub users."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from booksync.engine.push import idempotency_key
from booksync.engine.seam import Change, Family, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import Address, Contact, Email, Phone
from booksync.providers.xero.client import XeroClient
from booksync.providers.xero.contacts import Contacts, XeroContacts
from booksync.providers.xero.employees import PayrollEmployees, XeroEmployees
from booksync.settings import get_settings
from booksync.store import Connection, Record
from booksync.store import connections as connection_rows
from booksync.store.links import get_link, save_link
from booksync.store.tenants import create_api_key, create_tenant
from tests.integration.oauth_dance import Dance


@pytest.fixture
def stack_env(sim_stack_env):
    """Here the providers are the simulators (overrides conftest's stack_env)."""
    return sim_stack_env


class XeroEnv:
    """A firm connected to a fresh sandbox organisation of the Xero simulator."""

    def __init__(self, oauth_handler: Any, sim_url: str) -> None:
        from booksync.boot import boot

        self.sim = sim_url
        reply = requests.post(
            f"{sim_url}/_sim/companies", json={"name": "Harbour Ltd", "seed": "sandbox"}, timeout=10
        )
        reply.raise_for_status()
        self.company = reply.json()["id"]
        tenant = create_tenant("Harbour Accountants")
        self.tenant_id = tenant.tenant_id
        dance = Dance(oauth_handler, create_api_key(tenant.tenant_id).key)
        status, page = dance.connect("xero", sim_company=self.company)
        assert status == 200, page
        self.runtime = boot(get_settings())
        self.family = Contacts()
        requests.delete(f"{sim_url}/_sim/calls", timeout=10)

    @property
    def connection(self) -> Connection:
        found = connection_rows.get(self.tenant_id, "xero")
        assert found is not None
        return found

    def session(self, connection: Connection | None = None) -> ProviderSession:
        return self.runtime.session(connection or self.connection)

    def item(
        self,
        hub_id: str,
        contact: Contact,
        version: int = 1,
        sent_before: tuple[dict[str, Any], ...] = (),
    ) -> PushItem:
        """The record as the engine hands it to the family: its link, if any, and the
        engine's idempotency key for (connection, record, operation)."""
        record = Record(
            self.tenant_id,
            Record.key("contact", hub_id),
            kind="contact",
            record_id=hub_id,
            version=version,
            data=contact.model_dump(mode="json"),
        )
        link = get_link(self.tenant_id, "xero", "contact", hub_id)
        conn_id = str(self.connection.connection_id)
        key = (
            idempotency_key(conn_id, hub_id, "update", version)
            if link
            else idempotency_key(conn_id, hub_id, "create")
        )
        return PushItem(record, contact, link, key, sent_before=sent_before)

    def push(self, items: list[PushItem]) -> list[Pushed | Exception]:
        """As the engine does: chunks of max_batch, links written after each answer."""
        results: list[Pushed | Exception] = []
        session = self.session()
        size = self.family.max_batch
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            answers = self.family.push(session, chunk)
            for item, answer in zip(chunk, answers, strict=True):
                if isinstance(answer, Pushed):
                    save_link(
                        self.tenant_id,
                        "xero",
                        self.family.kind,
                        answer.hub_id,
                        self.family.object_type,
                        answer.provider_id,
                        provider_version=answer.provider_version,
                        content_hash=answer.content_hash,
                        synced_version=int(item.record.version),
                    )
            results.extend(answers)
        return results

    def xero_contacts(self) -> list[dict[str, Any]]:
        reply = requests.get(
            f"{self.sim}/_sim/companies/{self.company}/objects/Contacts", timeout=10
        )
        return list(reply.json()["objects"])

    def xero_contact(self, contact_id: str) -> dict[str, Any]:
        return next(c for c in self.xero_contacts() if c["ContactID"] == contact_id)

    def calls(self, method: str, path_part: str) -> int:
        counts = requests.get(f"{self.sim}/_sim/calls", timeout=10).json()["counts"]
        return sum(n for k, n in counts.items() if k.startswith(method) and path_part in k)

    def in_xero_screens(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        reply = requests.request(
            method, f"{self.sim}/_sim/companies/{self.company}/objects/{path}", timeout=10, **kwargs
        )
        reply.raise_for_status()
        return dict(reply.json())

    def advance_clock(self, seconds: int) -> None:
        requests.post(
            f"{self.sim}/_sim/clock/advance", json={"seconds": seconds}, timeout=10
        ).raise_for_status()


@pytest.fixture
def xero(stack_env, handler, sims) -> XeroEnv:
    return XeroEnv(handler("oauth"), sims["xero"].url)


def org(name: str, **fields: Any) -> Contact:
    return Contact(kind="organisation", name=name, **fields)


def hub_id() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------------- push


def test_sixty_new_contacts_are_created_in_two_calls_carrying_their_hub_ids(xero):
    # Given 60 hub contacts never sent to Xero
    items = [xero.item(hub_id(), org(f"Client {n:02d}")) for n in range(60)]

    # When they are pushed
    results = xero.push(items)

    # Then Xero received two batched creates and holds every contact under its hub id
    assert all(isinstance(r, Pushed) for r in results), results
    assert xero.calls("PUT", "/Contacts") == 2
    assert xero.calls("POST", "/Contacts") == 0
    # and a first create costs no look-up of ContactNumbers
    assert xero.calls("GET", "/Contacts") == 0
    numbers = {c.get("ContactNumber") for c in xero.xero_contacts()}
    assert {i.record.record_id for i in items} <= numbers
    assert results[0].provider_version is not None
    assert results[0].provider_version.endswith("+00:00")


def test_a_replayed_batch_with_the_same_keys_creates_nothing_new(xero):
    # Given three contacts pushed once
    items = [xero.item(hub_id(), org(f"Replay {n}")) for n in range(3)]
    first = xero.push(items)
    count = len(xero.xero_contacts())

    # When the same batch is sent again with the same keys (SQS delivered twice and the
    # links were not written yet)
    again = xero.family.push(xero.session(), items)

    # Then Xero answers with the same contacts and creates none
    assert [r.provider_id for r in again] == [r.provider_id for r in first]
    assert len(xero.xero_contacts()) == count


def test_a_create_whose_reply_was_lost_is_found_by_contact_number_though_renamed_since(xero):
    # Given a contact Xero created, whose answer never reached us (no link written)
    hid = hub_id()
    first = xero.item(hid, org("First Name Ltd"))
    [created] = xero.family.push(xero.session(), [first])
    assert isinstance(created, Pushed)
    before = len(xero.xero_contacts())

    # When the record, renamed in the hub since, is tried again (the engine hands the
    # family what the lost create wrote: its intent)
    retry = xero.item(hid, org("Second Name Ltd"), 2, sent_before=(Contacts().intent(first),))
    [result] = xero.push([retry])

    # Then the contact the lost create made is found by its ContactNumber alone (the hub
    # id), and updated to the new name: no second contact
    assert isinstance(result, Pushed), result
    assert result.provider_id == created.provider_id
    assert len(xero.xero_contacts()) == before
    shown = xero.xero_contact(created.provider_id)
    assert (shown["Name"], shown["ContactNumber"]) == ("Second Name Ltd", hid)
    assert xero.calls("PUT", "/Contacts") == 1


def test_one_invalid_contact_fails_alone_while_the_rest_are_created(xero):
    # Given a batch where one hub id is already a contact number someone typed in Xero
    taken = "CUST-001"  # the seeded Ridgeway University's ContactNumber
    items = [
        xero.item(hub_id(), org("Alpha Ltd")),
        xero.item(taken, org("Beta Ltd")),
        xero.item(hub_id(), org("Gamma Ltd")),
    ]

    # When the batch is pushed
    results = xero.push(items)

    # Then the other two are created and the clash is a validation error in Xero's words
    assert isinstance(results[0], Pushed)
    assert isinstance(results[2], Pushed)
    failure = results[1]
    assert isinstance(failure, SyncFailure)
    assert failure.code == "xero.validation"
    assert "CUST-001 is already assigned to another contact" in failure.provider_message
    names = {c["Name"] for c in xero.xero_contacts()}
    assert {"Alpha Ltd", "Gamma Ltd"} <= names
    assert "Beta Ltd" not in names


def test_a_new_contact_named_like_an_active_xero_contact_is_a_duplicate_name_error(xero):
    # Given Xero's active contact "Bayside Club"
    before = next(c for c in xero.xero_contacts() if c["Name"] == "Bayside Club")

    # When a new hub contact with the same name is pushed
    [result] = xero.push(
        [xero.item(hub_id(), org("Bayside Club", emails=[Email(address="x@y.example")]))]
    )

    # Then it is a duplicate-name sync error, and the Xero contact was not taken over
    assert isinstance(result, SyncFailure)
    assert result.code == "xero.duplicate_name"
    assert "The contact name Bayside Club is already assigned to another contact" in (
        result.provider_message
    )
    after = xero.xero_contact(before["ContactID"])
    assert after["ContactNumber"] == "CUST-002"
    assert after["EmailAddress"] == before["EmailAddress"]


def test_archiving_in_the_hub_archives_the_xero_contact_and_reactivating_restores_it(xero):
    # Given a contact synced to Xero
    hid = hub_id()
    contact = org("Archive Me Ltd", phones=[Phone(number="01234 567890")])
    [created] = xero.push([xero.item(hid, contact)])

    # When it is made inactive in the hub and pushed
    [archived] = xero.push([xero.item(hid, contact.model_copy(update={"active": False}), 2)])

    # Then Xero holds it archived, same contact
    assert isinstance(archived, Pushed)
    assert archived.provider_id == created.provider_id
    assert xero.xero_contact(created.provider_id)["ContactStatus"] == "ARCHIVED"

    # When it is made active again
    [restored] = xero.push([xero.item(hid, contact, 3)])

    # Then it is active in Xero again, with its details
    assert isinstance(restored, Pushed)
    shown = xero.xero_contact(created.provider_id)
    assert shown["ContactStatus"] == "ACTIVE"
    assert xero.calls("POST", "/Contacts") == 2


def test_an_update_is_sent_to_the_linked_contact(xero):
    # Given a contact synced to Xero
    hid = hub_id()
    [created] = xero.push([xero.item(hid, org("Old Name Ltd"))])

    # When its name and address change in the hub
    changed = org(
        "New Name Ltd",
        mailing_address=Address(line1="PO Box 12", city="Leeds", postal_code="LS1 1AA"),
    )
    [updated] = xero.push([xero.item(hid, changed, 2)])

    # Then the same Xero contact shows the new details
    assert isinstance(updated, Pushed)
    shown = xero.xero_contact(created.provider_id)
    assert shown["Name"] == "New Name Ltd"
    pobox = next(a for a in shown["Addresses"] if a["AddressType"] == "POBOX")
    assert pobox["AddressLine1"] == "PO Box 12"
    assert pobox["City"] == "Leeds"


def test_renaming_to_an_active_contacts_name_is_a_duplicate_name_error(xero):
    # Given a contact synced to Xero
    hid = hub_id()
    xero.push([xero.item(hid, org("Unique Ltd"))])

    # When it is renamed in the hub to the name of another active Xero contact
    [result] = xero.push([xero.item(hid, org("City Limousines"), 2)])

    # Then the update fails as a name clash
    assert isinstance(result, SyncFailure)
    assert result.code == "xero.duplicate_name"


def burst(client: XeroClient, calls: int) -> None:
    for _ in range(calls):
        list(client.contacts())


def test_a_burst_over_the_minute_limit_is_rate_limited_with_xeros_wait(xero):
    # Given a client for the organisation
    # (booksync's own rate budget would pace the burst below Xero's limit: it is left out,
    # as for a second client of the same organisation)
    session = xero.session()
    session.before_call = lambda cost: None
    client = XeroClient(session)

    # When booksync calls faster than Xero's 60 calls a minute
    with pytest.raises(SyncFailure) as caught:
        burst(client, 70)

    # Then the 429 is classified as rate limited, with Xero's Retry-After and the limit named
    failure = caught.value
    assert failure.code == "xero.rate_limited"
    assert failure.retry_after is not None
    assert failure.retry_after > 0
    assert "X-Rate-Limit-Problem: minute" in failure.provider_message


def test_a_connection_to_an_organisation_the_grant_does_not_cover_is_not_authorised(xero):
    # Given a connection whose organisation id is not one the grant covers
    conn = xero.connection
    conn.company_id = str(uuid.uuid4())

    # When contacts are listed
    with pytest.raises(SyncFailure) as caught:
        Contacts().import_list(xero.session(conn))

    # Then Xero's 403 is a not-authorised failure the firm fixes by reconnecting
    assert caught.value.code == "xero.not_authorised"
    assert caught.value.status == 403
    assert "AuthenticationUnsuccessful" in caught.value.provider_message


# ---------------------------------------------------------------------------------- pull


def test_the_importer_lists_every_contact_page_by_page_archived_included(xero):
    # Given the sandbox's 7 contacts, 2 of them archived
    client = XeroClient(xero.session(), page_size=3)

    # When they are listed three per page
    contacts = list(client.contacts())

    # Then all 7 come back in 3 calls, the archived ones marked so
    assert len(contacts) == 7
    assert xero.calls("GET", "/Contacts") == 3
    assert sorted(c["Name"] for c in contacts if c["ContactStatus"] == "ARCHIVED") == [
        "Boom FM",
        "Hoyt Productions",
    ]
    assert len(Contacts().import_list(xero.session())) == 7


def mapped(family: Family, changes: list[Change]) -> list[tuple[Change, dict[str, Any]]]:
    """Each change of the family's object type with the hub content it maps to, as the
    engine maps it (a deletion maps to none here: Xero's contacts and employees only
    change)."""
    out = []
    for change in changes:
        assert change.object_type == family.object_type, change
        assert change.raw is not None, change
        content = family.from_provider(change.raw)
        assert content is not None, change
        out.append((change, content))
    return out


def test_the_first_pull_maps_every_contact_and_archived_ones_are_inactive(xero):
    # When the first pull of contacts runs (no cursor)
    page = XeroContacts().read(xero.session(), None)

    # Then every contact is a change, archived ones inactive, with Xero's version
    contacts = {content["name"]: (c, content) for c, content in mapped(Contacts(), page.changes)}
    assert len(contacts) == 7
    assert contacts["Boom FM"][1]["active"] is False
    assert contacts["Bayside Club"][1]["active"] is True
    assert contacts["Bayside Club"][1]["emails"] == [
        {"address": "secretary@bayside.example", "label": "primary"}
    ]
    assert contacts["Bayside Club"][0].changed_at.tzinfo is not None
    assert contacts["Bayside Club"][0].provider_version
    assert page.cursor


def test_a_pull_from_the_cursor_sees_a_change_and_an_archive_made_in_xero(xero):
    # Given a first pull, and then time passing
    source = XeroContacts()
    first = source.read(xero.session(), None)
    ids = {content["name"]: c.provider_id for c, content in mapped(Contacts(), first.changes)}
    xero.advance_clock(5)

    # When someone edits one contact and archives another in Xero's screens
    xero.in_xero_screens(
        "PATCH", f"Contacts/{ids['Bayside Club']}", json={"EmailAddress": "club@bayside.example"}
    )
    xero.in_xero_screens(
        "DELETE", f"Contacts/{ids['City Limousines']}", params={"action": "archive"}
    )
    page = source.read(xero.session(), first.cursor)

    # Then the pull brings both, mapped to the hub
    contacts = {content["name"]: content for _, content in mapped(Contacts(), page.changes)}
    assert contacts["Bayside Club"]["emails"][0]["address"] == "club@bayside.example"
    assert contacts["City Limousines"]["active"] is False

    # And the next pull, nothing else having changed, asks Xero only for what changed since
    # those edits (less the second of overlap), not for the contacts nobody touched: the
    # last edit comes again; the one before it too when both fell in that second (on a
    # loaded machine the two edits can be more than a second apart)
    xero.advance_clock(5)
    again = source.read(xero.session(), page.cursor)
    names = {content["name"] for _, content in mapped(Contacts(), again.changes)}
    assert "City Limousines" in names
    assert names <= {"Bayside Club", "City Limousines"}


def test_payroll_employees_become_hub_users_matched_on_name_and_email(xero):
    # When the first pull of payroll employees runs
    page = XeroEmployees().read(xero.session(), None)

    # Then the payroll employees with an email come as users; one without an email cannot
    # be a hub user (the engine counts it rejected and goes on)
    users, refused = [], []
    for change in page.changes:
        assert change.object_type == "Employee"
        assert change.raw is not None
        try:
            users.append(PayrollEmployees().from_provider(change.raw))
        except ValueError:
            refused.append(change.raw)
    assert sorted(users, key=lambda u: u["last_name"]) == [
        {
            "first_name": "Jack",
            "last_name": "Allan",
            "email": "jack.allan@example.com",
            "active": True,
        },
        {
            "first_name": "Charlotte",
            "last_name": "Danes",
            "email": "charlotte.danes@example.com",
            "active": True,
        },
    ]
    assert len(refused) == 1
    assert not refused[0].get("email")
    assert xero.calls("GET", "/payroll.xro/2.0/Employees") == 1
    assert page.cursor


def test_our_own_push_pulled_back_has_the_hash_we_recorded(xero):
    # Given a person contact pushed to Xero with phones and an address
    contact = Contact(
        kind="person",
        name="Ann Lee",
        first_name="Ann",
        last_name="Lee",
        emails=[Email(address="ann@lee.example")],
        phones=[Phone(number="07700 900123", label="mobile")],
        physical_address=Address(line1="1 High St", city="York", country="UK"),
    )
    [pushed] = xero.push([xero.item(hub_id(), contact)])

    # When it comes back in a pull of contacts
    page = XeroContacts().read(xero.session(), None)
    [(mine, content)] = [
        (c, content)
        for c, content in mapped(Contacts(), page.changes)
        if c.provider_id == pushed.provider_id
    ]

    # Then it is the content we sent, so the engine recognises its own echo
    from booksync.hub.content import content_hash

    assert content == contact.model_dump(mode="json", exclude={"contact_type", "parent_id"})
    assert content_hash(content) == pushed.content_hash
    assert mine.provider_version == pushed.provider_version
