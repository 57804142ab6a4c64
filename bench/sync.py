"""`make bench` part 2: contacts synced to each provider with the simulators' rate limits
and latency on, at two sizes, with what each record costs.

One embedded stack runs in this process (moto with a meter, the simulators, the gateway,
the pollers; each Lambda function in its own process). For each size (1,000 and 5,000 by
default) a firm of its own gets that many hub contacts, and for each provider "save and
sync" sends them through the real queues, workers, adapters, budget and simulators.
Printed per size and provider:

- records per minute (from the sync request to the last link written) against the
  provider's rate-limit bound, provider API calls per record, 429s;
- DynamoDB read and write capacity units per record (estimated per request by the moto
  meter, local/aws.py), SQS requests per record (booksync's functions; the event
  source's receives and deletes apart), QBO CorePlus calls per record (the simulator's
  Core/CorePlus categories for the company), and the CPU milliseconds per record of the
  workers (the six sync workers and fanout; not the simulators, moto or the API) in
  their invocations: the import of an instance started mid-phase (a queue scaling out)
  is a cold start's cost, not the records';
- a profile: where the push worker's time went, which says what holds a provider back.

Then the per-record ratios between the sizes, one idle QBO connection-day (24 hourly
ticks an hour apart in event time), a naive loop per provider (one create per call,
sequential, against a company of its own with the same limits and latency), and one line
per target, met or not.

The bench's own progress polling is a DynamoDB COUNT query on the Links partition every
5 s, signed with its own access key so the meter leaves it out.

    python -m bench.sync --records 1000,5000   (the default; about half an hour)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from bench.figures import (
    BOUND,
    IDLE_DAY_MOST,
    NAMES,
    PER_RECORD_TOLERANCE,
    PROVIDERS,
    SHARE_OF_BOUND,
    WORKERS,
    IdleClock,
    Phase,
    holdback,
    met,
    ratio,
    table,
    take_meter,
    within,
)
from local.person import connect
from local.stack import LocalStack
from local.template import ROOT

API = ("/v3/company/", "/api.xro/", "/api/v1/")
BENCH_KEY = "bench"  # the access key of the bench's own AWS calls (left out of the figures)
POLL_SECONDS = 5.0
STALL_SECONDS = 180.0  # no new link for this long: the phase is reported as it stands
WARMUP_RECORDS = 20
# a naive loop runs until its sample or until past the provider's limit window
NAIVE_SAMPLE = {"qbo": 600, "xero": 90, "qbt": 350}
NAIVE_WINDOW_SECONDS = {"qbo": 60, "xero": 60, "qbt": 300}


def cli(stack: LocalStack, *args: str) -> dict[str, Any]:
    env = {**os.environ, **stack.function_env["api"], "PYTHONPATH": str(ROOT / "shared")}
    out = subprocess.run(
        [sys.executable, "-m", "booksync.ops.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _is_api(key: str) -> bool:
    return any(p in key for p in API) and "/authorize" not in key and "/grant" not in key


def _is_read(method: str, endpoint: str) -> bool:
    return method == "GET" or endpoint.rstrip("/").endswith("/query")


# the endpoint each push worker writes contacts to (QBO batch, Xero contacts, QBT jobcodes)
PUSH_ENDPOINT = {"qbo": "/batch", "xero": "/Contacts", "qbt": "/jobcodes"}


def _by_id(endpoint: str) -> bool:
    """A read of one object by its id (`.../{id}` in the simulators' routes)."""
    return endpoint.rstrip("/").endswith("/{id}")


class Bench:
    def __init__(self, stack: LocalStack) -> None:
        assert stack.aws is not None
        assert stack.gateway is not None
        self.stack = stack
        self.api = stack.gateway.url
        self.sims: dict[str, str] = stack.endpoints()["simulators"]
        self.ddb = stack.aws.client("dynamodb", access_key=BENCH_KEY)
        self.links_table = stack.resources["tables"]["LinksTable"]
        self.connections_table = stack.resources["tables"]["ConnectionsTable"]
        self.records_table = stack.resources["tables"]["RecordsTable"]
        self.polls = 0

    # ------------------------------------------------------------------ set-up

    def firm(self, name: str, providers: list[str]) -> tuple[str, dict[str, str], dict[str, str]]:
        """A tenant with an API key and each provider connected to a new, empty company;
        its settings want contacts of type "Bench" (so nothing is queued yet)."""
        tenant = cli(self.stack, "tenants", "create", name)["tenant_id"]
        key = cli(self.stack, "api-keys", "create", tenant)["key"]
        auth = {"Authorization": f"Bearer {key}"}
        companies = {}
        for provider in providers:
            companies[provider] = self.company(provider, f"{name} {provider}")
            result = connect(self.api, key, provider, sim_company=companies[provider])
            assert result.status == 200, result.page[:500]
            self.put(
                f"/v1/connections/{provider}/settings",
                auth,
                {"sync_enabled": True, "contact_types": ["Bench"]},
            )
        self.stack.drain(timeout=300)
        return tenant, auth, companies

    def company(self, provider: str, name: str, seed: str = "empty") -> str:
        reply = requests.post(
            f"{self.sims[provider]}/_sim/companies",
            json={"name": name, "seed": seed},
            timeout=30,
        )
        reply.raise_for_status()
        return str(reply.json()["id"])

    def put(self, path: str, auth: dict[str, str], body: dict[str, Any]) -> None:
        requests.put(f"{self.api}{path}", headers=auth, json=body, timeout=60).raise_for_status()

    def contacts(self, auth: dict[str, str], n: int, prefix: str) -> None:
        """n hub contacts of type "Client", through the practice API (two at a time: the
        API function runs two instances)."""

        def one(i: int) -> None:
            while True:
                reply = requests.post(
                    f"{self.api}/v1/contacts",
                    headers=auth,
                    timeout=60,
                    json={"name": f"{prefix} {i:05d}", "contact_type": "Client"},
                )
                if reply.status_code != 429:
                    break
                # the key's token bucket (API_KEY_RATE_PER_SECOND): wait as it says
                time.sleep(float(reply.headers.get("Retry-After") or 1))
            reply.raise_for_status()

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, range(n)))
        self.stack.drain(timeout=600)

    def want_clients(self, auth: dict[str, str], providers: list[str]) -> None:
        for provider in providers:
            self.put(f"/v1/connections/{provider}/settings", auth, {"contact_types": ["Client"]})

    def latency_on(self) -> dict[str, tuple[int, int]]:
        """Turn every simulator's latency on; (fixed ms, ms per object) of each."""
        out = {}
        for provider, url in self.sims.items():
            requests.put(f"{url}/_sim/modes", json={"latency": "on"}, timeout=30).raise_for_status()
            modes = requests.get(f"{url}/_sim/modes", timeout=30).json()["modes"]
            out[provider] = (
                int(modes["latency_fixed_ms"]),
                int(modes["latency_per_object_ms"]),
            )
        return out

    # ------------------------------------------------------------------ reading state

    def _pages(self, **query: Any) -> Iterator[dict[str, Any]]:
        """Every page of a DynamoDB query, signed with the bench's own key."""
        start = None
        while True:
            reply: dict[str, Any] = self.ddb.query(
                **query, **({"ExclusiveStartKey": start} if start else {})
            )
            yield reply
            start = reply.get("LastEvaluatedKey")
            if not start:
                return

    def _contact_links(self, tenant: str, provider: str, **extra: Any) -> Iterator[dict[str, Any]]:
        return self._pages(
            TableName=self.links_table,
            KeyConditionExpression="link_key = :k AND begins_with(hub_key, :c)",
            ExpressionAttributeValues={
                ":k": {"S": f"{tenant}#{provider}"},
                ":c": {"S": "contact#"},
            },
            **extra,
        )

    def count_links(self, tenant: str, provider: str) -> int:
        """Links of the firm's contacts at a provider: a COUNT query on one partition."""
        self.polls += 1
        return sum(int(r["Count"]) for r in self._contact_links(tenant, provider, Select="COUNT"))

    def last_link_at(self, tenant: str, provider: str) -> float:
        """When the last of the firm's contact links was written (epoch seconds): read
        once, after the phase."""
        pages = self._contact_links(tenant, provider, ProjectionExpression="updated_at")
        stamps = [_stamp(i["updated_at"]["S"]).timestamp() for r in pages for i in r["Items"]]
        return max(stamps, default=0.0)

    def reviews(self, tenant: str, provider: str) -> int:
        """Possible-duplicate reviews of the firm for a provider (hub/importing.py keeps
        them as records "duplicate#<provider>#..."): a COUNT query, after the phase."""
        pages = self._pages(
            TableName=self.records_table,
            KeyConditionExpression="tenant_id = :t AND begins_with(record_key, :d)",
            ExpressionAttributeValues={":t": {"S": tenant}, ":d": {"S": f"duplicate#{provider}#"}},
            Select="COUNT",
        )
        return sum(int(r["Count"]) for r in pages)

    def last_sync_at(self, tenant: str, provider: str) -> datetime:
        item = self.ddb.get_item(
            TableName=self.connections_table,
            Key={"tenant_id": {"S": tenant}, "provider": {"S": provider}},
            ConsistentRead=True,
        )["Item"]
        return _stamp(item["last_sync_at"]["S"])

    def calls(self, provider: str) -> dict[str, Any]:
        reply = requests.get(f"{self.sims[provider]}/_sim/calls", timeout=60)
        reply.raise_for_status()
        log: dict[str, Any] = reply.json()
        return log

    def clear_calls(self) -> None:
        for url in self.sims.values():
            requests.delete(f"{url}/_sim/calls", timeout=30).raise_for_status()

    def settle(self, pause: float = 3.0) -> None:
        """Every queue empty, then again after the simulators' webhooks had time to land."""
        self.stack.drain(timeout=900)
        time.sleep(pause)
        self.stack.drain(timeout=900)

    def invocations(self) -> dict[str, int]:
        out = {name: p.invocations for name, p in self.stack.pollers.items()}
        out.update({name: s.invocations for name, s in self.stack.streams.items()})
        return out

    # ------------------------------------------------------------------ phases

    def sync(self, tenant: str, auth: dict[str, str], provider: str, company: str, n: int) -> Phase:
        """Save and sync n contacts to one provider; the figures of that phase."""
        meter = self.stack.aws.meter if self.stack.aws else None
        assert meter is not None
        self.settle(pause=1.0)
        self.clear_calls()
        meter.reset()
        cpu0, busy0, inv0 = self.stack.cpu_seconds(), self.stack.busy_seconds(), self.invocations()
        began = time.time()
        requests.post(
            f"{self.api}/v1/connections/{provider}/sync", headers=auth, timeout=120
        ).raise_for_status()
        linked, moved = 0, time.monotonic()
        while linked < n:
            time.sleep(POLL_SECONDS)
            now = self.count_links(tenant, provider)
            if now != linked:
                linked, moved = now, time.monotonic()
            elif time.monotonic() - moved > STALL_SECONDS:
                print(f"    {provider}: no new link for {STALL_SECONDS:.0f} s at {linked}/{n}")
                break
        self.settle()
        drained = time.time() - began
        cpu1, busy1, inv1 = self.stack.cpu_seconds(), self.stack.busy_seconds(), self.invocations()
        snapshot = meter.snapshot()
        log = self.calls(provider)
        phase = Phase(
            provider=provider,
            records=n,
            linked=linked,
            seconds=max(1e-3, self.last_link_at(tenant, provider) - began),
            drained_seconds=drained,
            cpu={k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1},
            busy={k: busy1[k] - busy0.get(k, 0.0) for k in busy1},
            invocations={k: inv1[k] - inv0.get(k, 0) for k in inv1},
            concurrency=self.stack.pollers[f"{provider}_push"].concurrency,
        )
        take_meter(phase, snapshot)
        _provider_figures(phase, log, company)
        phase.reviews = self.reviews(tenant, provider)
        return phase

    def idle_day(self, tenant: str, company: str) -> dict[str, Any]:
        """24 hourly ticks over an idle QBO connection (event times an hour apart, placed
        from its last pull: IdleClock); its CorePlus calls and pulls."""
        self.settle()
        self.clear_calls()
        clock = IdleClock(self.last_sync_at(tenant, "qbo"))
        for hour in range(1, 25):
            at = clock.tick(hour, self.last_sync_at(tenant, "qbo"))
            reply = requests.post(
                f"{self.api}/_local/schedules/Hourly",
                json={"time": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
                timeout=120,
            )
            reply.raise_for_status()
            self.stack.drain(timeout=300)
        clock.tick(25, self.last_sync_at(tenant, "qbo"))  # counts the last tick's pull
        log = self.calls("qbo")
        mine = [c for c in log["calls"] if c.get("company") == company and _is_api(c["path"])]
        coreplus = log["categories"]["by_company"].get(company, {}).get("CorePlus", 0)
        endpoints: dict[str, int] = {}
        for c in mine:
            key = f"{c['method']} {c['endpoint']}"
            endpoints[key] = endpoints.get(key, 0) + 1
        return {"coreplus": coreplus, "pulls": clock.pulls, "endpoints": endpoints}

    def naive(self, provider: str) -> tuple[float, int, int]:
        """One create call per record, sequential, as a simple integration would, against
        a company of its own: (records per minute, records, 429s)."""
        sim = self.sims[provider]
        company = self.company(provider, f"Naive {provider}")
        token = requests.post(
            f"{sim}/_sim/oauth/tokens", json={"company_id": company}, timeout=30
        ).json()["access_token"]
        url, headers, body = {
            "qbo": (
                f"{sim}/v3/company/{company}/customer",
                {"Accept": "application/json"},
                lambda i: {"DisplayName": f"Naive {i}"},
            ),
            "xero": (
                f"{sim}/api.xro/2.0/Contacts",
                {"Accept": "application/json", "xero-tenant-id": company},
                lambda i: {"Contacts": [{"Name": f"Naive {i}"}]},
            ),
            "qbt": (
                f"{sim}/api/v1/jobcodes",
                {},
                lambda i: {"data": [{"name": f"Naive {i}", "parent_id": 0}]},
            ),
        }[provider]
        headers = {**headers, "Authorization": f"Bearer {token}"}
        done, throttled, began = 0, 0, time.monotonic()
        window = NAIVE_WINDOW_SECONDS[provider] + 15
        session = requests.Session()
        while done < NAIVE_SAMPLE[provider] and time.monotonic() - began < window:
            reply = session.post(url, json=body(done), headers=headers, timeout=30)
            if reply.status_code == 429:
                throttled += 1
                time.sleep(float(reply.headers.get("Retry-After", "1")))
                continue
            reply.raise_for_status()
            done += 1
        return done / ((time.monotonic() - began) / 60), done, throttled


def _stamp(text: str) -> datetime:
    """A PynamoDB UTCDateTimeAttribute ("2025-01-01T00:00:00.000000+0000")."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def _provider_figures(phase: Phase, log: dict[str, Any], company: str) -> None:
    """Calls, reads, 429s and simulated latency of the phase, from the simulator's log."""
    for key, n in log["counts"].items():
        if not _is_api(key):
            continue
        method, endpoint = key.split(" ", 1)
        phase.api_calls += n
        if _is_read(method, endpoint):
            phase.reads[key] = n
            phase.reads_by_id += n if _by_id(endpoint) else 0
        elif endpoint.endswith(PUSH_ENDPOINT[phase.provider]):
            phase.write_calls += n
    for entry in log["calls"]:
        if not _is_api(entry["path"]):
            continue
        if entry["status"] == 429:
            phase.throttled += 1
            limit = str(entry.get("limit") or "?")
            phase.throttled_by[limit] = phase.throttled_by.get(limit, 0) + 1
        seconds = (entry.get("latency_ms") or 0) / 1000
        if _is_read(entry["method"], entry["endpoint"]):
            phase.read_latency += seconds
        elif entry["endpoint"].endswith(PUSH_ENDPOINT[phase.provider]):
            phase.write_latency += seconds
    if phase.provider == "qbo":
        phase.coreplus = log["categories"]["by_company"].get(company, {}).get("CorePlus", 0)


# ---------------------------------------------------------------------- report


def report_size(n: int, phases: dict[str, Phase], naive: dict[str, tuple[float, int, int]]) -> str:
    out = [f"\n== {n:,} contacts per provider =="]
    out.append("\nThroughput (records/min: sync request to last link written)")
    out.append(
        table(
            (
                "provider",
                "records/min",
                "bound",
                "% of bound",
                "429s",
                "calls/record",
                "naive/min",
                "reviews opened",
            ),
            [
                (
                    NAMES[p],
                    f.per_minute,
                    BOUND[p],
                    f"{100 * f.share:.0f}%",
                    f.throttled,
                    f.api_calls / n,
                    naive[p][0] if p in naive else None,
                    f.reviews,
                )
                for p, f in phases.items()
            ],
        )
    )
    out.append(
        "\nCost per record (DynamoDB units estimated per request; CPU: workers only, "
        "in invocations: a cold start's import is not a record's)"
    )
    out.append(
        table(
            (
                "provider",
                "DynamoDB RCU",
                "WCU",
                "SQS requests",
                "+ event source",
                "QBO CorePlus",
                "CPU ms",
            ),
            [
                (
                    NAMES[p],
                    f.rcu,
                    f.wcu,
                    f.sqs,
                    f.sqs_source,
                    f.per_record(f.coreplus) if f.coreplus is not None else None,
                    f.worker_cpu,
                )
                for p, f in phases.items()
            ],
        )
    )
    out.append(
        "\nProfile (seconds; busy: in invocations; in writes/reads: waiting for the provider;"
        "\n  in AWS: the moto server's time on the worker's DynamoDB and SQS requests)"
    )
    out.append(
        table(
            (
                "provider",
                "to last link",
                "to drained",
                "push busy",
                "in writes",
                "writes",
                "in AWS",
                "CPU",
                "pull busy",
                "in reads",
                "reads",
                "in AWS",
                "CPU",
            ),
            [
                (
                    NAMES[p],
                    f.seconds,
                    f.drained_seconds,
                    f.busy.get(f"{p}_push", 0.0),
                    f.write_latency,
                    f.write_calls,
                    f.aws_seconds.get(f"{p}_push", 0.0),
                    f.cpu.get(f"{p}_push", 0.0),
                    f.busy.get(f"{p}_pull", 0.0),
                    f.read_latency,
                    sum(f.reads.values()),
                    f.aws_seconds.get(f"{p}_pull", 0.0),
                    f.cpu.get(f"{p}_pull", 0.0),
                )
                for p, f in phases.items()
            ],
        )
    )
    tables = sorted({t for f in phases.values() for t in f.units})
    out.append("\nDynamoDB units per record by table (read / write)")
    out.append(
        table(
            ("table", *[NAMES[p] for p in phases]),
            [
                (
                    t,
                    *[
                        f"{f.per_record(f.units.get(t, {}).get('read', 0.0)):.2f} / "
                        f"{f.per_record(f.units.get(t, {}).get('write', 0.0)):.2f}"
                        for f in phases.values()
                    ],
                )
                for t in tables
            ],
        )
    )
    functions = sorted({fn for f in phases.values() for fn in f.units_by_function})
    out.append("\nDynamoDB units per record by function (read / write)")
    out.append(
        table(
            ("function", *[NAMES[p] for p in phases]),
            [
                (
                    fn,
                    *[
                        f"{f.per_record(f.units_by_function.get(fn, {}).get('read', 0.0)):.2f} / "
                        f"{f.per_record(f.units_by_function.get(fn, {}).get('write', 0.0)):.2f}"
                        for f in phases.values()
                    ],
                )
                for fn in functions
            ],
        )
    )
    operations = sorted(
        {("", o) for f in phases.values() for o in f.sqs_functions}
        | {("event source ", o) for f in phases.values() for o in f.sqs_event_source}
    )
    out.append("\nSQS requests per record by operation")
    out.append(
        table(
            ("operation", *[NAMES[p] for p in phases]),
            [
                (
                    who + o,
                    *[
                        f.per_record((f.sqs_event_source if who else f.sqs_functions).get(o, 0))
                        for f in phases.values()
                    ],
                )
                for who, o in operations
            ],
        )
    )
    out.append("\nProvider reads during the sync (calls)")
    rows = [(NAMES[p], k, v) for p, f in phases.items() for k, v in sorted(f.reads.items())]
    out.append(table(("provider", "endpoint", "calls"), rows or [("-", "none", 0)]))
    out.append("\nWorker CPU seconds by function")
    out.append(
        table(
            ("provider", *WORKERS, "api"),
            [
                (NAMES[p], *[f.cpu.get(w, 0.0) for w in (*WORKERS, "api")])
                for p, f in phases.items()
            ],
        )
    )
    return "\n".join(out)


def report_ratios(small: int, big: int, runs: dict[int, dict[str, Phase]]) -> str:
    out = [f"\nPer record, {big:,} vs {small:,} (ratio; target within {PER_RECORD_TOLERANCE:.0%})"]
    rows = []
    for p in runs[big]:
        a, b = runs[small].get(p), runs[big][p]
        if a is None:
            continue
        for label, x, y in (
            ("DynamoDB RCU", a.rcu, b.rcu),
            ("DynamoDB WCU", a.wcu, b.wcu),
            ("worker CPU ms", a.worker_cpu, b.worker_cpu),
            # where the CPU goes: a push's is per record and per call (each provider write
            # and its DynamoDB requests cost the same however full: a bigger run's backlog
            # fills more of them); a pull's is partly per call, and a bigger run's echoes
            # are read more to a call (its pulls coalesce more)
            (
                "push CPU ms",
                a.per_record(a.cpu.get(f"{p}_push", 0.0)) * 1000,
                b.per_record(b.cpu.get(f"{p}_push", 0.0)) * 1000,
            ),
            (
                "pull CPU ms",
                a.per_record(a.cpu.get(f"{p}_pull", 0.0)) * 1000,
                b.per_record(b.cpu.get(f"{p}_pull", 0.0)) * 1000,
            ),
            (
                "records per push write",
                a.records / max(1, a.write_calls),
                b.records / max(1, b.write_calls),
            ),
            (
                "records per push invocation",
                a.records / max(1, a.invocations.get(f"{p}_push", 0)),
                b.records / max(1, b.invocations.get(f"{p}_push", 0)),
            ),
            (
                "records per pull read",
                a.records / max(1, sum(a.reads.values())),
                b.records / max(1, sum(b.reads.values())),
            ),
        ):
            r = ratio(y, x)
            rows.append((NAMES[p], label, x, y, f"{r:.2f}" if r is not None else "-"))
    out.append(table(("provider", "per record", f"at {small:,}", f"at {big:,}", "ratio"), rows))
    return "\n".join(out)


def report_targets(
    runs: dict[int, dict[str, Phase]], idle: dict[str, Any] | None, polls: int
) -> str:
    out = ["\nTargets"]
    sizes = sorted(runs)
    for p in PROVIDERS:
        done = [(n, runs[n][p]) for n in sizes if p in runs[n]]
        if not done:
            continue
        ok = all(f.share >= SHARE_OF_BOUND and f.throttled == 0 for _, f in done)
        figures = ", ".join(f"{n:,}: {100 * f.share:.0f}%, {f.throttled} 429s" for n, f in done)
        out.append(
            f"  {NAMES[p]} reaches {SHARE_OF_BOUND:.0%} of its bound ({BOUND[p]:,}/min) "
            f"with 0 429s ({figures}): {met(ok)}"
        )
        for n, f in done:
            if f.share < SHARE_OF_BOUND or f.throttled:
                out.append(f"    held back at {n:,}: {holdback(f)}")
    by_id = sum(f.reads_by_id for phases in runs.values() for f in phases.values())
    out.append(
        f"  No read right after a write (provider reads by id during the syncs: {by_id}): "
        f"{met(by_id == 0)}"
    )
    reviews = {
        (n, p): f.reviews for n, phases in runs.items() for p, f in phases.items() if f.reviews
    }
    out.append(
        "  (also checked) A sync opens no possible-duplicate review of its own creates ("
        + (", ".join(f"{n:,} {NAMES[p]}: {r:,}" for (n, p), r in reviews.items()) or "none")
        + f"): {met(not reviews)}"
    )
    if idle is not None:
        out.append(
            f"  An idle QBO connection costs at most a few CorePlus calls a day "
            f"(<= {IDLE_DAY_MOST}; {idle['coreplus']} in 24 ticks, {idle['pulls']} pulls): "
            f"{met(idle['coreplus'] <= IDLE_DAY_MOST)}"
        )
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[-1]
        for label, attr in (
            ("DynamoDB RCU", "rcu"),
            ("DynamoDB WCU", "wcu"),
            ("worker CPU", "worker_cpu"),
        ):
            ratios = {
                p: ratio(getattr(runs[big][p], attr), getattr(runs[small][p], attr))
                for p in runs[big]
                if p in runs[small]
            }
            text = ", ".join(
                f"{NAMES[p]} {r:.2f}" if r is not None else f"{NAMES[p]} -"
                for p, r in ratios.items()
            )
            ok = all(within(r) for r in ratios.values())
            out.append(
                f"  {label} per record at {big:,} within {PER_RECORD_TOLERANCE:.0%} of "
                f"{small:,} ({text}): {met(ok)}"
            )
    out.append(
        f"  Progress polling is cheap (a COUNT query on one Links partition every "
        f"{POLL_SECONDS:.0f} s with the bench's own key: {polls} polls, not in the figures): met"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync")
    parser.add_argument(
        "--records",
        default="1000,5000",
        help="comma-separated sizes, each synced to every provider (default 1000,5000)",
    )
    parser.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help="comma-separated, in order (default: qbo,xero,qbt)",
    )
    parser.add_argument("--no-idle-day", action="store_true", help="skip the idle QBO day")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive loops")
    parser.add_argument(
        "--queue-concurrency",
        type=int,
        default=1,
        help="invocations at once per queue, up to the template's MaximumConcurrency "
        "(default 1: one at a time, as the local stack runs by default)",
    )
    args = parser.parse_args(argv)
    providers = [p for p in args.providers.split(",") if p]
    unknown = set(providers) - set(PROVIDERS)
    if unknown:
        parser.error(f"unknown provider(s): {', '.join(sorted(unknown))}")
    sizes = [int(s) for s in str(args.records).split(",") if s.strip()]
    stack = LocalStack(
        state_dir=Path(tempfile.mkdtemp(prefix="booksync-bench-")),
        port=0,
        sim_port_base=0,
        run_schedules=False,
        metered=True,
        queue_concurrency=max(1, args.queue_concurrency),
    )
    began = time.monotonic()
    stack.start()
    try:
        bench = Bench(stack)
        latency = bench.latency_on()

        def say(text: str) -> None:
            print(f"[{(time.monotonic() - began) / 60:5.1f} min] {text}", flush=True)

        say(f"warm-up: {WARMUP_RECORDS} contacts synced to each provider (not measured)")
        tenant, auth, companies = bench.firm("Bench warm-up", providers)
        bench.contacts(auth, WARMUP_RECORDS, "Warm-up Client")
        bench.want_clients(auth, providers)
        for provider in providers:
            bench.sync(tenant, auth, provider, companies[provider], WARMUP_RECORDS)
        idle = None
        if "qbo" in providers and not args.no_idle_day:
            say("idle day: 24 hourly ticks over the warm-up firm's QBO connection")
            idle = bench.idle_day(tenant, companies["qbo"])
        runs: dict[int, dict[str, Phase]] = {}
        for n in sizes:
            say(f"{n:,}: a firm, {n:,} hub contacts")
            tenant, auth, companies = bench.firm(f"Bench {n}", providers)
            bench.contacts(auth, n, "Bench Client")
            bench.want_clients(auth, providers)
            runs[n] = {}
            for provider in providers:
                say(f"{n:,}: save and sync to {NAMES[provider]}")
                phase = bench.sync(tenant, auth, provider, companies[provider], n)
                runs[n][provider] = phase
                say(
                    f"{n:,} {NAMES[provider]}: {phase.per_minute:,.0f}/min "
                    f"({100 * phase.share:.0f}% of bound), {phase.throttled} 429s, "
                    f"{phase.rcu:.2f} RCU, {phase.wcu:.2f} WCU, {phase.worker_cpu:.1f} CPU ms "
                    "per record"
                )
        naive: dict[str, tuple[float, int, int]] = {}
        if not args.no_naive:
            say("naive loops, one per provider side by side (each its own simulator)")
            with ThreadPoolExecutor(max_workers=len(providers)) as pool:
                naive = dict(zip(providers, pool.map(bench.naive, providers), strict=True))
        say("done")

        print(
            f"\nSync bench: {', '.join(f'{n:,}' for n in sizes)} contacts per provider; "
            "simulators' rate limits on; latency on ("
            + ", ".join(
                f"{NAMES[p]} {ms} ms + {per} ms per object" for p, (ms, per) in latency.items()
            )
            + ")."
        )
        print(
            "Local stack: each Lambda function in its own processes, "
            f"{stack.queue_concurrency} invocation(s) at a time per queue (the template's "
            "MaximumConcurrency, capped by the local stack); moto (metered; transactions "
            "and key queries cost what their items do, local/aws.py), the simulators, the "
            f"gateway and the pollers share the bench's process ({os.cpu_count()} cores "
            f"here). Workers warmed up first; {(time.monotonic() - began) / 60:.0f} min in all."
        )
        for n in sizes:
            print(report_size(n, runs[n], naive))
        if len(sizes) >= 2:
            print(report_ratios(sizes[0], sizes[-1], runs))
        if idle is not None:
            print("\nIdle QBO connection, one day (24 hourly ticks an hour apart in event time)")
            print(
                f"  CorePlus calls: {idle['coreplus']}; pulls: {idle['pulls']}; calls: "
                + (", ".join(f"{k} x{v}" for k, v in sorted(idle["endpoints"].items())) or "none")
            )
        if naive:
            print("\nNaive loop (one create per call, sequential, a company of its own)")
            print(
                table(
                    ("provider", "records/min", "records", "429s"),
                    [(NAMES[p], r, d, t) for p, (r, d, t) in naive.items()],
                )
            )
        print(report_targets(runs, idle, bench.polls))
        meter = stack.aws.meter if stack.aws else None
        if meter is not None and meter.errors:
            print(f"\n(the meter could not read {meter.errors} AWS requests)")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
