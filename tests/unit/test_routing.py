"""registry.wants: which provider receives which hub record, from the connection's settings
and the families registered (providers/registry.py)."""

import pytest

from booksync.providers.registry import wants

CLIENT = {"name": "Acme", "contact_type": "Client"}
SUPPLIER = {"name": "Paper Co", "contact_type": "Supplier"}
JOB = {"contact_id": "c1", "name": "2026 accounts"}
STAFF = {"first_name": "Ada", "last_name": "Byron", "email": "ada@firm.example"}


@pytest.mark.parametrize("provider", ["qbo", "qbt", "xero"])
def test_a_contact_goes_where_its_type_is_chosen(provider):
    # Given a connection that sends clients and suppliers
    settings = {"contact_types": ["Client", "Supplier"]}
    # Then clients and suppliers go, prospects do not
    assert wants(provider, settings, "contact", CLIENT)
    assert wants(provider, settings, "contact", SUPPLIER)
    assert not wants(provider, settings, "contact", {**CLIENT, "contact_type": "Prospect"})


@pytest.mark.parametrize("provider", ["qbo", "qbt", "xero"])
def test_settings_never_saved_send_clients_only(provider):
    assert wants(provider, {}, "contact", CLIENT)
    assert not wants(provider, {}, "contact", SUPPLIER)


@pytest.mark.parametrize("provider", ["qbo", "qbt", "xero"])
def test_a_connection_with_sync_disabled_wants_nothing(provider):
    settings = {"sync_enabled": False, "contact_types": ["Client"]}
    assert not wants(provider, settings, "contact", CLIENT)
    assert not wants(provider, settings, "user", STAFF)


def test_work_items_go_to_qbt_only_when_it_syncs_work_items():
    assert not wants("qbt", {"sync": "contacts"}, "work_item", JOB)
    assert wants("qbt", {"sync": "contacts_and_work_items"}, "work_item", JOB)


def test_work_items_go_to_qbo_only_as_sub_customers():
    assert not wants("qbo", {}, "work_item", JOB)
    assert wants("qbo", {"work_items_as_sub_customers": True}, "work_item", JOB)


def test_work_items_never_go_to_xero():
    assert not wants("xero", {"sync": "contacts_and_work_items"}, "work_item", JOB)


def test_users_go_to_qbo_and_qbt_but_not_xero():
    assert wants("qbo", {}, "user", STAFF)
    assert wants("qbt", {}, "user", STAFF)
    assert not wants("xero", {}, "user", STAFF)


@pytest.mark.parametrize("provider", ["qbo", "qbt", "xero"])
def test_contact_types_stay_in_the_hub(provider):
    assert not wants(provider, {"contact_types": ["Client"]}, "contact_type", {"name": "Client"})


def test_an_unknown_provider_or_kind_wants_nothing():
    assert not wants("sage", {"contact_types": ["Client"]}, "contact", CLIENT)
    assert not wants("qbo", {}, "invoice", {"contact_type": "Client"})


@pytest.mark.parametrize(("provider", "batch"), [("qbo", 30), ("qbt", 50), ("xero", 50)])
def test_a_bulk_message_bundles_exactly_one_provider_batch(provider, batch):
    from booksync.providers import registry

    family = registry.pushed(provider, "contact")
    assert family is not None
    assert registry.bundle_size(provider) == family.max_batch == batch
