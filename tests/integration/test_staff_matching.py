"""Staff met in a pull matched to hub users: QBO by email then display name, Xero payroll
employees by first name, last name and email together, QBT by email. A partial match is
a possible duplicate of kind user in the same review as contacts, resolved through the
practice API; nothing is created twice when a pull is replayed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from booksync.api.app import make_app
from booksync.engine.seam import Change
from booksync.hub import staff
from booksync.hub.records import save_record
from booksync.store import Connection, Record
from booksync.store.links import find_by_provider_id
from booksync.store.tenants import create_api_key, create_tenant
from tests.integration.test_import_api import call

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def person(first, last, email):
    return {"first_name": first, "last_name": last, "email": email, "active": True}


def employee(pid, first, last, email):
    """A provider's staff member as the engine hands it to the hub kind's adopt."""
    return Change(
        object_type="staff",
        provider_id=pid,
        provider_version="1",
        raw=None,
        changed_at=NOW,
        kind="user",
        content=person(first, last, email),
    )


class Firm:
    def __init__(self, provider):
        tenant = create_tenant("Harbour Accountants")
        self.tenant_id = tenant.tenant_id
        self.key = create_api_key(tenant.tenant_id).key
        self.conn = Connection(
            self.tenant_id,
            provider,
            connection_id=f"c-{provider}",
            status="active",
            company_id="42",
        )
        self.conn.save()
        self.fanned_out: list[list[str]] = []
        self.app = make_app(sources=lambda tenant_id, provider: [])
        self.hub = {
            name: save_record(
                self.tenant_id, "user", None, person(*name.split(), email), origin="practice"
            ).record_id
            for name, email in (
                ("Ada Byron", "ada@harbour.test"),
                ("Grace Hopper", "grace@harbour.test"),
                ("Alan Turing", "alan@harbour.test"),
            )
        }

    def adopt(self, changes):
        created = staff.adopt_users(self.conn, changes, save_record)
        self.fanned_out.append([r.record_id for r in created])
        return len(created)

    def linked_to(self, provider_id):
        provider = self.conn.provider
        link = find_by_provider_id(
            self.tenant_id, provider, staff.object_type(provider), provider_id
        )
        return link.hub_key.split("#", 1)[1] if link else None

    def api(self, method, path, body=None, query=""):
        return call(self.app, method, path, self.key, body, query)

    def users(self):
        return [r for r in Record.query(self.tenant_id, Record.record_key.startswith("user#"))]


@pytest.fixture
def xero(stack_env):
    return Firm("xero")


@pytest.fixture
def qbo(stack_env):
    return Firm("qbo")


def test_xero_payroll_employees_link_only_when_first_last_name_and_email_agree(xero):
    created = xero.adopt(
        [
            employee("e1", "Ada", "Byron", "ADA@harbour.test"),  # all three agree
            employee("e2", "Grace", "Hopper", "g.hopper@home.test"),  # the name only
            employee("e3", "Al", "Turing", "alan@harbour.test"),  # the email only
            employee("e4", "Mary", "Somerville", "mary@harbour.test"),  # nobody
        ]
    )

    assert xero.linked_to("e1") == xero.hub["Ada Byron"]
    assert xero.linked_to("e2") is None
    assert xero.linked_to("e3") is None
    assert created == 1
    mary = xero.linked_to("e4")
    assert [r.data["email"] for r in xero.users() if r.record_id == mary] == ["mary@harbour.test"]
    assert xero.fanned_out == [[mary]]  # the new user goes on to the other providers

    status, page = xero.api("GET", "/v1/duplicates", query="kind=user")
    assert status == 200
    reviews = {d["provider_user"]["id"]: d for d in page["items"]}
    assert set(reviews) == {"e2", "e3"}
    assert reviews["e2"]["id"] == "xero:user:e2"
    assert reviews["e2"]["candidates"][0]["hub_id"] == xero.hub["Grace Hopper"]
    assert reviews["e2"]["candidates"][0]["reasons"] == ["same first and last name"]
    assert reviews["e3"]["candidates"][0]["reasons"] == ["same email"]
    # contacts' review is not mixed with staff's
    assert xero.api("GET", "/v1/duplicates", query="kind=contact")[1]["items"] == []


def test_a_staff_review_is_resolved_by_linking_importing_or_ignoring(xero):
    xero.adopt(
        [
            employee("e2", "Grace", "Hopper", "g.hopper@home.test"),
            employee("e3", "Al", "Turing", "alan@harbour.test"),
            employee("e5", "Ada", "Byron", "ada.b@home.test"),
        ]
    )

    status, row = xero.api(
        "POST",
        "/v1/duplicates/xero:user:e2/resolve",
        {"action": "link", "hub_id": xero.hub["Grace Hopper"]},
    )
    assert (status, row["status"]) == (200, "resolved")
    assert xero.linked_to("e2") == xero.hub["Grace Hopper"]

    status, row = xero.api(
        "POST", "/v1/duplicates/xero:user:e3/resolve", {"action": "import_as_new"}
    )
    assert status == 200
    new_id = row["resolution"]["hub_id"]
    assert xero.linked_to("e3") == new_id != xero.hub["Alan Turing"]
    assert len(xero.users()) == 4

    assert xero.api("POST", "/v1/duplicates/xero:user:e5/resolve", {"action": "ignore"})[0] == 200
    # a later pull of the ignored employee neither reopens it nor creates a user
    assert xero.adopt([employee("e5", "Ada", "Byron", "ada.b@home.test")]) == 0
    status, page = xero.api("GET", "/v1/duplicates", query="kind=user&status=open")
    assert page["items"] == []
    # a resolved review cannot be resolved again
    again = xero.api("POST", "/v1/duplicates/xero:user:e2/resolve", {"action": "ignore"})
    assert again[0] == 409


def test_qbo_employees_match_by_email_then_by_display_name(qbo):
    created = qbo.adopt(
        [
            employee("7", "Ada", "Lovelace", "ada@harbour.test"),  # email agrees, name not
            employee("8", "Grace", "Hopper", "grace.h@books.test"),  # display name agrees
            employee("9", "Alan", "Turing.", "turing@books.test"),  # close name: review
        ]
    )
    assert qbo.linked_to("7") == qbo.hub["Ada Byron"]
    assert qbo.linked_to("8") == qbo.hub["Grace Hopper"]
    assert qbo.linked_to("9") is None
    assert created == 0
    (review,) = qbo.api("GET", "/v1/duplicates", query="kind=user")[1]["items"]
    assert review["id"] == "qbo:user:9"


def test_a_replayed_pull_creates_no_staff_twice(xero, monkeypatch):
    changes = [employee("e4", "Mary", "Somerville", "mary@harbour.test")]

    # a crash after the hub user was written and before its link
    real_link = staff.link
    monkeypatch.setattr(staff, "link", lambda *a: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        xero.adopt(changes)
    monkeypatch.setattr(staff, "link", real_link)

    xero.adopt(changes)  # the message is delivered again
    xero.adopt(changes)  # and once more
    marys = [r for r in xero.users() if r.data["first_name"] == "Mary"]
    assert len(marys) == 1
    assert xero.linked_to("e4") == marys[0].record_id
