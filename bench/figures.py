"""The sync bench's arithmetic and printing, kept pure so it can be tested: per-phase
figures, per-record ratios between sizes, what holds a provider back, the simulated
clock of the idle day, and plain aligned tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from booksync.engine.budget import RATES

PROVIDERS = ("qbo", "xero", "qbt")
NAMES = {"qbo": "QBO", "xero": "Xero", "qbt": "QBT"}
# records per minute the provider's published limits allow at best (PROVIDERS.md):
# QBO counts every batch item as a request (500/min); Xero 60 calls/min of up to 50
# contacts; QBT 300 calls per 5 minutes of up to 50 objects.
BOUND = {"qbo": 500, "xero": 60 * 50, "qbt": 60 * 50}
# records per provider write (a QBO batch, a Xero multi-contact write, a QBT write)
BATCH = {"qbo": 30, "xero": 50, "qbt": 50}
# records per minute booksync's own rate budget allows in the long run (its RATES, a
# little below each limit: QBO 462 items/min, Xero 55 calls/min, QBT 280 calls per 5 min)
BUDGET = {
    "qbo": RATES["qbo"]["minute"].per_second * 60,
    "xero": RATES["xero"]["minute"].per_second * 60 * BATCH["xero"],
    "qbt": RATES["qbt"]["minute"].per_second * 60 * BATCH["qbt"],
}
# the booksync workers whose CPU is counted: the six sync workers and the outbox
WORKERS = ("qbo_push", "qbo_pull", "qbt_push", "qbt_pull", "xero_push", "xero_pull", "fanout")
SHARE_OF_BOUND = 0.90  # each provider should reach this share of its bound
PER_RECORD_TOLERANCE = 0.10  # units and CPU per record at the big size vs the small one
IDLE_DAY_MOST = 6  # "a few" QBO CorePlus calls per idle connection-day (4 safety pulls)
FUNCTION_KEY_PREFIX = "fn."  # a metered stack's functions sign with "fn.<function>"
EVENT_SOURCE_KEY = "eventsource"  # the queue and stream pollers (Lambda's event sources)


@dataclass
class Phase:
    """One provider's sync of `records` hub contacts ("save and sync" to all linked)."""

    provider: str
    records: int
    linked: int = 0
    seconds: float = 0.0  # from the sync request to the last link written
    drained_seconds: float = 0.0  # ... to every queue empty (echo pulls included)
    api_calls: int = 0  # provider API calls (OAuth and identity not counted)
    throttled: int = 0  # of which answered 429
    throttled_by: dict[str, int] = field(default_factory=dict)  # the limit each 429 named
    reviews: int | None = None  # possible-duplicate reviews open for the provider afterwards
    write_calls: int = 0
    reads: dict[str, int] = field(default_factory=dict)  # provider reads: endpoint -> calls
    reads_by_id: int = 0  # reads of one object by its id (a read after a write would be one)
    write_latency: float = 0.0  # seconds the provider took over the write calls (simulated)
    read_latency: float = 0.0
    coreplus: int | None = None  # QBO: CorePlus calls for this company
    units: dict[str, dict[str, float]] = field(default_factory=dict)  # table -> read/write
    units_by_function: dict[str, dict[str, float]] = field(default_factory=dict)
    sqs_functions: dict[str, int] = field(default_factory=dict)  # operation -> requests
    sqs_event_source: dict[str, int] = field(default_factory=dict)
    aws_seconds: dict[str, float] = field(default_factory=dict)  # function -> AWS server time
    cpu: dict[str, float] = field(default_factory=dict)  # function -> CPU seconds
    busy: dict[str, float] = field(default_factory=dict)  # function -> invocation seconds
    invocations: dict[str, int] = field(default_factory=dict)  # function -> invocations
    concurrency: int = 1  # the push worker's invocations at once (its queue's poller)

    @property
    def per_minute(self) -> float:
        return self.linked / (self.seconds / 60) if self.seconds > 0 else 0.0

    @property
    def share(self) -> float:
        return self.per_minute / BOUND[self.provider]

    def per_record(self, value: float) -> float:
        return value / self.records if self.records else 0.0

    @property
    def rcu(self) -> float:
        return self.per_record(sum(u.get("read", 0.0) for u in self.units.values()))

    @property
    def wcu(self) -> float:
        return self.per_record(sum(u.get("write", 0.0) for u in self.units.values()))

    @property
    def worker_cpu(self) -> float:
        """Milliseconds of worker CPU per record."""
        return self.per_record(sum(self.cpu.get(w, 0.0) for w in WORKERS)) * 1000

    @property
    def sqs(self) -> float:
        return self.per_record(sum(self.sqs_functions.values()))

    @property
    def sqs_source(self) -> float:
        return self.per_record(sum(self.sqs_event_source.values()))


def take_meter(phase: Phase, snapshot: Mapping[str, Any]) -> None:
    """booksync's share of a meter snapshot (local/aws.py AwsMeter.snapshot): the
    functions' DynamoDB units by table and by function, their SQS requests, the event
    sources' SQS requests, and the AWS server's time per function."""
    for caller, tables in snapshot.get("units", {}).items():
        if not caller.startswith(FUNCTION_KEY_PREFIX):
            continue
        function = caller.removeprefix(FUNCTION_KEY_PREFIX)
        mine = phase.units_by_function.setdefault(function, {"read": 0.0, "write": 0.0})
        for table, u in tables.items():
            total = phase.units.setdefault(table, {"read": 0.0, "write": 0.0})
            for k in ("read", "write"):
                total[k] += u.get(k, 0.0)
                mine[k] += u.get(k, 0.0)
    for caller, services in snapshot.get("requests", {}).items():
        if caller.startswith(FUNCTION_KEY_PREFIX):
            into = phase.sqs_functions
        elif caller == EVENT_SOURCE_KEY:
            into = phase.sqs_event_source
        else:
            continue
        for operation, n in services.get("sqs", {}).items():
            into[operation] = into.get(operation, 0) + n
    for caller, services in snapshot.get("seconds", {}).items():
        if caller.startswith(FUNCTION_KEY_PREFIX):
            function = caller.removeprefix(FUNCTION_KEY_PREFIX)
            phase.aws_seconds[function] = sum(services.values())


def ratio(big: float, small: float) -> float | None:
    """big / small, None when small is nothing to compare with."""
    return big / small if small > 0 else None


def within(value: float | None, tolerance: float = PER_RECORD_TOLERANCE) -> bool:
    return value is not None and abs(value - 1) <= tolerance


def holdback(phase: Phase) -> str:
    """What holds a provider below its bound, read off the phase's profile: where the
    push worker's time went (waiting for the provider, waiting for the AWS server, its
    own CPU, the rest: the rate budget's waits and client overhead), and the rate the
    poller's invocations at once can reach with the provider's own call times."""
    p = phase.provider
    push = f"{p}_push"
    wall = phase.seconds or 1.0
    busy = phase.busy.get(push, 0.0)
    cpu = phase.cpu.get(push, 0.0)
    aws = phase.aws_seconds.get(push, 0.0)
    parts = []
    if phase.throttled:
        limits = ", ".join(f"{k} x{n}" for k, n in sorted(phase.throttled_by.items()))
        parts.append(
            f"{phase.throttled} calls throttled (429{f': {limits}' if limits else ''}) "
            "and sent back to the queue with backoff"
        )
    if busy < 0.75 * wall:
        parts.append(
            f"the push worker was idle {100 * (1 - busy / wall):.0f}% of the time "
            "(its queue empty: backoff, or messages not there yet)"
        )
    if busy > 0:
        other = max(0.0, busy - phase.write_latency - aws - cpu)
        parts.append(
            f"the push worker's time: {100 * phase.write_latency / busy:.0f}% waiting for "
            f"{NAMES[p]}, {100 * aws / busy:.0f}% waiting for DynamoDB/SQS (the moto server), "
            f"{100 * cpu / busy:.0f}% its own CPU, {100 * other / busy:.0f}% other "
            "(rate budget waits, client overhead)"
        )
    if phase.write_calls:
        per_call = phase.write_latency / phase.write_calls
        width = max(1, phase.concurrency)
        at_most = width * BATCH[p] * 60 / per_call if per_call > 0 else 0.0
        if per_call > 0 and at_most < BOUND[p] * SHARE_OF_BOUND:
            parts.append(
                f"{NAMES[p]} takes {per_call:.1f} s per write of up to {BATCH[p]} (simulated "
                f"latency) and the local poller runs {width} invocation{'s' if width > 1 else ''}"
                f" at a time per queue: at most {at_most:,.0f} records/min even with no "
                "other cost"
            )
    parts.append(
        f"booksync's own rate budget allows at most {BUDGET[p]:,.0f} records/min "
        f"({BUDGET[p] / BOUND[p]:.0%} of the bound)"
    )
    return "; ".join(parts)


@dataclass
class IdleClock:
    """Simulated hours for an idle day on a clock that does not move: the scheduler
    decides as of its event's time, but a pull stamps the connection with the wall
    clock. So each tick's time is placed from the connection's last pull: the pull that
    finished at wall time L ran at simulated time seen[L], and tick k (simulated time
    start + k hours) is sent as L + (start + k h - seen[L]), which is exactly as long
    after that pull as a real tick k would be."""

    start: datetime  # the connection's last pull (wall) when the day begins
    seen: dict[datetime, datetime] = field(default_factory=dict)
    last_tick: datetime | None = None
    pulls: int = 0

    def __post_init__(self) -> None:
        self.seen.setdefault(self.start, self.start)

    def tick(self, hour: int, last_pull: datetime) -> datetime:
        """The event time of tick `hour` (1..24), given the connection's last pull now."""
        if last_pull not in self.seen:  # the previous tick's pull ran at that tick's time
            self.seen[last_pull] = self.last_tick or self.start
            self.pulls += 1
        simulated = self.start + timedelta(hours=hour)
        self.last_tick = simulated
        return last_pull + (simulated - self.seen[last_pull])


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    """Plain aligned columns: the first left-aligned, the rest right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        first = r[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append(indent + "  ".join([first, *rest]).rstrip())
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def sum_units(units: Mapping[str, Mapping[str, float]]) -> tuple[float, float]:
    return (
        sum(u.get("read", 0.0) for u in units.values()),
        sum(u.get("write", 0.0) for u in units.values()),
    )
