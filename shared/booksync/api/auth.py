"""Who is calling, and what the calling key may do.

Every authenticated route runs with the caller in the router's context (`caller_of`). A
key has a scope: read < write < admin (keys made before scopes existed are admin).

- read: every GET.
- write: every other method, unless the route asks for more (`handle` checks this before
  routing, so a read key never reaches a write route).
- admin: routes that call `require(router, "admin")` first: disconnect, connect with a
  reset (forgets links), removing a link, retry-all, the API key routes, sending time and
  invoices.

The one guard a route calls:

    from booksync.api.auth import require

    @router.post("/v1/time-entries/send")
    def send_time() -> dict[str, Any]:
        require(router, "admin")  # 403 problem naming the scope needed and the key's
        ...

`require(holder, scope)` takes the Router (or the resolver) the route is on and answers
the `Caller` (tenant_id, key_id, scope). A "member" key in the time-entries issue is a
write key: it gets 403 with the reason on an admin route.
"""

from __future__ import annotations

from typing import Any, Protocol

from booksync.api.problems import from_problem
from booksync.errors import Problem, Unauthorized
from booksync.store.tenants import SCOPES, Caller, authenticate

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Forbidden(Problem):
    status = 403
    title = "Forbidden"
    type_suffix = "forbidden"


class _HasContext(Protocol):
    context: dict[str, Any]


def caller_of(holder: _HasContext) -> Caller:
    """The authenticated caller of the request being handled."""
    caller = holder.context.get("caller")
    if not isinstance(caller, Caller):
        raise Unauthorized("send Authorization: Bearer <api key>")
    return caller


def require(holder: _HasContext, scope: str) -> Caller:
    """Raise Forbidden unless the calling key's scope includes `scope`; answer the caller."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; one of {SCOPES}")
    caller = caller_of(holder)
    if not caller.allows(scope):
        raise Forbidden(
            f"this needs an API key with the {scope} scope; this key ({caller.key_id}) has "
            f"{caller.scope}. Ask an admin of the firm for an {scope} key.",
            field="Authorization",
        )
    return caller


def method_scope(method: str) -> str:
    """The least scope a request method needs: reads for read keys, the rest write."""
    return "read" if method.upper() in READ_METHODS else "write"


def authenticate_event(event: dict[str, Any]) -> Caller:
    """The caller of an API Gateway event (`Authorization: Bearer <key>`); Unauthorized."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return authenticate(headers.get("authorization"))


def tenant_of(event: dict[str, Any]) -> str:
    """The tenant of `Authorization: Bearer <key>`; raises Unauthorized."""
    return authenticate_event(event).tenant_id


def check_method(caller: Caller, method: str) -> None:
    """A read key never reaches a route that writes."""
    needed = method_scope(method)
    if not caller.allows(needed):
        raise Forbidden(
            f"this API key ({caller.key_id}) is read-only; {method.upper()} needs the "
            f"{needed} scope",
            field="Authorization",
        )


def refusal(exc: Problem) -> dict[str, Any]:
    """A 401/403/429 answer before any routing or validation (a stranger learns nothing)."""
    response = from_problem(exc)
    headers = {"Content-Type": "application/problem+json", **(response.headers or {})}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="booksync"'
    return {"statusCode": response.status_code, "headers": headers, "body": response.body}


def unauthorized(exc: Unauthorized) -> dict[str, Any]:
    """The 401 answer, before any routing or validation (a stranger learns nothing)."""
    return refusal(exc)
