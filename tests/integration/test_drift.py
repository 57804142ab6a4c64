"""Drift between the hub and QuickBooks Online (issue 16): seeded of each kind behind
booksync's back (no webhook, no pull), found exactly by the report, closed by a repair,
and a second report finds nothing. Each test is a new firm with a fresh QBO company."""

from __future__ import annotations

import json

import pytest

from booksync.ops.cli import main as cli
from tests.conftest import load_handler
from tests.integration.test_time_entries import (  # noqa: F401 - fixture
    Firm,
    qbt_ready,
    stack_env,
)


@pytest.fixture(scope="module")
def handlers(stack_env):  # noqa: F811 - the fixture imported above
    with pytest.MonkeyPatch.context() as mp:
        yield {
            name: load_handler(name, mp).lambda_handler
            for name in ("api", "oauth", "qbo_push", "qbo_pull", "qbt_push", "qbt_pull")
        }


@pytest.fixture
def books(stack_env, handlers, sims):  # noqa: F811
    return Firm(stack_env, handlers, sims, connect=("qbo",))


def _report(books):
    answer, _ = books.api("GET", "/v1/connections/qbo/drift", ok=200)
    return answer


def _reconcile(capsys, *args):
    capsys.readouterr()
    assert cli(["reconcile", *args]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    return answer


def test_drift_of_each_kind_is_found_exactly_repaired_and_then_gone(books, capsys):
    # Given four contacts in step with QuickBooks
    acme, baker, cole = (books.client(n) for n in ("Acme Ltd", "Baker LLP", "Cole & Co"))
    ann = books.staff()
    books.run()
    books.pull("qbo")
    ids = {c["id"]: books.link("qbo", "contact", c["id"]) for c in (acme, baker, cole)}
    assert all(ids.values())
    assert _report(books)["counts"] == {"differs": 0, "not_linked": 0, "gone": 0, "unlinked": 0}

    # When, behind booksync's back: a rename and a deactivation in QuickBooks' screens, a
    # customer added there, and a hub contact whose push never ran
    books.edit_in_provider("qbo", "Customer", ids[acme["id"]], {"DisplayName": "Acme Limited"})
    books.edit_in_provider("qbo", "Customer", ids[baker["id"]], {"Active": False})
    employee = books.link("qbo", "user", ann["id"])
    books.edit_in_provider("qbo", "Employee", employee, {"FamilyName": "Lee-Wong"})
    walk_in = books.in_provider("qbo", "Customer", {"DisplayName": "Walk-in Ltd"})
    dunn = books.client("Dunn Partners")

    # Then the report names exactly those, and what reading QuickBooks cost
    report = _report(books)
    assert report["counts"] == {"differs": 2, "not_linked": 1, "gone": 1, "unlinked": 1}
    assert report["differs"][1] == {
        "kind": "user",
        "hub_id": ann["id"],
        "provider_id": employee,
        "fields": ["last_name"],
        "changed_since_linked": ["qbo"],
    }
    assert report["differs"][:1] == [
        {
            "kind": "contact",
            "hub_id": acme["id"],
            "provider_id": ids[acme["id"]],
            "fields": ["name"],
            "changed_since_linked": ["qbo"],
        }
    ]
    assert report["gone"] == [
        {
            "kind": "contact",
            "hub_id": baker["id"],
            "provider_id": ids[baker["id"]],
            "why": "inactive",
        }
    ]
    assert report["unlinked"] == [
        {"kind": "contact", "provider_id": walk_in["Id"], "name": "Walk-in Ltd"}
    ]
    assert report["not_linked"] == [
        {"kind": "contact", "hub_id": dunn["id"], "name": "Dunn Partners"}
    ]
    # customers (one listing for the contacts and the jobs), employees and payments read,
    # a page each, as said before; invoices compared on the hub's side (one way)
    assert report["kinds"] == ["contact", "work_item", "user", "invoice", "payment"]
    assert report["calls"] == report["estimated_calls"] == 3

    # and so does the operator's dry run, which changes nothing
    dry = _reconcile(capsys, books.tenant_id, "--provider", "qbo", "--dry-run")
    assert dry["counts"] == report["counts"]
    assert "repaired" not in dry
    assert _report(books)["counts"] == report["counts"]

    # When the operator repairs it
    done = _reconcile(capsys, books.tenant_id, "--provider", "qbo")["repaired"]
    books.run()

    # Then QuickBooks' edits are in the hub, its new customer too, the hub's contact there
    assert done["applied"] == 3
    assert done["created"] == 1
    assert books.api("GET", f"/v1/contacts/{acme['id']}", ok=200)[0]["name"] == "Acme Limited"
    assert books.api("GET", f"/v1/contacts/{baker['id']}", ok=200)[0]["active"] is False
    assert books.api("GET", f"/v1/users/{ann['id']}", ok=200)[0]["last_name"] == "Lee-Wong"
    assert books.link("qbo", "contact", dunn["id"])
    names = sorted(c["DisplayName"] for c in books.objects("qbo", "Customer"))
    assert names == ["Acme Limited", "Baker LLP", "Cole & Co", "Dunn Partners", "Walk-in Ltd"]
    # and a second report is empty; the repair is in the audit trail
    assert _report(books)["counts"] == {"differs": 0, "not_linked": 0, "gone": 0, "unlinked": 0}
    trail, _ = books.api("GET", "/v1/audit", ok=200)
    assert [(i["action"], i["who"]) for i in trail["items"]][:1] == [
        ("drift.repair", "operator-cli")
    ]


def test_drift_needs_an_admin_key_and_a_connected_provider(books):
    from booksync.store.tenants import create_api_key

    reader = create_api_key(books.tenant_id, "read").key
    status, answer = books.api("GET", "/v1/connections/qbo/drift", key=reader)
    assert status == 403, answer
    status, answer = books.api("GET", "/v1/connections/qbt/drift")
    assert (status, answer["detail"]) == (404, "QuickBooks Time is not connected")


def test_content_linked_apart_by_the_import_is_settled_by_the_practice_record(books, capsys):
    # Given a QuickBooks customer and the firm's own record of it, matched by the import
    # (same name but for its case, same email) and so linked while they disagree
    books.in_provider(
        "qbo",
        "Customer",
        {"DisplayName": "ZEPHYR LTD", "PrimaryEmailAddr": {"Address": "z@zephyr.example"}},
    )
    zephyr = books.create(
        "contacts", {"name": "Zephyr Ltd", "emails": [{"address": "z@zephyr.example"}]}
    )
    books.pull("qbo")
    assert books.link("qbo", "contact", zephyr["id"])
    # Then drift names the difference, and that neither side changed since the link
    (item,) = _report(books)["differs"]
    assert (item["fields"], item["changed_since_linked"]) == (["name"], [])
    # and the repair sends the practice app's record: one customer, the firm's spelling
    _reconcile(capsys, books.tenant_id, "--provider", "qbo")
    books.run()
    assert [c["DisplayName"] for c in books.objects("qbo", "Customer")] == ["Zephyr Ltd"]
    assert _report(books)["counts"]["differs"] == 0


def test_drift_at_quickbooks_time_finds_a_rename_there_and_time_never_sent(
    stack_env,  # noqa: F811
    handlers,
    sims,
    capsys,
):
    firm = Firm(stack_env, handlers, sims, connect=("qbt",))
    ann, acme = qbt_ready(firm)
    firm.pull("qbt")  # in step both ways (the account's owner taken in as a hub user)
    user = firm.link("qbt", "user", ann["id"])
    clean = {"differs": 0, "not_linked": 0, "gone": 0, "unlinked": 0}
    first, _ = firm.api("GET", "/v1/connections/qbt/drift", ok=200)
    assert first["counts"] == clean, first["unlinked"]
    assert first["kinds"] == ["contact", "work_item", "user", "time_entry"]
    assert first["calls"] == first["estimated_calls"] == 1  # the users, one page

    # When a person renames Ann in QuickBooks Time (a second later: QBT's stamps are whole
    # seconds) and an entry's push has not yet run
    firm.advance_clock("qbt", 2)
    firm.edit_in_provider("qbt", "users", user, {"last_name": "Lee-Wong"})
    entry = firm.entry(ann, contact_id=acme["id"], minutes=60)

    report, _ = firm.api("GET", "/v1/connections/qbt/drift", ok=200)
    assert report["counts"] == {**clean, "differs": 1, "not_linked": 1}
    assert report["differs"] == [
        {
            "kind": "user",
            "hub_id": ann["id"],
            "provider_id": user,
            "fields": ["last_name"],
            "changed_since_linked": ["qbt"],
        }
    ]
    assert report["not_linked"] == [
        {"kind": "time_entry", "hub_id": entry["id"], "name": entry["date"]}
    ]

    # Then the repair takes QuickBooks Time's name and sends the entry, once
    capsys.readouterr()
    assert cli(["reconcile", firm.tenant_id, "--provider", "qbt"]) == 0
    firm.run()
    assert firm.api("GET", f"/v1/users/{ann['id']}", ok=200)[0]["last_name"] == "Lee-Wong"
    sheets = [t for t in firm.objects("qbt", "timesheets") if t["user_id"] == int(user)]
    assert [str(t["id"]) for t in sheets] == [firm.link("qbt", "time_entry", entry["id"])]
    assert firm.api("GET", "/v1/connections/qbt/drift", ok=200)[0]["counts"] == clean
