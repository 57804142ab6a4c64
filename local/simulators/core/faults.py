"""Injected faults: the failures a sync engine must survive, on demand.

A rule matches by method, path regex, probability and a remaining count, and does one of:
`error` (a provider 5xx or the given status), `throttle` (the provider's 429 with
Retry-After), `slow` (sleep first), `drop_after_commit` (the write happens, the reply never
arrives: the case idempotency keys exist for) and `revoke_token` (the user disconnected).
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

ACTIONS = ("error", "throttle", "slow", "drop_after_commit", "revoke_token")


@dataclass
class FaultRule:
    """One rule. `count` None fires forever; `fired` counts how often it did."""

    id: int
    action: str
    method: str | None = None
    path: str = ""
    probability: float = 1.0
    count: int | None = None
    status: int | None = None
    seconds: float | None = None
    body: Any = None
    fired: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultRules:
    """Thread-safe ordered rules; the first live rule that matches fires (and is counted)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()

    def add(
        self,
        action: str,
        method: str | None = None,
        path: str = "",
        probability: float = 1.0,
        count: int | None = None,
        status: int | None = None,
        seconds: float | None = None,
        body: Any = None,
    ) -> FaultRule:
        """Add a rule; ValueError on an unknown action, bad regex or bad probability."""
        if action not in ACTIONS:
            raise ValueError(f"unknown fault action {action!r}; expected one of {ACTIONS}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        try:
            re.compile(path)
        except re.error as exc:
            raise ValueError(f"bad path regex {path!r}: {exc}") from exc
        with self._lock:
            rule = FaultRule(
                next(self._ids),
                action,
                method.upper() if method else None,
                path,
                probability,
                count,
                status,
                seconds,
                body,
            )
            self._rules.append(rule)
            return rule

    def add_dict(self, spec: dict[str, Any]) -> FaultRule:
        known = {"action", "method", "path", "probability", "count", "status", "seconds", "body"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if "action" not in spec:
            raise ValueError("a fault rule needs an action")
        return self.add(**spec)

    def match(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this call, if any (its count is consumed)."""
        with self._lock:
            for rule in self._rules:
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.method is not None and rule.method != method.upper():
                    continue
                if not re.search(rule.path, path):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
