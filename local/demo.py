"""`make demo`: start the embedded stack, run booksync end to end over HTTP, say what happened.

Everything goes through the public doors: the operator CLI makes a tenant and an API
key, the practice API takes a contact over HTTP, a pull message goes through its
worker Lambda from its SQS queue, and the hourly schedule fires.
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

    demo.step("A pull message goes through the qbo_pull worker from its FIFO queue")
    sqs, ddb = stack.aws.client("sqs"), stack.aws.client("dynamodb")
    body = {
        "v": 1,
        "type": "pull",
        "tenant_id": tenant["tenant_id"],
        "connection_id": "demo-qbo",
        "provider": "qbo",
        "reason": "manual",
        "trigger": f"demo-{time.time()}",
    }
    sent = sqs.send_message(
        QueueUrl=ep["queues"]["QboPullQueue"],
        MessageBody=json.dumps(body),
        MessageGroupId="demo-qbo",
        MessageDeduplicationId=body["trigger"],
    )
    demo.show("sent", f"message {sent['MessageId']}")
    item = demo.wait(
        "the pull",
        lambda: ddb.get_item(
            TableName=ep["tables"]["CursorsTable"],
            Key={"connection_id": {"S": "demo-qbo"}, "family": {"S": "_runs"}},
        ).get("Item"),
    )
    demo.show("processed", f"cursor moved to {item['position']['S']} (runs={item['runs']['N']})")
    poller = stack.pollers["qbo_pull"]
    demo.show(
        "worker", f"{poller.invocations} invocation(s), {poller.messages_done} message(s) done"
    )

    demo.step("The hourly schedule fires now (POST /_local/schedules/Hourly)")
    fired = requests.post(f"{demo.api}/_local/schedules/Hourly", timeout=30).json()
    demo.show("scheduler answered", fired["result"])

    cold = {name: pool.cold_starts[0] for name, pool in stack.pools.items() if pool.cold_starts}
    demo.step("Figures")
    for name, seconds in sorted(cold.items()):
        demo.show(f"cold start {name}", f"{seconds * 1000:.0f} ms")
    demo.show("function logs", str(stack.state_dir / "logs"))


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
