"""`make bench`: figures for the foundation.

1. Cold import time of each function's handler module (boot included), in a fresh
   process with the function's own environment, median of 3.
2. The local stack's per-message overhead: N pull messages through a worker's queue,
   poller and Lambda process, against the same worker invoked directly.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local.pollers import sqs_event
from local.stack import LocalStack
from local.template import ROOT

IMPORT_PROBE = (
    "import sys, time; sys.path.insert(0, sys.argv[1]); t = time.perf_counter(); "
    "import app; print(time.perf_counter() - t)"
)


def cold_imports(stack: LocalStack) -> dict[str, float]:
    out = {}
    for name, pool in sorted(stack.pools.items()):
        env = {
            **os.environ,
            **pool.environment,
            "PYTHONPATH": str(ROOT / "shared"),
            "POWERTOOLS_SERVICE_NAME": name,
        }
        runs = []
        for _ in range(3):
            done = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE, str(pool.spec.code_uri)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            runs.append(float(done.stdout.strip().splitlines()[-1]))
        out[name] = statistics.median(runs)
    return out


def _direct_event(i: int) -> dict[str, object]:
    """One pull message as an SQS event, handed straight to the function (no queue)."""
    body = {
        "v": 1,
        "type": "pull",
        "tenant_id": "bench",
        "connection_id": "direct",
        "provider": "qbo",
        "reason": "manual",
        "trigger": f"direct-{i}",
    }
    return sqs_event(
        [
            {
                "MessageId": f"direct-{i}",
                "ReceiptHandle": "-",
                "Body": json.dumps(body),
                "Attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "direct"},
            }
        ],
        "arn:aws:sqs:us-east-1:123456789012:direct.fifo",
    )


def message_overhead(stack: LocalStack, n: int = 200) -> dict[str, float]:
    assert stack.aws is not None
    sqs = stack.aws.client("sqs")
    url = stack.resources["queues"]["QboPullQueue"]
    pool = stack.pools["qbo_pull"]
    pool.invoke(_direct_event(-1))  # warm the instance: measure steady state, not cold start
    began = time.perf_counter()
    for i in range(0, n, 10):
        entries = []
        for j in range(i, min(i + 10, n)):
            body = {
                "v": 1,
                "type": "pull",
                "tenant_id": "bench",
                "connection_id": f"c{j % 20}",
                "provider": "qbo",
                "reason": "manual",
                "trigger": f"bench-{j}",
            }
            entries.append(
                {
                    "Id": str(j),
                    "MessageBody": json.dumps(body),
                    "MessageGroupId": f"c{j % 20}",
                    "MessageDeduplicationId": f"bench-{j}",
                }
            )
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    stack.pollers["qbo_pull"].start()
    stack.drain(timeout=300)
    through_stack = time.perf_counter() - began

    direct_runs = 50
    t = time.perf_counter()
    for i in range(direct_runs):
        pool.invoke(_direct_event(i))
    invoke_only = (time.perf_counter() - t) / direct_runs
    return {
        "messages": n,
        "seconds": through_stack,
        "per_message_ms": through_stack / n * 1000,
        "messages_per_s": n / through_stack,
        "direct_ms": invoke_only * 1000,
        "invocations": stack.pollers["qbo_pull"].invocations,
    }


def main() -> int:
    stack = LocalStack(
        state_dir=Path(tempfile.mkdtemp(prefix="booksync-bench-")),
        port=0,
        sim_port_base=0,
        run_pollers=False,
        run_schedules=False,
        with_simulators=False,
    )
    stack.start()
    try:
        print("Cold import of each handler (fresh process, boot included, median of 3)")
        for name, seconds in cold_imports(stack).items():
            print(f"  {name:<10} {seconds * 1000:7.0f} ms")
        figures = message_overhead(stack)
        print(
            "\nLocal stack per-message cost (qbo_pull: SQS -> poller -> Lambda process -> delete)"
        )
        print(
            f"  {figures['messages']} messages in {figures['seconds']:.2f} s over "
            f"{figures['invocations']} invocations"
        )
        print(
            f"  {figures['per_message_ms']:.1f} ms per message,"
            f" {figures['messages_per_s']:.0f} msg/s"
        )
        print(f"  the same message handed to the function directly: {figures['direct_ms']:.1f} ms")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
