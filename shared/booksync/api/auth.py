"""Who is calling: the tenant behind the practice API key, for every authenticated route."""

from __future__ import annotations

from typing import Any

from booksync.api.problems import from_problem
from booksync.errors import Unauthorized
from booksync.store.tenants import tenant_for_key


def tenant_of(event: dict[str, Any]) -> str:
    """The tenant of `Authorization: Bearer <key>`; raises Unauthorized."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return tenant_for_key(headers.get("authorization"))


def unauthorized(exc: Unauthorized) -> dict[str, Any]:
    """The 401 answer, before any routing or validation (a stranger learns nothing)."""
    response = from_problem(exc)
    return {
        "statusCode": response.status_code,
        "headers": {
            "Content-Type": "application/problem+json",
            "WWW-Authenticate": 'Bearer realm="booksync"',
        },
        "body": response.body,
    }
