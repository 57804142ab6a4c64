"""Rate limits as the providers enforce them: sliding windows and concurrency slots.

QBO (500/min and 10 concurrent per realm+app), QBT (300 per 5 min per token) and Xero
(60/min, 5,000/day, 5 concurrent per tenant, 10,000/min per app) all reduce to named
buckets with a key, a count and either a time window or a number of in-flight slots.
A provider says which buckets a call counts against (`Provider.limit_keys`); this module
decides, and reports enough for the provider's 429 and its remaining-count headers.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

from .clock import Clock


@dataclass(frozen=True)
class LimitCheck:
    """One bucket a call counts against.

    `name` is what a provider reports (e.g. Xero's X-Rate-Limit-Problem `minute`), `key`
    scopes the bucket (e.g. `tenant:app`), `limit` the count; `window` in seconds for a
    sliding window, or None for concurrency slots held while the request runs.
    """

    name: str
    key: str
    limit: int
    window: float | None = None

    @classmethod
    def sliding(cls, name: str, key: str, limit: int, window: float) -> LimitCheck:
        return cls(name, key, limit, window)

    @classmethod
    def concurrent(cls, name: str, key: str, limit: int) -> LimitCheck:
        return cls(name, key, limit, None)


@dataclass
class Decision:
    """The verdict for one call: `hit` names the first limit exceeded (None if allowed)."""

    allowed: bool
    hit: str | None = None
    retry_after: int = 0
    remaining: dict[str, int] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)  # concurrency buckets to release


class RateLimiter:
    """Thread-safe buckets; window times come from the provider clock (so `advance` frees them)."""

    def __init__(self, clock: Clock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._active: dict[tuple[str, str], int] = {}

    def acquire(self, checks: list[LimitCheck]) -> Decision:
        """Count the call against every bucket, or none of them if one is full."""
        if not self.enabled or not checks:
            return Decision(True, remaining={c.name: c.limit for c in checks})
        now = self.clock.timestamp()
        with self._lock:
            remaining: dict[str, int] = {}
            hit: tuple[str, int] | None = None  # first full bucket and its retry_after
            for check in checks:
                bucket = (check.name, check.key)
                if check.window is None:
                    used = self._active.get(bucket, 0)
                    retry = 1
                else:
                    hits = self._hits.setdefault(bucket, deque())
                    while hits and hits[0] <= now - check.window:
                        hits.popleft()
                    used = len(hits)
                    retry = math.ceil(hits[0] + check.window - now) if hits else 1
                if used >= check.limit and hit is None:
                    hit = (check.name, max(1, retry))
                remaining[check.name] = max(0, check.limit - used - 1)
            if hit is not None:
                # Nothing was counted: report what is left now, not after this call.
                for check in checks:
                    if check.name != hit[0]:
                        remaining[check.name] += 1
                remaining[hit[0]] = 0
                return Decision(False, hit[0], hit[1], remaining)
            held: list[str] = []
            for check in checks:
                bucket = (check.name, check.key)
                if check.window is None:
                    self._active[bucket] = self._active.get(bucket, 0) + 1
                    held.append(f"{check.name}\0{check.key}")
                else:
                    self._hits[bucket].append(now)
            return Decision(True, remaining=remaining, held=held)

    def release(self, decision: Decision) -> None:
        """Give back the concurrency slots a finished request held."""
        with self._lock:
            for token in decision.held:
                name, _, key = token.partition("\0")
                bucket = (name, key)
                self._active[bucket] = max(0, self._active.get(bucket, 0) - 1)
            decision.held = []

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._active.clear()
