"""Per-key rate limits of the practice API: a token bucket per API key in the Leases table,
so one firm's busy key cannot starve the others (API Gateway's stage limit stays as the
ceiling over all of them; HTTP APIs have no usage plans or per-key quotas).

A request takes one token; the bucket refills at `rate` tokens a second up to `burst`. An
empty bucket answers 429 with Retry-After. The bucket is one row written on the condition
of its version, so concurrent Lambdas share it exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from booksync.errors import TooManyRequests
from booksync.store import leases

TRIES = 5  # conditional writes lost to concurrent requests of the same key


@dataclass(frozen=True)
class Limits:
    rate: float  # tokens a second
    burst: int  # bucket size


def bucket_key(key_id: str) -> str:
    return f"ratelimit#apikey#{key_id}"


def take(key_id: str, limits: Limits, clock: Callable[[], float] = time.time) -> tuple[float, int]:
    """Take one token for `key_id`; answers (tokens left, retry-after if refused: 0).
    Raises TooManyRequests when the bucket is empty."""
    pk = bucket_key(key_id)
    tokens = float(limits.burst)
    for _ in range(TRIES):
        now = clock()
        found = leases.bucket(pk)
        if found is None:
            tokens, version = float(limits.burst), None
        else:
            value, version = found
            last = float(value.get("at", now))
            tokens = min(
                float(limits.burst),
                float(value.get("tokens", limits.burst)) + max(0.0, now - last) * limits.rate,
            )
        if tokens < 1.0:
            wait = max(1, math.ceil((1.0 - tokens) / limits.rate))
            raise TooManyRequests(
                f"this API key sent more than {limits.rate:g} requests a second "
                f"(bursts of {limits.burst}); retry after {wait} s",
                retry_after=wait,
            )
        tokens -= 1.0
        expires = int(now + limits.burst / limits.rate + 60)
        if leases.write_bucket(pk, {"tokens": tokens, "at": now}, version, expires):
            return tokens, 0
    # Lost every race: the key is sending many requests at this very moment; refuse one.
    raise TooManyRequests("too many concurrent requests with this API key", retry_after=1)
