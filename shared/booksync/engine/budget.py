"""A per-connection rate budget shared by every concurrent Lambda: a token bucket kept in
the Leases table and updated with conditional writes, so booksync slows down before the
provider throttles it.

Published limits (PROVIDERS.md 1.4, 2.4, 3.4): QBO 500 requests/minute per company (each
batch item counts); QBT 300 per 5 minutes per token; Xero 60 per minute per organisation.
The buckets refill a little below those rates.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from booksync.errors import SyncFailure
from booksync.store import leases


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float


RATES = {
    "qbo": Rate(per_second=480 / 60, burst=30),
    "qbt": Rate(per_second=280 / 300, burst=20),
    "xero": Rate(per_second=55 / 60, burst=5),
}
# calls a provider takes at once per company (QBO 10, Xero 5: PROVIDERS.md 1.4, 3.4; QBT
# publishes none): the width of a connection's push shards (engine/outbox.py)
CONCURRENCY = {"qbo": 10, "qbt": 5, "xero": 5}
THROTTLED = {"qbo": "qbo.throttled", "qbt": "qbt.throttled", "xero": "xero.rate_limited"}
ATTEMPTS = 8
# A worker paces itself (sleeps) for waits up to this long, as long as its invocation's
# deadline allows: a throttled message sent back to its queue counts a receive against its
# dead-letter limit, and with FIFO order holds back every message behind it.
PACE_SECONDS = 30.0


@dataclass
class Budget:
    provider: str
    connection_id: str
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    max_wait: float = 2.0  # wait this long in the Lambda; longer waits go back to the queue
    # a worker's: the time by which its provider calls must be done (epoch seconds); it
    # then waits up to PACE_SECONDS at a time, never past the deadline
    deadline: float | None = None

    @property
    def rate(self) -> Rate:
        return RATES[self.provider]

    def take(self, cost: int = 1) -> None:
        """Spend `cost` calls; wait briefly if the bucket is nearly there, else raise the
        provider's throttled SyncFailure with the wait, so the message backs off. Past a
        worker's deadline no call starts, tokens or not: its answer might come after the
        function's timeout, and the work done so far would be lost with the invocation."""
        if self.deadline is not None and self.clock() >= self.deadline:
            raise SyncFailure(
                THROTTLED[self.provider],
                "this run's time is spent; the rest goes back to its queue",
                retry_after=1,
            )
        for _ in range(ATTEMPTS):
            wait = self._try(cost)
            if wait <= 0:
                return
            if wait > self._may_wait():
                raise SyncFailure(
                    THROTTLED[self.provider],
                    f"booksync's own budget for this {self.provider} account is spent",
                    retry_after=wait,
                )
            self.sleep(wait)
        raise SyncFailure(THROTTLED[self.provider], "rate budget contended", retry_after=1)

    def _may_wait(self) -> float:
        if self.deadline is None:
            return self.max_wait
        return max(self.max_wait, min(PACE_SECONDS, self.deadline - self.clock()))

    def _try(self, cost: int) -> float:
        """0 if spent; else seconds until `cost` is available. Conditional on the row's
        version, so two Lambdas never spend the same token."""
        pk = f"budget#{self.connection_id}"
        now = self.clock()
        rate = self.rate
        row = leases.bucket(pk)
        if row is None:
            tokens, version = rate.burst, None
        else:
            value, version = row
            elapsed = max(0.0, now - float(value.get("at", now)))
            tokens = min(
                rate.burst, float(value.get("tokens", rate.burst)) + elapsed * rate.per_second
            )
        need = min(float(cost), rate.burst)
        if tokens + 1e-6 < need:
            return (need - tokens) / rate.per_second + 0.001  # a hair more: floats round down
        if not leases.write_bucket(
            pk, {"tokens": max(0.0, tokens - need), "at": now}, version, int(now) + 3600
        ):
            return 0.01  # another Lambda spent at the same moment: look again
        return 0.0
