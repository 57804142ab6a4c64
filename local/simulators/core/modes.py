"""Modes: per-company switches between behaviours the real service may show.

Where the public record does not pin a provider down (does a repeated `requestid` replay or
run again? which CDC changes are cut at the cap?), a simulator that picks the kind answer lets
a client pass here and fail on real books. A mode names each plausible behaviour; tests that
touch one set the harsher value explicitly, and booksync must survive all of them.

One mechanism for every provider: a provider declares its modes (`Provider.mode_specs`), the
core adds the latency modes every simulator has, and `/_sim/companies/{cid}/modes` reads and
changes them per company. `/_sim/modes` changes the server-wide default, for companies that
have not set a mode themselves (e.g. the bench turns latency on everywhere). Modes are part of
a snapshot and are forgotten by reset.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mode:
    """One switch. `values` lists the allowed values; a numeric mode instead gives
    `minimum`/`maximum` (and `integer`). `default` is the server's value before anyone sets
    it (today's behaviour unless the real service is documented otherwise). `doc` says what
    the values do in one line; `source` where the behaviour is reported."""

    name: str
    default: Any
    doc: str
    source: str
    values: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False

    def check(self, value: Any) -> Any:
        """The value as stored, or ValueError naming the mode and the value."""
        if self.values is not None:
            for allowed in self.values:
                if value == allowed or (isinstance(value, int | float) and str(value) == allowed):
                    return allowed
            raise ValueError(
                f"mode {self.name!r} does not take {value!r}; allowed: {list(self.values)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"mode {self.name!r} takes a number, not {value!r}")
        if self.integer and value != int(value):
            raise ValueError(f"mode {self.name!r} takes a whole number, not {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"mode {self.name!r}: {value!r} is below {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"mode {self.name!r}: {value!r} is above {self.maximum}")
        return int(value) if self.integer else float(value)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "default": self.default, "doc": self.doc}
        if self.values is not None:
            out["values"] = list(self.values)
        else:
            out["range"] = [self.minimum, self.maximum]
        out["source"] = self.source
        return out


def latency_modes(fixed_ms: float, per_object_ms: float, source: str) -> list[Mode]:
    """The latency switch every simulator has: off by default at the server (unit tests stay
    fast), `on` sleeps `latency_fixed_ms` plus `latency_per_object_ms` for each object of a
    batch write, outside the provider lock so concurrent calls overlap as on the real one."""
    return [
        Mode(
            "latency",
            "off",
            "on: every API call takes latency_fixed_ms + latency_per_object_ms per batch object",
            source,
            values=("off", "on"),
        ),
        Mode(
            "latency_fixed_ms",
            fixed_ms,
            "milliseconds every API call takes when latency is on",
            source,
            minimum=0,
            maximum=600_000,
        ),
        Mode(
            "latency_per_object_ms",
            per_object_ms,
            "extra milliseconds per object of a batch write when latency is on",
            source,
            minimum=0,
            maximum=600_000,
        ),
    ]


class ModeStore:
    """Declared modes, server-wide overrides and per-company overrides; thread safe.

    Lookup order for a company: its own value, else the server-wide value, else the declared
    default. A company id is compared as given (providers pass their canonical ids).
    """

    def __init__(self, specs: list[Mode]) -> None:
        self._lock = threading.Lock()
        self.specs: dict[str, Mode] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise ValueError(f"mode {spec.name!r} declared twice")
            self.specs[spec.name] = spec
        self._server: dict[str, Any] = {}
        self._company: dict[str, dict[str, Any]] = {}

    # -- reading -------------------------------------------------------------------------

    def get(self, company_id: str | None, name: str) -> Any:
        spec = self.specs[name]  # KeyError for a name nobody declared: a simulator bug
        with self._lock:
            if company_id is not None:
                own = self._company.get(str(company_id), {})
                if name in own:
                    return own[name]
            return self._server.get(name, spec.default)

    def effective(self, company_id: str | None) -> dict[str, Any]:
        return {name: self.get(company_id, name) for name in self.specs}

    def overrides(self, company_id: str | None) -> dict[str, Any]:
        with self._lock:
            if company_id is None:
                return dict(self._server)
            return dict(self._company.get(str(company_id), {}))

    def describe(self) -> list[dict[str, Any]]:
        return [spec.describe() for spec in self.specs.values()]

    # -- changing ------------------------------------------------------------------------

    def _validated(self, changes: dict[str, Any]) -> dict[str, Any]:
        """All changes checked before any is applied; None means back to the default."""
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object {mode: value}")
        out: dict[str, Any] = {}
        for name, value in changes.items():
            spec = self.specs.get(name)
            if spec is None:
                raise ValueError(f"unknown mode {name!r}; known: {sorted(self.specs)}")
            out[name] = None if value is None else spec.check(value)
        return out

    def set(self, company_id: str | None, changes: dict[str, Any]) -> None:
        """Set modes for one company (or server-wide with None); `null` clears a value."""
        checked = self._validated(changes)
        with self._lock:
            target = (
                self._server
                if company_id is None
                else self._company.setdefault(str(company_id), {})
            )
            for name, value in checked.items():
                if value is None:
                    target.pop(name, None)
                else:
                    target[name] = value

    def forget_company(self, company_id: str) -> None:
        with self._lock:
            self._company.pop(str(company_id), None)

    # -- snapshot ------------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {"server": dict(self._server), "companies": copy.deepcopy(self._company)}

    def load(self, state: dict[str, Any]) -> None:
        server = dict(state.get("server") or {})
        companies = {str(k): dict(v) for k, v in (state.get("companies") or {}).items()}
        checked_server = {k: v for k, v in self._validated(server).items() if v is not None}
        checked = {
            cid: {k: v for k, v in self._validated(vals).items() if v is not None}
            for cid, vals in companies.items()
        }
        with self._lock:
            self._server = checked_server
            self._company = checked

    def reset(self) -> None:
        with self._lock:
            self._server = {}
            self._company = {}
