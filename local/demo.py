"""`make demo`: start the embedded stack, run booksync end to end over HTTP, say what happened.

Everything goes through the public doors: the operator CLI makes a tenant and an API
key, the practice API takes a contact over HTTP, the firm connects QBO, QBT and Xero
through the providers' OAuth redirects (the simulators), a change made in QuickBooks
reaches booksync as a signed webhook and a pull, and the hourly schedule fires.
"""

from __future__ import annotations

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


class Demo:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = stack.gateway.url if stack.gateway else ""
        self.step_no = 0

    def step(self, text: str) -> None:
        self.step_no += 1
        print(f"\n{self.step_no}. {text}", flush=True)

    def show(self, label: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        print(f"   {label:<22} {text}", flush=True)

    def cli(self, *args: str) -> dict[str, Any]:
        env = {**os.environ, **self.stack.function_env["api"], "PYTHONPATH": str(ROOT / "shared")}
        out = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "booksync.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def wait(self, what: str, probe: Any, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.2)
        raise SystemExit(f"demo failed: {what} did not happen within {timeout}s")


def run(demo: Demo) -> None:
    stack = demo.stack
    assert stack.aws is not None
    ep = stack.endpoints()
    demo.step("The embedded stack is up")
    demo.show("practice API", ep["api"])
    demo.show("AWS (moto)", ep["aws"])
    for name, url in ep["simulators"].items():
        demo.show(f"{name} simulator", url)
    demo.show("queues + DLQs", f"{len(ep['queues'])} + {len(ep['dead_letter_queues'])}")

    demo.step("The operator creates a tenant and an API key (booksync CLI)")
    tenant = demo.cli("tenants", "create", "Harbour & Co Accountants")
    key = demo.cli("api-keys", "create", tenant["tenant_id"])
    demo.show("tenant", tenant["tenant_id"])
    demo.show("api key", f"{key['key'][:12]}... (shown once, stored as a hash)")
    auth = {"Authorization": f"Bearer {key['key']}"}

    demo.step("The practice app creates a contact over HTTP and reads it back")
    created = requests.post(
        f"{demo.api}/v1/contacts",
        headers=auth,
        timeout=30,
        json={"name": "Bayside Dental", "email": "accounts@bayside.example"},
    )
    demo.show(f"POST /v1/contacts -> {created.status_code}", created.json())
    if created.status_code != 201:
        raise SystemExit("demo failed: the contact was not created")
    read = requests.get(f"{demo.api}{created.headers['Location']}", headers=auth, timeout=30)
    got = read.json()
    demo.show(
        f"GET  {created.headers['Location'][:22]}... -> {read.status_code}",
        f"name={got['name']!r} version={got['version']} ETag={read.headers['ETag']}",
    )
    bad = requests.post(f"{demo.api}/v1/contacts", headers=auth, timeout=30, json={"name": ""})
    demo.show(f"bad input -> {bad.status_code}", bad.json()["detail"])
    anon = requests.get(f"{demo.api}/v1/contacts", timeout=30)
    demo.show(f"no key -> {anon.status_code}", anon.json()["detail"])

    demo.step("The firm connects QBO, QBT and Xero through the real OAuth redirects")
    for provider in ("qbo", "qbt", "xero"):
        result = connect(demo.api, key["key"], provider)
        hop = result.hops[0].split("?")[0] if result.hops else "-"
        demo.show(provider, f"{result.status} {result.title!r} (provider redirected to {hop})")
        if result.status != 200:
            raise SystemExit(f"demo failed: {provider} did not connect")
    rows = demo.wait("the first pulls", lambda: _all_synced(demo, auth))
    for row in rows:
        demo.show(
            row["provider"],
            f"{row['status']}, company {row['company_name']!r}, "
            f"last sync {row['last_successful_sync'][11:19]}",
        )

    demo.step("A bookkeeper edits a customer in QuickBooks; its webhook triggers a pull")
    qbo_url = ep["simulators"]["qbo"]
    company = next(r["company_id"] for r in rows if r["provider"] == "qbo")
    customers = requests.get(
        f"{qbo_url}/_sim/companies/{company}/objects/Customer", timeout=30
    ).json()
    target = customers["objects"][0]
    cursor_key = {"connection_id": {"S": _connection_id(stack, "qbo")}, "family": {"S": "_runs"}}
    table = ep["tables"]["CursorsTable"]
    ddb = stack.aws.client("dynamodb")
    runs_before = int(ddb.get_item(TableName=table, Key=cursor_key)["Item"]["runs"]["N"])
    requests.patch(
        f"{qbo_url}/_sim/companies/{company}/objects/Customer/{target['Id']}",
        json={"PrimaryPhone": {"FreeFormNumber": "(555) 010-4242"}},
        timeout=30,
    ).raise_for_status()
    demo.show("edited in QBO", f"customer {target['Id']} {target.get('DisplayName')!r}")
    item = demo.wait(
        "the webhook pull",
        lambda: (
            i
            if int((i := ddb.get_item(TableName=table, Key=cursor_key)["Item"])["runs"]["N"])
            > runs_before
            else None
        ),
    )
    demo.show(
        "signed webhook", f"verified; qbo_pull ran (runs {runs_before} -> {item['runs']['N']})"
    )

    demo.step("The hourly schedule fires now (POST /_local/schedules/Hourly)")
    fired = requests.post(f"{demo.api}/_local/schedules/Hourly", timeout=30).json()
    demo.show("scheduler answered", fired["result"])

    demo.step("The firm disconnects QuickBooks Time (tokens deleted, links kept)")
    gone = requests.post(f"{demo.api}/oauth/qbt/disconnect", headers=auth, timeout=30).json()
    demo.show("disconnect", gone)

    cold = {name: pool.cold_starts[0] for name, pool in stack.pools.items() if pool.cold_starts}
    demo.step("Figures")
    for name, seconds in sorted(cold.items()):
        demo.show(f"cold start {name}", f"{seconds * 1000:.0f} ms")
    demo.show("function logs", str(stack.state_dir / "logs"))


def _all_synced(demo: Demo, auth: dict[str, str]) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = requests.get(
        f"{demo.api}/v1/connections", headers=auth, timeout=30
    ).json()["items"]
    return rows if all(r["last_successful_sync"] for r in rows) else None


def _connection_id(stack: LocalStack, provider: str) -> str:
    assert stack.aws is not None
    items = stack.aws.client("dynamodb").scan(
        TableName=stack.resources["tables"]["ConnectionsTable"]
    )
    return next(i["connection_id"]["S"] for i in items["Items"] if i["provider"]["S"] == provider)


def main() -> int:
    state = Path(tempfile.mkdtemp(prefix="booksync-demo-"))
    print("booksync demo: starting the embedded stack (moto, simulators, functions)...", flush=True)
    stack = LocalStack(state_dir=state, port=0, sim_port_base=0, run_schedules=False)
    stack.start()
    try:
        run(Demo(stack))
    finally:
        stack.stop()
    print("\nDemo finished: every step above went through HTTP, SQS and the real handlers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
