"""Xero behaviours a kind simulator would hide: XML for a client that does not ask for JSON,
the Starter tier's daily limit, the concurrent limit's 429 without Retry-After, and
HighVolumeException for large organisations. Each test sets the mode it needs."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import requests
from xero_python.accounting import AccountingApi, Contact, Contacts
from xero_python.exceptions import AccountingBadRequestException

from local.simulators.core import Clock, serve
from local.simulators.xero import make_provider

from .test_xero import api, login, xero_client

BASE = "/api.xro/2.0"


@pytest.fixture
def sim():
    server = serve(make_provider(Clock()))
    try:
        yield server
    finally:
        server.stop()


def set_modes(sim, tenant: str, **modes: Any) -> None:
    r = requests.put(f"{sim.url}/_sim/companies/{tenant}/modes", json=modes, timeout=5)
    assert r.status_code == 200, r.text


def accounting(sim, tokens: dict[str, Any], monkeypatch) -> AccountingApi:
    return AccountingApi(xero_client(sim, tokens, monkeypatch), base_url=sim.url + BASE)


# -- XML by default ---------------------------------------------------------------------------


def test_without_a_json_accept_header_contacts_come_back_as_xml(sim):
    # Given a client that sends no JSON Accept header (requests' default is */*)
    tokens, tenant = login(sim)

    # When it lists contacts
    r = api(sim, tokens, tenant, "GET", "/Contacts", headers={"Accept": "*/*"})

    # Then Xero answers 200 in XML: a Response with a Contacts list of Contact elements
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "Response"
    assert root.findtext("Status") == "OK"
    names = [c.findtext("Name") for c in root.iter("Contact")]
    assert "Bayside Club" in names
    assert not root.findtext("DateTimeUTC").startswith("/Date(")


def test_validation_error_without_a_json_accept_header_is_an_xml_api_exception(sim):
    tokens, tenant = login(sim)

    r = api(
        sim,
        tokens,
        tenant,
        "PUT",
        "/Contacts",
        json={"Contacts": [{"Name": "Bayside Club"}]},  # the name of an active contact
        headers={"Accept": "application/xml"},
    )

    assert r.status_code == 400
    root = ET.fromstring(r.content)
    assert root.tag == "ApiException"
    assert root.findtext("Type") == "ValidationException"
    assert "already assigned" in root.findtext(".//ValidationError/Message")


# -- limits ------------------------------------------------------------------------------------


def test_starter_tier_day_limit_shows_in_the_remaining_header(sim):
    tokens, tenant = login(sim)
    set_modes(sim, tenant, day_limit=1000)

    r = api(sim, tokens, tenant, "GET", "/Organisation")

    assert r.headers["X-DayLimit-Remaining"] == "999"


def test_past_the_day_limit_the_429_names_the_day_and_says_when_to_retry(sim):
    # Given an organisation whose daily allowance is spent but for three calls
    # (raw HTTP: xero-python's urllib3 would sleep through the Retry-After of hours)
    tokens, tenant = login(sim)
    set_modes(sim, tenant, day_limit=3)
    first = [api(sim, tokens, tenant, "GET", "/Organisation").status_code for _ in range(3)]

    # When the app calls again
    r = api(sim, tokens, tenant, "GET", "/Organisation")

    # Then the 429 names the day limit and asks for a wait of hours, not seconds
    assert first == [200, 200, 200]
    assert r.status_code == 429
    assert r.headers["X-Rate-Limit-Problem"] == "day"
    assert int(r.headers["Retry-After"]) > 60


def test_concurrent_limit_429_names_its_problem_and_sends_no_retry_after(sim):
    # Given six calls in flight at once against one organisation (Xero allows five)
    tokens, tenant = login(sim)
    requests.post(
        sim.url + "/_sim/faults",
        json={"action": "slow", "path": "/Organisation", "seconds": 3.0},
        timeout=5,
    )
    answers: list[requests.Response] = []
    together = threading.Barrier(6)

    def call() -> None:
        together.wait()
        answers.append(api(sim, tokens, tenant, "GET", "/Organisation"))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then the refused one names the concurrent limit and has no Retry-After
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 1
    assert refused[0].headers["X-Rate-Limit-Problem"] == "concurrent"
    assert "Retry-After" not in refused[0].headers


# -- high volume -------------------------------------------------------------------------------


def test_high_volume_org_refuses_an_or_filter_on_contact_numbers(sim, monkeypatch):
    # Given a "large" organisation: high volume on, above a threshold of 3 contacts
    tokens, tenant = login(sim)
    set_modes(sim, tenant, high_volume="on", high_volume_threshold=3)
    acc = accounting(sim, tokens, monkeypatch)
    where = "||".join(f'ContactNumber=="{n}"' for n in ("A400", "A500", "A600"))

    # When the app looks contacts up with an OR of ContactNumbers (xero-python #148)
    with pytest.raises(AccountingBadRequestException) as info:
        acc.get_contacts(tenant, where=where, page=1)

    # Then Xero answers HighVolumeException
    body = info.value.error_data
    assert body["Type"] == "HighVolumeException"
    assert "not filtering Contacts efficiently" in body["Message"]


def test_high_volume_org_refuses_an_unpaged_contact_list(sim):
    tokens, tenant = login(sim)
    set_modes(sim, tenant, high_volume="on", high_volume_threshold=3)

    r = api(sim, tokens, tenant, "GET", "/Contacts")

    assert r.status_code == 400
    assert r.json()["Type"] == "HighVolumeException"


def test_high_volume_org_answers_a_paged_single_filter(sim, monkeypatch):
    tokens, tenant = login(sim)
    set_modes(sim, tenant, high_volume="on", high_volume_threshold=3)
    acc = accounting(sim, tokens, monkeypatch)

    found = acc.get_contacts(tenant, where='Name=="Bayside Club"', page=1).contacts

    assert [c.name for c in found] == ["Bayside Club"]


def test_small_org_answers_the_same_or_filter(sim, monkeypatch):
    tokens, tenant = login(sim)
    set_modes(sim, tenant, high_volume="on")  # threshold 100,000: the demo org is small
    acc = accounting(sim, tokens, monkeypatch)

    found = acc.get_contacts(tenant, where='Name=="Bayside Club"||Name=="Nobody"').contacts

    assert [c.name for c in found] == ["Bayside Club"]


# -- latency -----------------------------------------------------------------------------------


def test_latency_per_element_counts_the_contacts_of_one_put(sim, monkeypatch):
    tokens, tenant = login(sim)
    set_modes(sim, tenant, latency="on", latency_fixed_ms=1, latency_per_object_ms=2)
    requests.delete(sim.url + "/_sim/calls", timeout=5)
    acc = accounting(sim, tokens, monkeypatch)

    acc.create_contacts(tenant, Contacts(contacts=[Contact(name=f"Lat {i}") for i in range(3)]))

    calls = requests.get(sim.url + "/_sim/calls", timeout=5).json()["calls"]
    assert [c["latency_ms"] for c in calls if c["endpoint"].endswith("/Contacts")] == [7.0]
