"""The one mode mechanism every simulator shares: `/_sim/companies/{cid}/modes` and
`/_sim/modes`, validation, snapshot and reset (local/simulators/core/modes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from local.simulators import start
from local.simulators.core import Mode, ModeStore


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, str]]:
    handles = start()
    try:
        yield {name: h.url for name, h in handles.items()}
    finally:
        for h in handles.values():
            h.stop()


@pytest.fixture
def qbt(sims: dict[str, str]) -> str:
    requests.post(sims["qbt"] + "/_sim/reset", timeout=5)
    return sims["qbt"]


def company(base: str, name: str = "Modes Co") -> str:
    r = requests.post(base + "/_sim/companies", json={"name": name}, timeout=5)
    return str(r.json()["id"])


def modes(base: str, cid: str | None = None) -> dict:
    path = f"/_sim/companies/{cid}/modes" if cid else "/_sim/modes"
    r = requests.get(base + path, timeout=5)
    assert r.status_code == 200, r.text
    return dict(r.json())


def put(base: str, changes: dict, cid: str | None = None) -> requests.Response:
    path = f"/_sim/companies/{cid}/modes" if cid else "/_sim/modes"
    return requests.put(base + path, json=changes, timeout=5)


def test_every_simulator_declares_latency_off_with_its_own_defaults(sims):
    for name, base in sims.items():
        cid = company(base)

        listed = {m["name"]: m for m in modes(base, cid)["available"]}

        assert listed["latency"]["default"] == "off", name
        assert listed["latency_fixed_ms"]["default"] > 0, name
        assert listed["latency_fixed_ms"]["source"], name


def test_unknown_mode_name_is_refused_with_400_naming_it(qbt):
    cid = company(qbt)

    r = put(qbt, {"no_such_mode": "on"}, cid)

    assert r.status_code == 400
    assert "no_such_mode" in r.json()["message"]


def test_unknown_mode_value_is_refused_with_400_naming_mode_and_value(qbt):
    cid = company(qbt)

    r = put(qbt, {"latency": "sometimes"}, cid)

    assert r.status_code == 400
    assert "latency" in r.json()["message"]
    assert "sometimes" in r.json()["message"]


def test_a_refused_change_leaves_the_other_modes_of_the_request_unset(qbt):
    cid = company(qbt)

    put(qbt, {"write_status": "207", "latency": "sometimes"}, cid)

    assert modes(qbt, cid)["modes"]["write_status"] == "200"


def test_modes_of_an_unknown_company_are_404(qbt):
    assert requests.get(qbt + "/_sim/companies/999/modes", timeout=5).status_code == 404


def test_company_value_beats_the_server_value_and_null_goes_back_to_it(qbt):
    # Given a server-wide latency on and two companies, one of which turns it off
    a, b = company(qbt, "A"), company(qbt, "B")
    put(qbt, {"latency": "on"})
    put(qbt, {"latency": "off"}, b)

    # Then A follows the server, B its own value until it clears it
    assert modes(qbt, a)["modes"]["latency"] == "on"
    assert modes(qbt, b)["modes"]["latency"] == "off"
    put(qbt, {"latency": None}, b)
    assert modes(qbt, b)["modes"]["latency"] == "on"


def test_modes_survive_snapshot_and_restore_and_are_cleared_by_reset(qbt):
    cid = company(qbt)
    put(qbt, {"write_status": "207"}, cid)
    snap = requests.get(qbt + "/_sim/snapshot", timeout=5).json()

    put(qbt, {"write_status": "201"}, cid)
    requests.post(qbt + "/_sim/restore", json=snap, timeout=5)
    restored = modes(qbt, cid)["modes"]["write_status"]
    requests.post(qbt + "/_sim/reset", timeout=5)
    cid2 = company(qbt)

    assert restored == "207"
    assert modes(qbt, cid2)["modes"]["write_status"] == "200"


def test_numeric_mode_takes_numbers_within_its_range_only():
    store = ModeStore([Mode("limit", 5, "a limit", "(U)", minimum=1, integer=True)])

    store.set("c1", {"limit": 3})

    assert store.get("c1", "limit") == 3
    assert store.get("c2", "limit") == 5
    for bad in (0, 2.5, "3", True):
        with pytest.raises(ValueError, match="limit"):
            store.set("c1", {"limit": bad})
