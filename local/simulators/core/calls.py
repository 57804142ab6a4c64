"""The call log: what a client actually sent, so tests can assert "one refresh, not twenty"
and benchmarks can count calls per endpoint. Control calls (`/_sim/...`) are not logged."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any

from .clock import Clock


class CallLog:
    """Thread-safe ring of recent calls plus running counts per `METHOD route-pattern`."""

    def __init__(self, clock: Clock, max_entries: int = 10_000) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=max_entries)
        self._counts: Counter[str] = Counter()
        self._seq = 0

    def record(
        self,
        method: str,
        path: str,
        endpoint: str,
        status: int | None,
        company: str | None = None,
        fault: str | None = None,
        limit: str | None = None,
    ) -> dict[str, Any]:
        """Log one call; `status` None means the connection was cut without a reply."""
        with self._lock:
            self._seq += 1
            entry = {
                "seq": self._seq,
                "time": self.clock.now().isoformat(),
                "method": method,
                "path": path,
                "endpoint": endpoint,
                "status": status,
                "company": company,
                "fault": fault,
                "limit": limit,
            }
            self._entries.append(entry)
            self._counts[f"{method} {endpoint}"] += 1
            return entry

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def counts(self) -> dict[str, int]:
        """Calls per `METHOD pattern` since the last clear (not truncated by the ring)."""
        with self._lock:
            return dict(self._counts)

    def count(self, method: str | None = None, endpoint: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for key, n in self._counts.items()
                if (method is None or key.split(" ", 1)[0] == method)
                and (endpoint is None or key.split(" ", 1)[1] == endpoint)
            )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()
