"""`make bench` part 2: contacts synced to each provider with the simulators' rate limits on.

For each provider: N hub contacts go out through "save and sync" (the real queues,
workers, adapters, budget and simulators); printed: records per minute against the
provider's rate-limit bound, and provider API calls per record. Beside it, in the same
run, a naive loop that makes one create call per record against the same simulator and
limits, measured on a sample and given as records per minute.

    python -m bench.sync --records 5000   (the issue's size: tens of minutes, QBO's
                                           500 requests/minute alone needs 10)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from local.person import connect
from local.stack import LocalStack
from local.template import ROOT

PROVIDERS = ("qbo", "xero", "qbt")
# records per minute the provider's published limits allow at best (PROVIDERS.md):
# QBO counts every batch item as a request (500/min); Xero 60 calls/min of up to 50
# contacts; QBT 300 calls per 5 minutes of up to 50 objects.
BOUND = {"qbo": 500, "xero": 60 * 50, "qbt": 60 * 50}
API = ("/v3/company/", "/api.xro/", "/api/v1/")
# a naive loop must run past the provider's limit window for the limit to show
NAIVE_SAMPLE = {"qbo": 600, "xero": 90, "qbt": 350}


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


def api_calls(sim: str) -> tuple[int, int]:
    """(API calls so far, of which answered 429), OAuth and identity calls not counted."""
    log = requests.get(f"{sim}/_sim/calls", timeout=30).json()
    calls = sum(
        n
        for k, n in log["counts"].items()
        if any(p in k for p in API) and "/authorize" not in k and "/grant" not in k
    )
    return calls, sum(1 for e in log["calls"] if e["status"] == 429)


def linked(api: str, auth: dict[str, str], provider: str) -> int:
    total, cursor = 0, None
    while True:
        query = {
            "provider": provider,
            "kind": "contact",
            "limit": 200,
            **({"cursor": cursor} if cursor else {}),
        }
        page = requests.get(f"{api}/v1/links", params=query, headers=auth, timeout=60).json()
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def naive(sim: str, provider: str, token: str, company: str, sample: int) -> float:
    """One create call per record, as a simple integration would: records per minute."""
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
    done, began = 0, time.monotonic()
    while done < sample:
        reply = requests.post(url, json=body(done), headers=headers, timeout=30)
        if reply.status_code == 429:
            time.sleep(float(reply.headers.get("Retry-After", "1")))
            continue
        reply.raise_for_status()
        done += 1
    return done / ((time.monotonic() - began) / 60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument(
        "--naive-sample",
        type=int,
        default=0,
        help="records per naive loop (default: past each provider's limit window: "
        "QBO 600, Xero 90, QBT 350, so the limit shows)",
    )
    parser.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help="comma-separated, in order (default: qbo,xero,qbt)",
    )
    args = parser.parse_args(argv)
    providers = [p for p in args.providers.split(",") if p]
    unknown = set(providers) - set(PROVIDERS)
    if unknown:
        parser.error(f"unknown provider(s): {', '.join(sorted(unknown))}")
    stack = LocalStack(
        state_dir=Path(tempfile.mkdtemp(prefix="booksync-bench-")),
        port=0,
        sim_port_base=0,
        run_schedules=False,
    )
    stack.start()
    try:
        api = stack.gateway.url or ""
        sims = stack.endpoints()["simulators"]
        tenant = cli(stack, "tenants", "create", "Bench Firm")
        key = cli(stack, "api-keys", "create", tenant["tenant_id"])["key"]
        auth = {"Authorization": f"Bearer {key}"}
        companies = {}
        for provider in providers:
            company = requests.post(
                f"{sims[provider]}/_sim/companies",
                json={"name": f"Bench {provider}", "seed": "empty"},
                timeout=30,
            ).json()["id"]
            companies[provider] = str(company)
            assert connect(api, key, provider, sim_company=str(company)).status == 200
        stack.drain(timeout=120)
        # the hub's contacts: created through the practice API, queued to nobody yet
        for provider in providers:
            requests.put(
                f"{api}/v1/connections/{provider}/settings",
                headers=auth,
                timeout=30,
                json={"sync_enabled": True, "contact_types": ["Bench"]},
            ).raise_for_status()
        print(f"creating {args.records} hub contacts...", flush=True)
        for i in range(args.records):
            requests.post(
                f"{api}/v1/contacts",
                headers=auth,
                timeout=30,
                json={"name": f"Bench Client {i:05d}", "contact_type": "Client"},
            ).raise_for_status()
        for provider in providers:
            requests.put(
                f"{api}/v1/connections/{provider}/settings",
                headers=auth,
                timeout=30,
                json={"contact_types": ["Client"]},
            ).raise_for_status()
        print(f"\nSync of {args.records} contacts per provider, simulators' rate limits on")
        header = ("provider", "records/min", "limit bound", "calls/record", "429s", "naive rec/min")
        print(
            f"  {header[0]:<8} {header[1]:>12} {header[2]:>12} {header[3]:>13} {header[4]:>6}"
            f" {header[5]:>14}"
        )
        for provider in providers:
            before, throttled_before = api_calls(sims[provider])
            began = time.monotonic()
            requests.post(
                f"{api}/v1/connections/{provider}/sync", headers=auth, timeout=120
            ).raise_for_status()
            while linked(api, auth, provider) < args.records:
                time.sleep(2)
            minutes = (time.monotonic() - began) / 60
            after, throttled_after = api_calls(sims[provider])
            calls, throttled = after - before, throttled_after - throttled_before
            token = requests.post(
                f"{sims[provider]}/_sim/oauth/tokens",
                json={"company_id": companies[provider]},
                timeout=30,
            ).json()["access_token"]
            sample = args.naive_sample or NAIVE_SAMPLE[provider]
            naive_rate = naive(sims[provider], provider, token, companies[provider], sample)
            print(
                f"  {provider:<8} {args.records / minutes:>12.0f} {BOUND[provider]:>12} "
                f"{calls / args.records:>13.2f} {throttled:>6} {naive_rate:>14.0f}",
                flush=True,
            )
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
