"""A local Lambda pool reports the CPU its processes used and the time spent invoking."""

import os
from pathlib import Path

import pytest

from local.lambdas import FunctionPool
from local.template import FunctionSpec


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_cpu_and_busy_seconds_grow_with_work_and_outlive_the_process(tmp_path: Path):
    code = tmp_path / "burn"
    code.mkdir()
    (code / "app.py").write_text(
        "def lambda_handler(event, context):\n    return sum(i * i for i in range(event['n']))\n"
    )
    spec = FunctionSpec("BurnFunction", code, "app.lambda_handler", 30, {}, {})
    pool = FunctionPool(spec, {}, tmp_path / "logs", max_instances=1)
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
    code = tmp_path / "heavy"
    code.mkdir()
    (code / "app.py").write_text(
        "WARM = sum(i * i for i in range(3_000_000))\n"
        "def lambda_handler(event, context):\n    return WARM\n"
    )
    spec = FunctionSpec("HeavyFunction", code, "app.lambda_handler", 30, {}, {})
    pool = FunctionPool(spec, {}, tmp_path / "logs", max_instances=1)
    try:
        pool.invoke({})
        assert pool.init_cpu_seconds >= 0.05
        assert pool.cpu_seconds() < pool.init_cpu_seconds
    finally:
        pool.stop()
