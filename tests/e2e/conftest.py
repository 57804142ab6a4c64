import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The embedded stack on free ports, as `make local` runs it."""
    s = LocalStack(state_dir=tmp_path_factory.mktemp("local"), port=0, sim_port_base=0)
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
