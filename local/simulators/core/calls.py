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
        # Calls per category (e.g. QBO's Core / CorePlus) per company and per OAuth client.
        self._by_company: dict[str, Counter[str]] = {}
        self._by_client: dict[str, Counter[str]] = {}
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
        client: str | None = None,
        category: str | None = None,
        latency_ms: float | None = None,
    ) -> dict[str, Any]:
        """Log one call; `status` None means the connection was cut without a reply.
        `client` is the OAuth client id of the caller, `category` the provider's class of
        the call (QBO: "Core" or "CorePlus"), both None when they do not apply;
        `latency_ms` the simulated latency the call was given (None: latency off)."""
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
                "client": client,
                "category": category,
                "latency_ms": latency_ms,
            }
            self._entries.append(entry)
            self._counts[f"{method} {endpoint}"] += 1
            if category is not None:
                self._by_company.setdefault(company or "-", Counter())[category] += 1
                self._by_client.setdefault(client or "-", Counter())[category] += 1
            return entry

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def counts(self) -> dict[str, int]:
        """Calls per `METHOD pattern` since the last clear (not truncated by the ring)."""
        with self._lock:
            return dict(self._counts)

    def categories(self) -> dict[str, dict[str, dict[str, int]]]:
        """`{"by_company": {cid: {category: n}}, "by_client": {client_id: {category: n}}}`
        since the last clear."""
        with self._lock:
            return {
                "by_company": {k: dict(v) for k, v in self._by_company.items()},
                "by_client": {k: dict(v) for k, v in self._by_client.items()},
            }

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
            self._by_company.clear()
            self._by_client.clear()
