"""Outgoing webhooks: POST the provider's signed body to the configured receiver.

Real providers deliver asynchronously and retry failed deliveries on their own schedule;
a receiver that is slow, down or answers non-2xx must see the retries. The provider builds
the body and headers (format and signature are provider-specific); this module delivers,
retries on the provider's schedule (scaled by `retry_scale` so tests do not wait hours)
and logs every attempt.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .clock import Clock

# Receivers are local; never route a delivery through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class _Job:
    id: int
    url: str
    body: bytes
    headers: dict[str, str]
    generation: int
    attempt: int = 0
    keys: frozenset[str] = frozenset()
    first_at: float = 0.0


class WebhookSender:
    """A background thread draining a due-time queue of deliveries.

    `retry_delays` is the provider's schedule: after the n-th failed attempt wait
    `retry_delays[n-1] * retry_scale` seconds; when the list is exhausted the delivery is
    abandoned (logged as `gave_up`), unless `repeat_for` is set: then the last delay repeats
    until `repeat_for * retry_scale` seconds have passed since the first attempt (QBO: "then
    on stays at 6-hour intervals"). `timeout` is how long the receiver may take.

    Ordering, per delivery (`deliver(..., keys, hold, delay)`): by default each delivery is
    retried on its own, so a later one may overtake a failing one. With `hold`, a delivery
    sharing a key (e.g. a realm) with a failing earlier one waits until that one is
    acknowledged or abandoned. With `delay`, the first attempt waits that many seconds, so a
    later delivery may overtake it even when none fails.
    """

    def __init__(
        self,
        clock: Clock,
        retry_delays: list[float] | None = None,
        retry_scale: float = 1.0,
        timeout: float = 5.0,
        repeat_for: float | None = None,
    ) -> None:
        self.clock = clock
        self.retry_delays = list(retry_delays or [])
        self.retry_scale = retry_scale
        self.timeout = timeout
        self.repeat_for = repeat_for
        self._blocking: dict[str, int] = {}  # key -> id of the failing delivery holding it
        self._held: list[_Job] = []  # deliveries waiting for a failing one, in order
        self.url: str | None = None
        self.key: str | None = None
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, _Job]] = []
        self._in_flight = 0
        self._ids = itertools.count(1)
        self._log: list[dict[str, Any]] = []
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._generation = 0  # bumped by reset(): attempts of older jobs are dropped

    def configure(
        self, url: str | None, key: str | None = None, retry_scale: float | None = None
    ) -> None:
        with self._cond:
            self.url, self.key = url, key
            if retry_scale is not None:
                self.retry_scale = retry_scale

    def deliver(
        self,
        body: bytes,
        headers: dict[str, str],
        keys: list[str] | None = None,
        hold: bool = False,
        delay: float = 0.0,
    ) -> int | None:
        """Queue one delivery to the configured URL; None (and logged) if none is configured.
        `keys` name what the delivery is about (e.g. its realm); with `hold` it waits while
        an earlier delivery sharing a key is failing; `delay` holds back its first attempt
        that many seconds (so later deliveries can overtake it)."""
        with self._cond:
            delivery_id = next(self._ids)
            if not self.url:
                self._log.append(self._entry(delivery_id, None, 0, None, "no webhook url"))
                return None
            job = _Job(
                delivery_id,
                self.url,
                body,
                dict(headers),
                self._generation,
                keys=frozenset(keys or ()),
            )
            if hold and self._blocked(job):
                self._held.append(job)
                return delivery_id
            due = time.monotonic() + max(0.0, delay)
            heapq.heappush(self._queue, (due, delivery_id, job))
            self._ensure_thread()
            self._cond.notify_all()
            return delivery_id

    def _blocked(self, job: _Job) -> bool:
        """A failing delivery, or an earlier held one, shares one of the job's keys."""
        if any(k in self._blocking for k in job.keys):
            return True
        return any(job.keys & other.keys for other in self._held)

    def _release(self, job: _Job) -> None:
        """The failing `job` is acknowledged or abandoned: its keys free the held ones."""
        for key in job.keys:
            if self._blocking.get(key) == job.id:
                del self._blocking[key]
        waiting, self._held = self._held, []
        for held in waiting:
            if self._blocked(held):
                self._held.append(held)
            else:
                heapq.heappush(self._queue, (time.monotonic(), held.id, held))
        self._cond.notify_all()

    def post_now(self, body: bytes, headers: dict[str, str]) -> int | None:
        """Post once, synchronously, no retries (e.g. Xero's intent-to-receive checks)."""
        if not self.url:
            return None
        status, error = self._post(self.url, body, headers)
        with self._cond:
            self._log.append(self._entry(next(self._ids), self.url, 1, status, error, body))
        return status

    def deliveries(self) -> list[dict[str, Any]]:
        """Every attempt so far: id, url, attempt, status (None: no reply), error, outcome."""
        with self._cond:
            return [dict(e) for e in self._log]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight or self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def reset(self) -> None:
        with self._cond:
            self._queue.clear()
            self._held.clear()
            self._blocking.clear()
            self._log.clear()
            self._generation += 1
            self.url = self.key = None

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1)

    # -- worker --------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, job = heapq.heappop(self._queue)
                self._in_flight += 1
            job.attempt += 1
            if job.attempt == 1:
                job.first_at = time.monotonic()
            status, error = self._post(job.url, job.body, job.headers)
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()
                if job.generation != self._generation:
                    continue
                ok = status is not None and 200 <= status < 300
                outcome = "delivered" if ok else "retry"
                delay = self._next_delay(job)
                if not ok and delay is None:
                    outcome = "gave_up"
                self._log.append(
                    self._entry(job.id, job.url, job.attempt, status, error, job.body, outcome)
                )
                if outcome == "retry" and delay is not None:
                    for key in job.keys:
                        self._blocking.setdefault(key, job.id)
                    heapq.heappush(self._queue, (time.monotonic() + delay, job.id, job))
                else:
                    self._release(job)

    def _next_delay(self, job: _Job) -> float | None:
        """Seconds before the next attempt after `job.attempt` failed ones; None: give up."""
        if job.attempt <= len(self.retry_delays):
            return self.retry_delays[job.attempt - 1] * self.retry_scale
        if self.repeat_for is None or not self.retry_delays:
            return None
        delay = self.retry_delays[-1] * self.retry_scale
        age = time.monotonic() + delay - job.first_at
        return delay if age <= self.repeat_for * self.retry_scale else None

    def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as reply:
                reply.read()
                return reply.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _entry(
        self,
        delivery_id: int,
        url: str | None,
        attempt: int,
        status: int | None,
        error: str | None,
        body: bytes = b"",
        outcome: str | None = None,
    ) -> dict[str, Any]:
        if outcome is None:
            ok = status is not None and 200 <= status < 300
            outcome = "delivered" if ok else "failed"
        return {
            "id": delivery_id,
            "url": url,
            "attempt": attempt,
            "status": status,
            "error": error,
            "outcome": outcome,
            "time": self.clock.now().isoformat(),
            "body": body.decode("utf-8", "replace"),
        }
