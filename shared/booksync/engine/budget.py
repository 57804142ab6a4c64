"""A per-connection rate budget shared by every concurrent Lambda: token buckets kept in
one Leases row and updated with a conditional write, so booksync slows down before the
provider throttles it, and waits as a whole connection when the provider asks for a
long wait (a hold) instead of letting every message find out by itself.

Published limits (PROVIDERS.md 1.4, 2.4, 3.4; simulators' README): QBO 500 requests a
minute per company, each batch item counted, and 10 requests a second (a batch is one);
QBT 300 per 5 minutes per token; Xero 60 a minute per organisation (its day limit is read
from its answers: providers/xero/client.py). The buckets refill a little below those rates.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from booksync.errors import SyncFailure
from booksync.store import leases


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: float
    per_item: bool = True  # a call's cost is its items (a QBO batch of 30 costs 30), else 1


# A bucket lets `burst + per_second x T` through in any window of T seconds, however the
# provider slides its window. Booked calls go out at exactly that pace, so the sum is kept
# a second's calls or more under each limit: a call that leaves late (a busy CPU, a slow
# connect) lands in the next window beside the calls booked after it, and at a margin of
# two items the 5,000-record bench heard QBO's 429 twice. QBO: a full batch of 30 needs a
# burst of 30, 30 + 7.7 x 60 = 492 of 500 a minute; 3 + 6 = 9 of 10 a second (a lost
# create's look-ups or a send's checks, a dozen reads, would pass 10). Xero: 2 + 55 = 57
# of 60 a minute. QBT: 10 + 280 = 290 of 300 in 5 minutes.
RATES: dict[str, dict[str, Rate]] = {
    "qbo": {
        "minute": Rate(per_second=462 / 60, burst=30),
        "second": Rate(per_second=6, burst=3, per_item=False),
    },
    "qbt": {"minute": Rate(per_second=280 / 300, burst=10)},
    "xero": {"minute": Rate(per_second=55 / 60, burst=2)},
}
# calls a provider takes at once per company (QBO 10, Xero 5: PROVIDERS.md 1.4, 3.4; QBT
# publishes none): a connection's push shards take all but one (engine/outbox.py), the
# other is its pull's
CONCURRENCY = {"qbo": 10, "qbt": 5, "xero": 5}
THROTTLED = {"qbo": "qbo.throttled", "qbt": "qbt.throttled", "xero": "xero.rate_limited"}
ATTEMPTS = 200  # looks at the bucket row per call at most (each wait is bounded, too)
# looks at the row to write a hold: a hold not written costs only calls that hear the
# provider's refusal again (each then tries to hold), so no worker spends long on it
HOLD_ATTEMPTS = 10
# A worker paces itself (sleeps) for waits up to this long, as long as its invocation's
# deadline allows: a throttled message sent back to its queue counts a receive against its
# dead-letter limit.
PACE_SECONDS = 30.0
# A provider's wait at least this long holds the whole connection (every worker stops
# calling it until then), so nobody hammers an answer that will not change.
HOLD_AFTER_SECONDS = 60.0
# A throttle whose wait the provider does not name is held this long first, doubling while
# the provider throttles again within THROTTLE_STREAK_GAP seconds of the hold's end
# (`Budget.hold`): in the 1,000-invoice fault run a 60 s hold for each of QBO's passing
# 429s (one call in twenty) kept payments to 13 a minute.
FIRST_THROTTLE_HOLD = 5.0
THROTTLE_STREAK_GAP = 2.0
# Lambdas that want the same bucket at the same moment: the one whose conditional write
# lost looks again after a random pause in this range (so they do not meet again), as long
# as it may wait, instead of sending its message back to burn a receive on it.
CONTENDED_PAUSE = (0.01, 0.15)
# A worker woken this much after its booked turn books again rather than call late (the
# budget's margin under each limit is about a second's calls)
LATE_SECONDS = 0.5
_CONTENDED = -1.0  # _reserve's answer when another Lambda's write won the row


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
    def rates(self) -> dict[str, Rate]:
        return RATES[self.provider]

    @property
    def _pk(self) -> str:
        return f"budget#{self.connection_id}"

    def take(self, cost: int = 1) -> None:
        """Spend one call of `cost` items; wait briefly if a bucket is nearly there, else
        raise the provider's throttled SyncFailure with the wait, so the message backs off.
        A hold (the provider asked for a long wait) refuses at once, until it ends. Past a
        worker's deadline no call starts, tokens or not: its answer might come after the
        function's timeout, and the work done so far would be lost with the invocation.
        A worker waits out a hold that ends before its deadline (`_sits_out`)."""
        if self.deadline is not None and self.clock() >= self.deadline:
            raise SyncFailure(
                THROTTLED[self.provider],
                # a worker's messages go back to their queue; an API request says so
                "this run's time is spent: nothing more is sent in it",
                retry_after=1,
            )
        began = self.clock()
        for _ in range(ATTEMPTS):
            may_wait = self._may_wait() - (self.clock() - began)
            wait, hold = self._reserve(cost, may_wait)
            if hold is not None:
                if not self._sits_out(hold):
                    raise hold
                began = self.clock()  # the hold is over: pacing counts from now
                continue
            if wait == _CONTENDED:
                wait = random.uniform(*CONTENDED_PAUSE)
                if wait <= may_wait:
                    self.sleep(wait)
                    continue
            if wait > may_wait:
                raise SyncFailure(
                    THROTTLED[self.provider],
                    f"booksync's own budget for this {self.provider} account is spent",
                    retry_after=wait,
                )
            if wait > 0:
                turn = self.clock() + wait
                self.sleep(wait)  # the tokens are this worker's: no second look at the row
                if self.clock() - turn > LATE_SECONDS:
                    # woken late (a busy CPU): sent now, the call could land beside those
                    # booked after it and pass the provider's window; book a new turn
                    continue
            return
        raise SyncFailure(THROTTLED[self.provider], "rate budget contended", retry_after=1)

    def _sits_out(self, hold: SyncFailure) -> bool:
        """A hold that ends before this worker's deadline is waited out here (then the call
        goes on): sent back, each message behind it would spend a receive per hold, and
        under a provider that throttles now and then a message met a dozen holds and was
        dead-lettered. A longer one (a day limit) is sent back with its wait."""
        ends = self.clock() + (hold.retry_after or 0) + CONTENDED_PAUSE[1]
        if self.deadline is None or ends >= self.deadline:
            return False
        self.sleep((hold.retry_after or 0) + random.uniform(*CONTENDED_PAUSE))
        return True

    def _may_wait(self) -> float:
        if self.deadline is None:
            return self.max_wait
        return max(self.max_wait, min(PACE_SECONDS, self.deadline - self.clock()))

    def _reserve(self, cost: int, may_wait: float) -> tuple[float, SyncFailure | None]:
        """Book the call's tokens at the first moment every bucket has them, and answer
        the seconds until then (0: at once); a wait longer than `may_wait` is answered but
        not booked. _CONTENDED if another Lambda's write won; or the hold that refuses it.

        A booking is a reservation in call order: each bucket keeps the tokens it will have
        at its last booked call (`at`, maybe ahead of now), so a worker sleeps until its
        turn and calls without a second look at the row. (Looking again when the tokens
        were due, waiters woke together, one won, the rest read and wrote the row again:
        at 5,000 records that was a Leases read per record more than at 1,000.) Conditional
        on the row's version: two Lambdas never book the same token. A hold written while a
        worker sleeps to its turn is heard from the provider (a 429, which holds again)."""
        now = self.clock()
        row = leases.bucket(self._pk)
        value, version = row if row is not None else ({}, None)
        held = float(value.get("hold_until") or 0)
        if held > now:
            return 0.0, SyncFailure(
                str(value.get("hold_code") or THROTTLED[self.provider]),
                str(value.get("hold_why") or "the provider asked booksync to wait"),
                retry_after=held - now,
            )
        stored = {name: dict(b) for name, b in dict(value.get("buckets") or {}).items()}
        for name, rate in self.rates.items():
            bucket = stored.setdefault(name, {})
            bucket["at"] = float(bucket.get("at", now))
            bucket["tokens"] = float(bucket.get("tokens", rate.burst))
        # calls go in booking order: not before now, nor before the last booked call
        when = max([now, *(b["at"] for b in stored.values())])
        needs = {}
        for name, rate in self.rates.items():
            bucket = stored[name]
            needs[name] = min(float(cost) if rate.per_item else 1.0, rate.burst)
            short = needs[name] - self._tokens(rate, bucket, when)
            if short > 1e-6:  # a hair more: floats round down
                when = max(when, bucket["at"] + (needs[name] - bucket["tokens"]) / rate.per_second)
        wait = when - now
        if wait > may_wait:
            return wait, None
        booked = {
            name: {"tokens": self._tokens(rate, stored[name], when) - needs[name], "at": when}
            for name, rate in self.rates.items()
        }
        if not leases.write_bucket(self._pk, {"buckets": booked}, version, int(when) + 3600):
            return _CONTENDED, None  # another Lambda booked at the same moment: look again
        return wait, None

    @staticmethod
    def _tokens(rate: Rate, bucket: dict[str, float], when: float) -> float:
        """A bucket's tokens at `when` (not before its last booking), capped at its burst."""
        elapsed = max(0.0, when - bucket["at"])
        return min(rate.burst, bucket["tokens"] + elapsed * rate.per_second)

    def hold(self, seconds: float, code: str, why: str, named: bool = True) -> float:
        """Stop every worker calling this connection's provider for `seconds` (its answer
        would be the same): each call refuses at once with `code` and `why` until then.

        `named=False`: the provider named no wait (QBO's and QBT's 429), and `seconds` is
        the longest its window could need. The budget already keeps booksync under every
        published limit, so a throttle is more often a passing one (a limit on requests
        at once) than a spent window: the hold starts at FIRST_THROTTLE_HOLD and doubles,
        up to `seconds`, only while the provider throttles again right after a hold
        (within THROTTLE_STREAK_GAP of its end). A throttle heard while a hold runs (a
        call that was already on its way) is that hold's. Answers the seconds held."""
        now = self.clock()
        for _ in range(HOLD_ATTEMPTS):
            row = leases.bucket(self._pk)
            value, version = row if row is not None else ({}, None)
            wait = seconds
            new = {**value, "hold_code": code, "hold_why": why}
            if not named:
                streak = dict(value.get("throttle") or {})
                ended = float(streak.get("until") or 0)
                if now < ended:
                    return ended - now  # this throttle is the running hold's
                times = (
                    int(streak.get("times") or 0) + 1 if now - ended <= THROTTLE_STREAK_GAP else 1
                )
                wait = min(seconds, FIRST_THROTTLE_HOLD * 2 ** (times - 1))
                new["throttle"] = {"times": times, "until": now + wait}
            until = max(float(value.get("hold_until") or 0), now + wait)
            new["hold_until"] = until
            if leases.write_bucket(self._pk, new, version, int(until) + 3600):
                return wait
            self.sleep(random.uniform(*CONTENDED_PAUSE))
        return seconds
