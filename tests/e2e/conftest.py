import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The embedded stack on free ports, as `make local` runs it (LOCAL_QUEUE_CONCURRENCY:
    invocations at once per queue, as `python -m local --queue-concurrency`)."""
    s = LocalStack(
        state_dir=tmp_path_factory.mktemp("local"),
        port=0,
        sim_port_base=0,
        queue_concurrency=int(os.environ.get("LOCAL_QUEUE_CONCURRENCY", "1")),
    )
    s.start()
    yield s
    s.stop()


def operator_cli(stack, *args: str) -> dict:
    """Run the `booksync` operator CLI in a process of its own, with the functions' env."""
    env = {**os.environ, **stack.function_env["api"], "PYTHONPATH": str(ROOT / "shared")}
    out = subprocess.run(
        [sys.executable, "-m", "booksync.ops.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="session")
def api_key(stack):
    tenant = operator_cli(stack, "tenants", "create", "E2E Firm")
    return operator_cli(stack, "api-keys", "create", tenant["tenant_id"])["key"]


def save_and_sync(api: str, auth: dict[str, str], provider: str, tries: int = 5) -> dict:
    """ "Save and sync" as a firm's page calls it: a 503 (the provider down a moment) is
    waited out as its Retry-After says; any other refusal fails the test with its words."""
    for _ in range(tries):
        reply = requests.post(f"{api}/v1/connections/{provider}/sync", headers=auth, timeout=120)
        if reply.status_code != 503:
            break
        time.sleep(float(reply.headers.get("Retry-After") or 1))
    assert reply.status_code == 200, reply.text
    answer: dict = reply.json()
    return answer
