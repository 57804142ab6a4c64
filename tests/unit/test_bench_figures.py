"""The sync bench's pure arithmetic (bench/figures.py) and the CPU reading of a local
Lambda process (local/lambdas.py)."""

import os
from datetime import UTC, datetime, timedelta

from bench.figures import IdleClock, Phase, holdback, ratio, table, take_meter, within
from local.lambdas import process_cpu_seconds

T0 = datetime(2030, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)


def test_idle_clock_places_each_tick_as_long_after_the_last_pull_as_a_real_one():
    clock = IdleClock(T0)
    assert clock.tick(1, T0) == T0 + timedelta(hours=1)
    assert clock.tick(6, T0) == T0 + timedelta(hours=6)
    # tick 6's pull finished a few wall seconds after T0: tick 7 is an hour after it
    pulled = T0 + timedelta(seconds=4)
    assert clock.tick(7, pulled) == pulled + timedelta(hours=1)
    assert clock.tick(12, pulled) == pulled + timedelta(hours=6)
    assert clock.pulls == 1
    again = T0 + timedelta(seconds=9)
    assert clock.tick(13, again) == again + timedelta(hours=1)
    assert clock.pulls == 2


def test_phase_figures_per_record():
    phase = Phase(
        provider="qbo",
        records=1000,
        linked=1000,
        seconds=120.0,
        units={"Links": {"read": 500.0, "write": 4000.0}, "Records": {"read": 1500.0}},
        cpu={"qbo_push": 6.0, "qbo_pull": 2.0, "api": 50.0},
        sqs_functions={"SendMessageBatch": 10, "ChangeMessageVisibilityBatch": 2},
    )
    assert phase.per_minute == 500.0
    assert phase.share == 1.0
    assert phase.rcu == 2.0
    assert phase.wcu == 4.0
    assert phase.worker_cpu == 8.0  # ms; the API is not a worker
    assert phase.sqs == 0.012


def test_ratio_and_tolerance():
    assert ratio(1.05, 1.0) == 1.05
    assert ratio(1.0, 0.0) is None
    assert within(1.09)
    assert within(0.91)
    assert not within(1.11)
    assert not within(None)


def _xero_writes(**extra) -> Phase:
    """5,000 Xero contacts in 4 minutes: 100 writes of 2.35 s, the push worker busy."""
    return Phase(
        provider="xero",
        records=5000,
        linked=5000,
        seconds=240.0,
        write_calls=100,
        write_latency=235.0,
        busy={"xero_push": 238.0},
        **extra,
    )


def test_holdback_names_provider_latency_when_one_invocation_at_a_time_cannot_reach_the_bound():
    reason = holdback(_xero_writes(cpu={"xero_push": 2.0}))
    assert "2.4 s per write of up to 50" in reason
    assert "1 invocation at a time" in reason
    assert "at most 1,277 records/min" in reason
    assert "99% waiting for Xero" in reason
    assert "idle" not in reason


def test_holdback_counts_the_invocations_the_poller_runs_at_once():
    phase = _xero_writes(concurrency=2)
    reason = holdback(phase)
    assert "2 invocations at a time" in reason
    assert "at most 2,553 records/min" in reason
    phase.concurrency = 3  # 3,830 a minute: above 90% of Xero's 3,000, not what holds it
    assert "invocation" not in holdback(phase)


def test_holdback_names_an_idle_worker_and_429s():
    phase = Phase(
        provider="qbo",
        records=100,
        linked=100,
        seconds=100.0,
        throttled=3,
        throttled_by={"second": 3},
    )
    reason = holdback(phase)
    assert "3 calls throttled (429: second x3)" in reason
    assert "idle 100%" in reason
    assert "at most 462 records/min (92% of the bound)" in reason


def test_table_aligns_columns():
    text = table(("name", "n"), [("a", 1.5), ("long name", 1234.0), ("c", None)])
    lines = text.splitlines()
    assert [line.split() for line in lines] == [
        ["name", "n"],
        ["a", "1.50"],
        ["long", "name", "1,234"],
        ["c", "-"],
    ]
    assert len({len(line) for line in lines}) == 1  # numbers right-aligned
    assert lines[2].startswith("  long name  ")


def test_process_cpu_seconds_reads_proc():
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        return
    first = process_cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))
    assert first is not None
    second = process_cpu_seconds(os.getpid())
    assert second is not None
    assert second >= first
    assert process_cpu_seconds(2**22 + 12345) is None


def test_take_meter_keeps_booksync_functions_and_event_sources_apart_from_the_rest():
    snapshot = {
        "units": {
            "fn.qbo_push": {"Links": {"read": 10.0, "write": 40.0}},
            "fn.qbo_pull": {"Links": {"read": 5.0}, "Records": {"read": 3.0, "write": 1.0}},
            "bench": {"Links": {"read": 99.0}},
        },
        "requests": {
            "fn.qbo_push": {"sqs": {"SendMessageBatch": 2}, "dynamodb": {"Query": 1}},
            "fn.api": {"sqs": {"SendMessageBatch": 3}},
            "eventsource": {"sqs": {"ReceiveMessage": 7}},
            "stack": {"sqs": {"GetQueueAttributes": 50}},
        },
        "seconds": {"fn.qbo_push": {"dynamodb": 1.5, "sqs": 0.5}, "stack": {"sqs": 9.0}},
    }
    phase = Phase(provider="qbo", records=10)
    take_meter(phase, snapshot)
    assert phase.units == {
        "Links": {"read": 15.0, "write": 40.0},
        "Records": {"read": 3.0, "write": 1.0},
    }
    assert phase.units_by_function["qbo_pull"] == {"read": 8.0, "write": 1.0}
    assert phase.sqs_functions == {"SendMessageBatch": 5}
    assert phase.sqs_event_source == {"ReceiveMessage": 7}
    assert phase.aws_seconds == {"qbo_push": 2.0}
