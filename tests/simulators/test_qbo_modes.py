"""QBO behaviours the real service is reported to show and a kind simulator would hide: the
modes of `local/simulators/qbo/modes.py`, the per-second throttle, CorePlus metering, the
open-balance rule and Intuit's documented webhook delivery. Each test sets the mode it needs."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.base import Ref
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice

from local.simulators.core import Clock, serve
from local.simulators.qbo import make_provider

from .test_qbo import Api, connect_with_intuit_clients, invoice, quickbooks_client


@pytest.fixture(autouse=True)
def _plain_http_oauth(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture
def sim():
    server = serve(make_provider(Clock()), 0)
    requests.put(server.url + "/_sim/ratelimits", json={"enabled": False})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def company(sim):
    return requests.post(sim.url + "/_sim/companies", json={"name": "Sandbox US"}).json()


@pytest.fixture
def api(sim, company):
    token = requests.post(sim.url + "/_sim/oauth/tokens", json={"company_id": company["id"]})
    return Api(sim, company["id"], token.json()["access_token"])


def set_modes(sim, realm: str, **modes: Any) -> dict:
    r = requests.put(f"{sim.url}/_sim/companies/{realm}/modes", json=modes)
    assert r.status_code == 200, r.text
    return r.json()


def qb_for(sim) -> tuple[QuickBooks, str]:
    auth, realm = connect_with_intuit_clients(sim)
    return quickbooks_client(sim, auth, realm), realm


def qb_invoice(customer_id: str, amount: float) -> Invoice:
    line = SalesItemLine()
    line.Amount = amount
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = Ref()
    line.SalesItemLineDetail.ItemRef.value = "1"
    line.SalesItemLineDetail.Qty = 1
    line.SalesItemLineDetail.UnitPrice = amount
    inv = Invoice()
    inv.CustomerRef = Ref()
    inv.CustomerRef.value = customer_id
    inv.Line = [line]
    return inv


def count(api: Api, entity: str) -> int:
    return int(api.query(f"select count(*) from {entity}")["totalCount"])


# ---------------------------------------------------------------- requestid modes


def test_requestid_modes_are_listed_with_their_default_and_sources(sim, company):
    r = requests.get(f"{sim.url}/_sim/companies/{company['id']}/modes")

    modes = {m["name"]: m for m in r.json()["available"]}
    assert r.json()["modes"]["requestid"] == "replay"
    assert modes["requestid"]["values"] == ["replay", "ignored", "batch_6000"]
    assert "#352" in modes["requestid"]["source"]


def test_repeated_requestid_in_ignored_mode_creates_a_second_invoice(sim):
    # Given python-quickbooks connected and the company's requestid mode "ignored"
    qb, realm = qb_for(sim)
    set_modes(sim, realm, requestid="ignored")
    before = len(Invoice.all(qb=qb, max_results=1000))

    # When the same invoice is saved twice with one request id (a retry after a timeout)
    first = qb_invoice("1", 25.0).save(qb=qb, request_id="retry-1")
    second = qb_invoice("1", 25.0).save(qb=qb, request_id="retry-1")

    # Then QuickBooks holds two invoices
    assert first.Id != second.Id
    assert len(Invoice.all(qb=qb, max_results=1000)) == before + 2


def test_repeated_requestid_in_replay_mode_returns_the_first_invoice(sim):
    qb, realm = qb_for(sim)
    set_modes(sim, realm, requestid="replay")

    first = qb_invoice("1", 25.0).save(qb=qb, request_id="retry-2")
    second = qb_invoice("1", 25.0).save(qb=qb, request_id="retry-2")

    assert first.Id == second.Id


def test_replayed_batch_in_batch_6000_mode_fails_every_item_with_6000(sim, api, company):
    # Given the batch_6000 mode and a batch that created two customers
    set_modes(sim, company["id"], requestid="batch_6000")
    body = {
        "BatchItemRequest": [
            {"bId": "a", "operation": "create", "Customer": {"DisplayName": "Batch A"}},
            {"bId": "b", "operation": "create", "Customer": {"DisplayName": "Batch B"}},
        ]
    }
    first = api.post("/batch", body, requestid="batch-rid-1")

    # When the same batch is sent again with the same requestid
    again = api.post("/batch", body, requestid="batch-rid-1")

    # Then the first worked, the replay answers 200 with a 6000 Fault for every item
    assert [
        i.get("Customer", {}).get("DisplayName") for i in first.json()["BatchItemResponse"]
    ] == [
        "Batch A",
        "Batch B",
    ]
    assert again.status_code == 200
    items = again.json()["BatchItemResponse"]
    assert [i["bId"] for i in items] == ["a", "b"]
    assert [i["Fault"]["Error"][0]["code"] for i in items] == ["6000", "6000"]
    assert "unexpected error" in items[0]["Fault"]["Error"][0]["Detail"]


def test_repeated_single_call_in_batch_6000_mode_still_replays(sim, api, company):
    set_modes(sim, company["id"], requestid="batch_6000")

    first = api.post("/customer", {"DisplayName": "Single Replay"}, requestid="s-1")
    again = api.post("/customer", {"DisplayName": "Single Replay"}, requestid="s-1")

    assert again.status_code == 200
    assert again.json() == first.json()


# ---------------------------------------------------------------- CDC cap order


def make_customers(api: Api, names: list[str]) -> None:
    for start in range(0, len(names), 30):
        chunk = names[start : start + 30]
        items = [
            {"bId": str(i), "operation": "create", "Customer": {"DisplayName": n}}
            for i, n in enumerate(chunk)
        ]
        r = api.post("/batch", {"BatchItemRequest": items})
        assert all("Customer" in i for i in r.json()["BatchItemResponse"]), r.text


@pytest.fixture
def over_the_cap(sim, api):
    """Five customers changed first, then 1,000 more ten seconds later: 1,005 changes."""
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 2})
    since = api.get("/companyinfo/1").json()["time"]
    make_customers(api, [f"Early {i}" for i in range(5)])
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 10})
    make_customers(api, [f"Late {i}" for i in range(1000)])
    return since


def cdc_names(api: Api, since: str) -> list[str]:
    r = api.get("/cdc", entities="Customer", changedSince=since)
    assert r.status_code == 200, r.text
    rows = r.json()["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    return [c["DisplayName"] for c in rows]


def test_cdc_over_the_cap_in_oldest_first_mode_keeps_the_oldest_changes(sim, api, over_the_cap):
    set_modes(sim, api.base.rsplit("/", 1)[-1], cdc_order="oldest_first")

    names = cdc_names(api, over_the_cap)

    assert len(names) == 1000
    assert names[:5] == [f"Early {i}" for i in range(5)]


def test_cdc_over_the_cap_in_newest_first_mode_cuts_the_oldest_changes(sim, api, over_the_cap):
    # Given 1,005 changes and the newest_first mode
    set_modes(sim, api.base.rsplit("/", 1)[-1], cdc_order="newest_first")

    # When a client asks CDC for everything since before the first change
    names = cdc_names(api, over_the_cap)

    # Then the five oldest changes are not in the answer at all
    assert len(names) == 1000
    assert not [n for n in names if n.startswith("Early")]


def test_cdc_over_the_cap_in_unordered_mode_answers_out_of_time_order(sim, api, over_the_cap):
    set_modes(sim, api.base.rsplit("/", 1)[-1], cdc_order="unordered")

    names = cdc_names(api, over_the_cap)

    assert len(names) == 1000
    early_at = [i for i, n in enumerate(names) if n.startswith("Early")]
    assert early_at != list(range(len(early_at)))  # the oldest are not simply first


# ---------------------------------------------------------------- metering


def test_calls_are_counted_as_core_and_coreplus_per_company_and_client(sim, api, company):
    requests.delete(sim.url + "/_sim/calls")

    api.create("Customer", {"DisplayName": "Metered"})  # data in
    api.get("/customer/1")  # data out
    api.query("select * from Term")  # data out

    cats = requests.get(sim.url + "/_sim/calls").json()["categories"]
    assert cats["by_company"][company["id"]] == {"Core": 1, "CorePlus": 2}
    assert cats["by_client"]["booksync-dev"] == {"Core": 1, "CorePlus": 2}


def test_coreplus_cap_in_429_mode_refuses_reads_past_the_cap_but_not_writes(sim, api, company):
    # Given a cap of 3 CorePlus calls this month, enforced with 429
    set_modes(sim, company["id"], coreplus_cap="429", coreplus_cap_limit=3)
    reads = [api.get("/term/1").status_code for _ in range(3)]

    # When the app reads a fourth time, and writes
    refused = api.get("/term/1")
    write = api.post("/customer", {"DisplayName": "Still Writable"})

    # Then the read is refused, the write goes through
    assert reads == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["Fault"]["Error"][0]["code"] == "3001"
    assert write.status_code == 200


def test_coreplus_cap_in_403_mode_refuses_with_the_gateway_fault(sim, api, company):
    set_modes(sim, company["id"], coreplus_cap="403", coreplus_cap_limit=1)
    api.get("/term/1")

    refused = api.get("/term/1")

    assert refused.status_code == 403
    assert refused.json()["fault"]["error"][0]["code"] == "3100"


def test_coreplus_cap_counts_every_company_of_the_client_and_lifts_next_month(sim, api, company):
    # Given a client that used its 500,000 CorePlus calls this month (another company, say)
    set_modes(sim, company["id"], coreplus_cap="429")
    requests.put(
        sim.url + "/_sim/qbo/metering", json={"client_id": "booksync-dev", "CorePlus": 500_000}
    )

    # When it reads now, and again after the month turns
    now = api.get("/term/1")
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 32 * 86400})
    requests.put(sim.url + "/_sim/ratelimits", json={"enabled": False})
    token = requests.post(sim.url + "/_sim/oauth/tokens", json={"company_id": company["id"]})
    api.s.headers["Authorization"] = "Bearer " + token.json()["access_token"]
    later = api.get("/term/1")

    # Then it is blocked for the rest of the month only
    assert now.status_code == 429
    assert later.status_code == 200


# ---------------------------------------------------------------- open balance


def test_customer_with_open_balance_cannot_be_made_inactive(sim):
    # Given a customer with an open invoice
    qb, _realm = qb_for(sim)
    cust = Customer()
    cust.DisplayName = "Owes Money"
    cust = cust.save(qb=qb)
    qb_invoice(cust.Id, 40.0).save(qb=qb)
    cust = Customer.get(cust.Id, qb=qb)

    # When the app makes it inactive
    cust.Active = False
    with pytest.raises(QuickbooksException) as exc:
        cust.save(qb=qb)

    # Then QuickBooks refuses, naming the open balance, and the customer stays active
    assert exc.value.error_code == 6000
    assert "open balance" in exc.value.detail
    assert Customer.get(cust.Id, qb=qb).Active is True


def test_parent_whose_job_has_an_open_balance_cannot_be_made_inactive(sim, api):
    parent = api.create("Customer", {"DisplayName": "Parent Co"})
    job = api.create(
        "Customer", {"DisplayName": "The Job", "ParentRef": {"value": parent["Id"]}, "Job": True}
    )
    invoice(api, job["Id"], 15.0)
    parent = api.get(f"/customer/{parent['Id']}").json()["Customer"]

    r = api.post(
        "/customer",
        {"Id": parent["Id"], "SyncToken": parent["SyncToken"], "sparse": True, "Active": False},
    )

    assert r.status_code == 400
    assert r.json()["Fault"]["Error"][0]["Message"] == "Delete List Has Balance Error"


def test_customer_with_zero_balance_can_still_be_made_inactive(api):
    cust = api.create("Customer", {"DisplayName": "Paid Up"})

    r = api.post(
        "/customer",
        {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "sparse": True, "Active": False},
    )

    assert r.status_code == 200
    assert r.json()["Customer"]["Active"] is False


# ---------------------------------------------------------------- throttles


def test_batch_limit_counts_per_realm_and_app(sim, company, api):
    # Given another app that spent the realm's 40 batch calls this minute
    requests.put(sim.url + "/_sim/ratelimits", json={"enabled": True, "reset": True})
    requests.post(
        sim.url + "/_sim/oauth/clients",
        json={"client_id": "other-app", "client_secret": "s", "redirect_uris": []},
    )
    other = requests.post(
        sim.url + "/_sim/oauth/tokens", json={"company_id": company["id"], "client_id": "other-app"}
    ).json()["access_token"]
    other_api = Api(sim, company["id"], other)
    body = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Term"}]}
    for _ in range(40):
        requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 0.11})
        assert other_api.post("/batch", body).status_code == 200

    # When this app sends a batch
    requests.post(sim.url + "/_sim/clock/advance", json={"seconds": 0.11})
    mine = api.post("/batch", body)

    # Then it has its own 40
    assert mine.status_code == 200


# ---------------------------------------------------------------- webhooks


class Receiver:
    """A webhook endpoint that records bodies, fails the first `fail_first` deliveries and
    can answer slowly."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.fail_first = 0
        self.delay = 0.0
        self.cond = threading.Condition()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.cond:
                    outer.got.append(json.loads(body))
                    failing = len(outer.got) <= outer.fail_first
                    outer.cond.notify_all()
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 15.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.got) >= n, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hook(sim, receiver, retry_scale: float = 1.0, window: float = 0.05) -> None:
    requests.put(
        sim.url + "/_sim/webhooks",
        json={"url": receiver.url, "key": "k", "retry_scale": retry_scale},
    )
    requests.put(sim.url + "/_sim/qbo/settings", json={"window": window})


def names_in(body: dict) -> list[str]:
    return [e["id"] for n in body["eventNotifications"] for e in n["dataChangeEvent"]["entities"]]


def deliveries(sim) -> list[dict]:
    return requests.get(sim.url + "/_sim/webhooks").json()["deliveries"]


def test_webhook_reply_slower_than_three_seconds_counts_as_failed(sim, api, receiver):
    # Given a receiver that takes 3.5 s to answer
    receiver.delay = 3.5
    hook(sim, receiver, retry_scale=100.0)  # no retry within the test

    # When a change is delivered
    api.create("Customer", {"DisplayName": "Slow Hook"})
    assert receiver.wait_for(1)
    time.sleep(3.2)  # let the sender's 3 s wait run out

    # Then the sender gave up waiting and will retry
    first = deliveries(sim)[0]
    assert first["outcome"] == "retry"
    assert first["status"] is None


def test_failing_webhook_keeps_being_retried_at_six_hour_intervals_after_the_schedule(
    sim, api, receiver
):
    # Given a receiver that fails its first ten deliveries (the schedule has nine tries)
    receiver.fail_first = 10
    hook(sim, receiver, retry_scale=0.00005)  # 6 h -> ~1 s

    # When a change is delivered
    api.create("Customer", {"DisplayName": "Persistent"})

    # Then the eleventh attempt, beyond Intuit's listed intervals, is delivered
    assert receiver.wait_for(11)
    assert requests.post(sim.url + "/_sim/webhooks/flush", json={"timeout": 10}).ok
    attempts = deliveries(sim)
    assert [a["attempt"] for a in attempts] == list(range(1, 12))
    assert attempts[-1]["outcome"] == "delivered"


def test_held_webhook_mode_delays_later_events_until_the_failed_one_is_acknowledged(
    sim, api, company, receiver
):
    # Given the held mode and a receiver that fails twice
    set_modes(sim, company["id"], webhook_delivery="held")
    receiver.fail_first = 2
    hook(sim, receiver, retry_scale=0.05)  # retries after 0.5 s and 1 s
    first = api.create("Customer", {"DisplayName": "First Event"})
    assert receiver.wait_for(1)
    while not deliveries(sim):
        time.sleep(0.01)

    # When a later change happens while the first delivery is failing
    second = api.create("Customer", {"DisplayName": "Second Event"})
    assert receiver.wait_for(4)

    # Then the later event arrives only after the first one was acknowledged
    assert [names_in(b) for b in receiver.got] == [
        [first["Id"]],
        [first["Id"]],
        [first["Id"]],
        [second["Id"]],
    ]


def test_independent_webhook_mode_lets_a_later_event_overtake_a_failing_one(
    sim, api, company, receiver
):
    set_modes(sim, company["id"], webhook_delivery="independent")
    receiver.fail_first = 1
    hook(sim, receiver, retry_scale=0.1)  # retry after 1 s
    first = api.create("Customer", {"DisplayName": "Early Fail"})
    assert receiver.wait_for(1)
    while not deliveries(sim):
        time.sleep(0.01)

    second = api.create("Customer", {"DisplayName": "Overtaker"})
    assert receiver.wait_for(3)

    assert [names_in(b) for b in receiver.got] == [[first["Id"]], [second["Id"]], [first["Id"]]]


def test_out_of_order_webhook_mode_delivers_a_later_event_first(sim, api, company, receiver):
    # Given the out_of_order mode
    set_modes(sim, company["id"], webhook_delivery="out_of_order")
    hook(sim, receiver)

    # When two changes happen one after the other, in separate deliveries
    first = api.create("Customer", {"DisplayName": "Made First"})
    time.sleep(0.2)  # past the 0.05 s gathering window
    second = api.create("Customer", {"DisplayName": "Made Second"})

    # Then the second arrives before the first
    assert receiver.wait_for(2)
    assert [names_in(b) for b in receiver.got] == [[second["Id"]], [first["Id"]]]


def test_legacy_webhook_bodies_carry_one_realm_each(sim, receiver):
    # Given two companies changed within one gathering window
    hook(sim, receiver, window=0.5)
    a = requests.post(sim.url + "/_sim/companies", json={"name": "Realm A"}).json()["id"]
    b = requests.post(sim.url + "/_sim/companies", json={"name": "Realm B"}).json()["id"]

    requests.patch(f"{sim.url}/_sim/companies/{a}/objects/Customer/1", json={"Notes": "a"})
    requests.patch(f"{sim.url}/_sim/companies/{b}/objects/Customer/1", json={"Notes": "b"})

    # Then each realm comes in its own delivery
    assert receiver.wait_for(2)
    realms = sorted([n["realmId"] for n in body["eventNotifications"]] for body in receiver.got)
    assert realms == sorted([[a], [b]])


# ---------------------------------------------------------------- latency


def test_latency_mode_gives_each_call_its_fixed_and_per_object_time(sim, api, company):
    # Given latency on: 5 ms a call and 20 ms per batch object
    set_modes(sim, company["id"], latency="on", latency_fixed_ms=5, latency_per_object_ms=20)
    requests.delete(sim.url + "/_sim/calls")

    # When a read and a batch of three creates are made
    api.get("/term/1")
    items = [
        {"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"Lat {i}"}}
        for i in range(3)
    ]
    api.post("/batch", {"BatchItemRequest": items})

    # Then the call log shows the time each was given
    calls = requests.get(sim.url + "/_sim/calls").json()["calls"]
    assert [c["latency_ms"] for c in calls] == [5.0, 65.0]


def test_latency_sleeps_outside_the_lock_so_other_companies_are_not_held_up(sim, api, company):
    # Given a company whose calls take 3 s, and another without latency
    set_modes(sim, company["id"], latency="on", latency_fixed_ms=3000)
    other = requests.post(sim.url + "/_sim/companies", json={"name": "Fast"}).json()["id"]
    token = requests.post(sim.url + "/_sim/oauth/tokens", json={"company_id": other}).json()
    fast = Api(sim, other, token["access_token"])
    slow_done = threading.Event()

    def slow_call() -> None:
        api.get("/term/1")
        slow_done.set()

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.3)  # the slow call is in its latency now

    # When the other company is called meanwhile
    answer = fast.get("/term/1")

    # Then it answers while the slow call is still waiting
    assert answer.status_code == 200
    assert not slow_done.is_set()
    t.join()


def test_latency_is_off_unless_turned_on(sim, api):
    requests.delete(sim.url + "/_sim/calls")

    api.get("/term/1")

    assert requests.get(sim.url + "/_sim/calls").json()["calls"][0]["latency_ms"] is None
