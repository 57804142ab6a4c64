"""HTTP primitives shared by every simulator: the parsed request, the response, the router.

Providers write handlers as `handler(req: Request) -> Response` and never touch sockets; the
server in `core/server.py` turns bytes into a `Request` and a `Response` back into bytes.
"""

from __future__ import annotations

import base64
import json as _json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


class BadRequest(Exception):
    """A request the simulator cannot parse (bad JSON, bad form); the core answers 400."""


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping (HTTP header names ignore case)."""

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | None = None) -> None:
        pairs = items.items() if isinstance(items, Mapping) else (items or [])
        self._data: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._data:  # repeated header: join as RFC 9110 allows
                value = f"{self._data[key][1]}, {value}"
            self._data[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._data[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._data.values())

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._data

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class Request:
    """One parsed HTTP request; `body` is kept raw so webhook/HMAC checks see the exact bytes."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    path_params: dict[str, str] = field(default_factory=dict)
    host: str = ""
    client_addr: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of query parameter `name` (exact case), or `default`."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body as JSON; `BadRequest` when it is empty or not JSON."""
        try:
            return _json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from exc

    def form(self) -> dict[str, str]:
        """An `application/x-www-form-urlencoded` body (OAuth token endpoints): first values."""
        try:
            parsed = parse_qs(
                self.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except UnicodeDecodeError as exc:
            raise BadRequest("form body is not UTF-8") from exc
        return {key: values[0] for key, values in parsed.items()}

    def bearer(self) -> str | None:
        """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def basic_auth(self) -> tuple[str, str] | None:
        """`(client_id, secret)` from an `Authorization: Basic` header, or None."""
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user, password) if sep else None


@dataclass
class Response:
    """What a handler answers; the server adds Content-Length."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
        body = _json.dumps(obj, separators=(",", ":"), default=str).encode("utf-8")
        merged = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, body, merged)

    @classmethod
    def text(
        cls,
        status: int,
        text: str,
        ctype: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": ctype, **(headers or {})})

    @classmethod
    def redirect(cls, url: str, status: int = 302) -> Response:
        return cls(status, b"", {"Location": url})

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", dict(headers or {}))

    def json_body(self) -> Any:
        """Decode the body as JSON (handy in tests and in `on_response` hooks)."""
        return _json.loads(self.body.decode("utf-8"))


Handler = Callable[[Request], Response]

_PARAM = re.compile(r"\{(\w+)(?::(path))?\}")


@dataclass
class Route:
    """One registered route; `pattern` doubles as the endpoint name in the call log."""

    method: str
    pattern: str
    handler: Handler
    auth: bool
    limited: bool
    regex: re.Pattern[str]
    literal_segments: int


class Router:
    """Maps `METHOD /path` to a handler.

    `{name}` matches one segment, `{name:path}` the rest of the path. When several routes
    match, the one with most literal segments wins (so `/Invoices/Summary` beats
    `/Invoices/{id}` whatever the registration order), then the first registered.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        pattern: str,
        handler: Handler,
        auth: bool = False,
        limited: bool = True,
        ci: bool = False,
    ) -> Route:
        parts: list[str] = []
        pos = 0
        for m in _PARAM.finditer(pattern):
            parts.append(re.escape(pattern[pos : m.start()]))
            parts.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
            pos = m.end()
        parts.append(re.escape(pattern[pos:]))
        regex = re.compile("^" + "".join(parts) + "$", re.IGNORECASE if ci else 0)
        literals = sum(1 for seg in pattern.split("/") if seg and "{" not in seg)
        route = Route(method.upper(), pattern, handler, auth, limited, regex, literals)
        self.routes.append(route)
        return route

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The best route for `method path` and its decoded path parameters, or None."""
        best: tuple[Route, dict[str, str]] | None = None
        for route in self.routes:
            if route.method != method.upper():
                continue
            m = route.regex.match(path)
            if m and (best is None or route.literal_segments > best[0].literal_segments):
                best = (route, m.groupdict())
        return best

    def allows_path(self, path: str) -> bool:
        """True if some route (any method) matches `path`: lets a provider answer 405."""
        return any(route.regex.match(path) for route in self.routes)
