"""The simulators' sense of time.

Every expiry (codes, tokens, rate windows, modified timestamps) reads this clock, so a test can
jump forward an hour or sixty days with `advance()` instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Real UTC time plus an adjustable offset; thread safe."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(seconds=offset_seconds)

    def now(self) -> datetime:
        """The simulated time: an aware UTC datetime."""
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    def timestamp(self) -> float:
        """`now()` as POSIX seconds, for windows and expiries kept as floats."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward (never backward) and return the new now."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    @property
    def offset_seconds(self) -> float:
        with self._lock:
            return self._offset.total_seconds()

    def set_offset(self, seconds: float) -> None:
        """Restore an offset from a snapshot, or go back to real time with 0."""
        with self._lock:
            self._offset = timedelta(seconds=seconds)
