"""A local Lambda pool reports the CPU its processes used and the time spent invoking."""

import os
from pathlib import Path

import pytest

from local.lambdas import FunctionPool
from local.template import FunctionSpec


def _pool(tmp_path: Path, name: str, source: str) -> FunctionPool:
    """A one-instance pool of a function whose app.py is `source`."""
    code = tmp_path / name
    code.mkdir()
    (code / "app.py").write_text(source)
    spec = FunctionSpec(f"{name.title()}Function", code, "app.lambda_handler", 30, {}, {})
    return FunctionPool(spec, {}, tmp_path / "logs", max_instances=1)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_cpu_and_busy_seconds_grow_with_work_and_outlive_the_process(tmp_path: Path):
    pool = _pool(
        tmp_path,
        "burn",
        "def lambda_handler(event, context):\n    return sum(i * i for i in range(event['n']))\n",
    )
    try:
        pool.invoke({"n": 1})
        idle = pool.cpu_seconds()
        pool.invoke({"n": 3_000_000})
        busy = pool.cpu_seconds()
        assert busy >= idle + 0.05
        assert pool.busy_seconds >= 0.05
    finally:
        pool.stop()
    assert pool.cpu_seconds() == busy  # what it had when last read, once it has exited


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_a_cold_starts_cpu_is_counted_apart_from_the_invocations(tmp_path: Path):
    # a handler module whose import is costly: a new instance (a queue scaling out) must
    # not charge it to the records its first invocation syncs
    pool = _pool(
        tmp_path,
        "heavy",
        "WARM = sum(i * i for i in range(3_000_000))\n"
        "def lambda_handler(event, context):\n    return WARM\n",
    )
    try:
        pool.invoke({})
        assert pool.init_cpu_seconds >= 0.05
        assert pool.cpu_seconds() < pool.init_cpu_seconds
    finally:
        pool.stop()
