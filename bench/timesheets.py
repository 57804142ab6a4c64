"""`make bench` part 3 (issue 12): time entries, with the simulators' latency and rate
limits on, through the real stack (API, queues, workers, simulators).

- An idle QuickBooks Time poll: provider calls per poll of a settled, unchanged account
  (target: 1, the `last_modified_timestamps` call).
- Hub -> QBT: entries created one after another through the API (two a second); from
  each 201 to its timesheet at the QBT simulator (polled every 0.2 s). p50/p95 (target:
  p95 <= 10 s).
- QBT -> hub: timesheets entered in the QBT simulator, then the `QbtPoll` schedule's tick
  fired as EventBridge would; from the tick to the entry in the hub, p50/p95. With the
  default 5-minute schedule an entry also waits for the next tick, uniformly 0 to 5
  minutes: its p95 is at most 0.95 x 5 min plus the tick's p95 (target: <= 5 min).
- 1,000 entries sent to QuickBooks Online as time activities (a firm connected to QBO
  alone): from the send to the last one sent, per minute against QBO's bound of 500
  items a minute (target: >= 90%), provider calls and 429s (target: 0).

    python -m bench.timesheets [--activities 1000] [--samples 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.figures import BOUND, SHARE_OF_BOUND, table
from bench.sync import Bench, cli
from local.person import connect
from local.stack import LocalStack

POLL_MINUTES = 5  # the template's QbtPollMinutes default
QBT_API = "/api/v1/"
QBO_API = "/v3/company/"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0..1) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class TimeBench:
    def __init__(self, stack: LocalStack) -> None:
        assert stack.gateway is not None
        self.stack = stack
        self.api = stack.gateway.url
        self.sims: dict[str, str] = stack.endpoints()["simulators"]
        self.helper = Bench(stack)

    # ----------------------------------------------------------------- plumbing

    def call(self, method: str, path: str, auth: dict[str, str], body: Any = None) -> Any:
        while True:
            reply = requests.request(
                method, f"{self.api}{path}", headers=auth, json=body, timeout=120
            )
            if reply.status_code != 429:
                break
            # the key's token bucket (API_KEY_RATE_PER_SECOND): wait as it says
            time.sleep(float(reply.headers.get("Retry-After") or 1))
        reply.raise_for_status()
        return reply.json() if reply.content else None

    def firm(
        self, name: str, providers: tuple[str, ...], seeds: dict[str, str] | None = None
    ) -> tuple[dict[str, str], dict[str, str]]:
        """A tenant connected to new companies (empty, or seeded as `seeds` says)."""
        tenant = cli(self.stack, "tenants", "create", name)["tenant_id"]
        key = cli(self.stack, "api-keys", "create", tenant)["key"]
        companies = {}
        for provider in providers:
            seed = (seeds or {}).get(provider, "empty")
            companies[provider] = self.helper.company(provider, f"{name} {provider}", seed)
            result = connect(self.api, key, provider, sim_company=companies[provider])
            assert result.status == 200, result.page[:500]
        self.stack.drain(timeout=300)
        return {"Authorization": f"Bearer {key}"}, companies

    def people(self, auth: dict[str, str], users: int, clients: int) -> tuple[list[Any], list[Any]]:
        staff = [
            self.call(
                "POST",
                "/v1/users",
                auth,
                {
                    "first_name": f"Bench{i}",
                    "last_name": "Timer",
                    "email": f"timer{i}@bench.example",
                    "task_types": ["Audit", "Tax"],
                    "roles": ["Partner"],
                },
            )
            for i in range(users)
        ]
        made = [
            self.call("POST", "/v1/contacts", auth, {"name": f"Time Client {i:03d}"})
            for i in range(clients)
        ]
        return staff, made

    def objects(self, provider: str, company: str, kind: str) -> list[dict[str, Any]]:
        url = f"{self.sims[provider]}/_sim/companies/{company}/objects/{kind}"
        found: list[dict[str, Any]] = requests.get(url, timeout=60).json()["objects"]
        return found

    def calls(self, provider: str, company: str, api: str) -> list[dict[str, Any]]:
        log = requests.get(f"{self.sims[provider]}/_sim/calls", timeout=60).json()["calls"]
        return [c for c in log if c.get("company") == company and api in str(c.get("path"))]

    def forget_calls(self) -> None:
        for url in self.sims.values():
            requests.delete(f"{url}/_sim/calls", timeout=30).raise_for_status()

    def tick(self) -> None:
        """The QbtPoll schedule fires, as EventBridge would."""
        self.call("POST", "/_local/schedules/QbtPoll", {})

    def link(self, firm: dict[str, Any], kind: str, hub_id: str) -> str:
        cursor = None
        while True:
            more = f"&cursor={cursor}" if cursor else ""
            page = self.call(
                "GET", f"/v1/links?provider=qbt&kind={kind}&limit=200{more}", firm["auth"]
            )
            for row in page["items"]:
                if row["hub_id"] == hub_id:
                    return str(row["provider_id"])
            cursor = page.get("next_cursor")
            if not cursor:
                raise LookupError(f"{kind} {hub_id} has no QBT link")

    def hub_entries(self, auth: dict[str, str], query: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            more = f"&cursor={cursor}" if cursor else ""
            page = self.call("GET", f"/v1/time-entries?{query}&limit=200{more}", auth)
            out += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    # ----------------------------------------------------------------- phases

    def qbt_firm(self) -> dict[str, Any]:
        auth, companies = self.firm("Bench time QBT", ("qbt",))
        staff, made = self.people(auth, 5, 10)
        self.call("POST", "/v1/connections/qbt/sync", auth)
        self.stack.drain(timeout=600)
        return {"auth": auth, "company": companies["qbt"], "staff": staff, "clients": made}

    def hub_to_qbt(self, firm: dict[str, Any], samples: int) -> list[float]:
        """Seconds from each entry's 201 to its timesheet at QBT."""
        created: dict[str, float] = {}
        seen: dict[str, float] = {}
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                for sheet in self.objects("qbt", firm["company"], "timesheets"):
                    note = str(sheet.get("notes") or "")
                    if note.startswith("bench out ") and note not in seen:
                        seen[note] = time.monotonic()
                if len(seen) >= samples:
                    return
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        day = date.today() - timedelta(days=3)
        for i in range(samples):
            note = f"bench out {i:04d}"
            self.call(
                "POST",
                "/v1/time-entries",
                firm["auth"],
                {
                    "user_id": firm["staff"][i % len(firm["staff"])]["id"],
                    "contact_id": firm["clients"][i % len(firm["clients"])]["id"],
                    "date": day.isoformat(),
                    "duration_minutes": 30 + i,
                    "notes": note,
                    "task_type": "Audit",
                },
            )
            created[note] = time.monotonic()
            time.sleep(0.5)
        watcher.join(timeout=120)
        done.set()
        return [seen[n] - created[n] for n in created if n in seen]

    def qbt_to_hub(self, firm: dict[str, Any], rounds: int, per_round: int) -> list[float]:
        """Seconds from the schedule's tick to each timesheet entered in QBT being in the
        hub."""
        company = firm["company"]
        # the firm's own people and clients (an unlinked QBT user's time is held, not landed)
        user_ids = [int(self.link(firm, "user", u["id"])) for u in firm["staff"]]
        jobcodes = [{"id": self.link(firm, "contact", c["id"])} for c in firm["clients"]]
        out: list[float] = []
        for r in range(rounds):
            notes = []
            for i in range(per_round):
                note = f"bench in {r:03d}-{i:02d}"
                notes.append(note)
                url = f"{self.sims['qbt']}/_sim/companies/{company}/objects/timesheets"
                requests.post(
                    url,
                    json={
                        "user_id": user_ids[(r + i) % len(user_ids)],
                        "jobcode_id": int(jobcodes[(r * per_round + i) % len(jobcodes)]["id"]),
                        "type": "manual",
                        "date": (date.today() - timedelta(days=2)).isoformat(),
                        "duration": 900 * (1 + i),
                        "notes": note,
                    },
                    timeout=30,
                ).raise_for_status()
            time.sleep(1.1)  # the ticks of a real schedule are minutes apart, never within
            ticked = time.monotonic()  # the second the timesheets were stamped in
            self.tick()
            landed: dict[str, float] = {}
            deadline = ticked + 120
            while len(landed) < per_round and time.monotonic() < deadline:
                for entry in self.hub_entries(firm["auth"], "origin=qbt"):
                    if entry["notes"] in notes and entry["notes"] not in landed:
                        landed[entry["notes"]] = time.monotonic() - ticked
                time.sleep(0.2)
            out += landed.values()
        return out

    def idle_poll(self, firm: dict[str, Any]) -> tuple[int, list[str]]:
        """Provider calls of one poll of a settled, unchanged account."""
        self.stack.drain(timeout=300)
        for _ in range(2):  # the last reads settle (answered in a later second)
            time.sleep(1.1)
            self.tick()
            self.stack.drain(timeout=300)
        self.forget_calls()
        self.tick()
        self.stack.drain(timeout=300)
        mine = self.calls("qbt", firm["company"], QBT_API)
        return len(mine), [str(c["endpoint"]) for c in mine]

    def send_to_qbo(self, n: int) -> dict[str, Any]:
        auth, companies = self.firm("Bench time QBO", ("qbo",))
        staff, made = self.people(auth, 10, 20)
        self.stack.drain(timeout=600)
        first = date.today() - timedelta(days=40)

        def entry(i: int) -> None:
            self.call(
                "POST",
                "/v1/time-entries",
                auth,
                {
                    "user_id": staff[i % len(staff)]["id"],
                    "contact_id": made[i % len(made)]["id"],
                    "date": (first + timedelta(days=i % 35)).isoformat(),
                    "duration_minutes": 15 + i % 240,
                    "notes": f"bench send {i:05d}",
                    "approved": True,
                    "billable": i % 2 == 0,
                    "hourly_rate": "120.00",
                },
            )

        threads = [
            threading.Thread(target=lambda k=k: [entry(i) for i in range(k, n, 2)])
            for k in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.stack.drain(timeout=600)
        self.forget_calls()
        span = {"date_from": first.isoformat(), "date_to": date.today().isoformat()}
        began = time.monotonic()
        send = self.call("POST", "/v1/connections/qbo/time-activities/send", auth, span)
        sent = 0
        while time.monotonic() - began < 1800:
            state = self.call(
                "GET", f"/v1/connections/qbo/time-activities/sends/{send['id']}", auth
            )
            sent = int(state["counts"].get("sent", 0))
            if state["done"]:
                break
            time.sleep(1.0)
        seconds = time.monotonic() - began
        log = self.calls("qbo", companies["qbo"], QBO_API)
        activities = [
            a
            for a in self.objects("qbo", companies["qbo"], "TimeActivity")
            if str(a.get("Description", "")).startswith("bench send")
        ]
        return {
            "sent": sent,
            "seconds": seconds,
            "per_minute": sent / (seconds / 60) if seconds else 0.0,
            "calls": len(log),
            "batches": sum(1 for c in log if str(c["endpoint"]).endswith("/batch")),
            "throttled": sum(1 for c in log if c.get("status") == 429),
            "activities": len(activities),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.timesheets")
    parser.add_argument("--activities", type=int, default=1000, help="entries sent to QBO")
    parser.add_argument("--samples", type=int, default=40, help="entries each way")
    args = parser.parse_args(argv)
    stack = LocalStack(
        state_dir=Path(tempfile.mkdtemp(prefix="booksync-bench-time-")),
        port=0,
        sim_port_base=0,
        run_schedules=False,
    )
    began = time.monotonic()
    stack.start()

    def say(text: str) -> None:
        print(f"[{(time.monotonic() - began) / 60:5.1f} min] {text}", flush=True)

    try:
        bench = TimeBench(stack)
        latency = bench.helper.latency_on()
        say("a firm on QuickBooks Time: 5 users, 10 clients, save and sync")
        firm = bench.qbt_firm()
        say(f"hub -> QBT: {args.samples} entries, two a second")
        out = bench.hub_to_qbt(firm, args.samples)
        rounds = max(1, args.samples // 5)
        say(f"QBT -> hub: {rounds} ticks of 5 timesheets each")
        back = bench.qbt_to_hub(firm, rounds, 5)
        say("an idle QBT poll")
        idle_calls, idle_endpoints = bench.idle_poll(firm)
        say(f"{args.activities:,} entries sent to QBO as time activities")
        sent = bench.send_to_qbo(args.activities)
        say("done")
    finally:
        stack.stop()

    print(
        "\nTime bench: simulators' rate limits on; latency on ("
        + ", ".join(f"{p} {ms} ms + {per} ms per object" for p, (ms, per) in latency.items())
        + f"); {(time.monotonic() - began) / 60:.0f} min in all."
    )
    wait_p95 = 0.95 * POLL_MINUTES * 60
    rows = [
        ("hub -> QBT (201 to timesheet)", out),
        ("QBT -> hub (tick to entry)", back),
    ]
    print(
        table(
            ("path", "samples", "p50 s", "p95 s", "max s"),
            [(k, len(v), pct(v, 0.5), pct(v, 0.95), max(v or [0.0])) for k, v in rows],
        )
    )
    bound = BOUND["qbo"]
    print(
        f"\nQBO send: {sent['sent']:,} of {args.activities:,} sent in {sent['seconds']:.0f} s, "
        f"{sent['per_minute']:,.0f}/min ({100 * sent['per_minute'] / bound:.0f}% of QBO's "
        f"{bound}/min); {sent['calls']} calls ({sent['batches']} batches), "
        f"{sent['throttled']} 429s; {sent['activities']:,} TimeActivities at QBO"
    )
    print(f"Idle QBT poll: {idle_calls} call(s): {', '.join(idle_endpoints) or 'none'}")
    qbt_to_hub_p95 = wait_p95 + pct(back, 0.95)
    targets = [
        ("idle QBT poll = 1 call", idle_calls == 1),
        (f"hub -> QBT p95 <= 10 s ({pct(out, 0.95):.1f} s)", bool(out) and pct(out, 0.95) <= 10),
        (
            f"QBT -> hub p95 <= 5 min with the {POLL_MINUTES}-minute schedule "
            f"({qbt_to_hub_p95 / 60:.2f} min: 0.95 x {POLL_MINUTES} min wait + the tick's p95)",
            bool(back) and qbt_to_hub_p95 <= 300,
        ),
        (
            f"QBO send >= {SHARE_OF_BOUND:.0%} of {bound}/min ({sent['per_minute']:,.0f}/min)",
            sent["per_minute"] >= SHARE_OF_BOUND * bound,
        ),
        ("QBO send: 0 429s", sent["throttled"] == 0),
        (
            "each entry one TimeActivity",
            sent["activities"] == sent["sent"] == args.activities,
        ),
    ]
    print("\nTargets")
    for label, ok in targets:
        print(f"  [{'met' if ok else 'NOT MET'}] {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
