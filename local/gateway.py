"""The template's HTTP API on a local port: each request becomes an API Gateway v2
(payload 2.0) event for the real handler, and its answer becomes the HTTP response.

Also serves the runner's own `/_local/...` routes (never part of the real API).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.lambdas import FunctionPool, InvokeError

TEXT_TYPES = ("json", "text", "xml", "javascript", "x-www-form-urlencoded", "html")


@dataclass
class Route:
    method: str  # "ANY" or an HTTP method
    path: str  # template path, e.g. /oauth/{provider}/connect or /v1/{proxy+}
    function: FunctionPool
    regex: re.Pattern[str]

    @classmethod
    def make(cls, method: str, path: str, function: FunctionPool) -> Route:
        pattern = ""
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{") and part.endswith("+}"):
                pattern += f"(?P<{part[1:-2]}>.+)"
            elif part.startswith("{"):
                pattern += f"(?P<{part[1:-1]}>[^/]+)"
            else:
                pattern += re.escape(part)
        return cls(method.upper(), path, function, re.compile(f"^{pattern}$"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        m = self.regex.match(path)
        return None if m is None else {k.replace("+", ""): v for k, v in m.groupdict().items()}

    @property
    def specificity(self) -> tuple[int, int]:
        # API Gateway prefers the most specific route: fewer greedy/params, longer literals
        return (("+}" in self.path), -len(re.sub(r"\{[^}]+\}", "", self.path)))


LocalHandler = Callable[[str, str, bytes], tuple[int, dict[str, Any]]]


def api_event(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    route: Route,
    params: dict[str, str],
    source_ip: str,
) -> dict[str, Any]:
    ctype = headers.get("content-type", "")
    is_text = not body or any(t in ctype for t in TEXT_TYPES)
    now = datetime.now(UTC)
    qs: dict[str, list[str]] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        qs.setdefault(k, []).append(v)
    cookies = [c.strip() for c in headers.get("cookie", "").split(";") if c.strip()]
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}"
        if route.method != "ANY"
        else f"ANY {route.path}",
        "rawPath": raw_path,
        "rawQueryString": query,
        # API Gateway adds the forwarding headers; here the scheme is plain http
        "headers": {
            **{k: v for k, v in headers.items() if k != "cookie"},
            "x-forwarded-for": source_ip,
            "x-forwarded-proto": "http",
            "x-forwarded-port": headers.get("host", "").rpartition(":")[2] or "80",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": not is_text,
    }
    if cookies:
        event["cookies"] = cookies
    if qs:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in qs.items()}
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = (
            body.decode("utf-8", errors="replace") if is_text else base64.b64encode(body).decode()
        )
    return event


class Gateway:
    def __init__(
        self, routes: list[Route], local_routes: dict[str, LocalHandler], port: int = 0
    ) -> None:
        self.routes = sorted(routes, key=lambda r: r.specificity)
        self.local_routes = local_routes
        self.requests_served = 0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                try:
                    gateway._handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    # the caller stopped waiting (a webhook sender's timeout, say) before
                    # the function answered; the function's work stands, the answer is lost
                    print(
                        f"[gateway] {self.command} {self.path}: caller hung up before the answer",
                        flush=True,
                    )
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("content-length") or 0)
        body = h.rfile.read(length) if length else b""
        method = h.command
        self.requests_served += 1
        if split.path.startswith("/_local/"):
            status, payload = self._local(method, split.path, body)
            return _write(
                h, status, {"content-type": "application/json"}, json.dumps(payload).encode()
            )
        headers = {k.lower(): v for k, v in h.headers.items()}
        for route in self.routes:
            params = route.match(method, split.path)
            if params is None:
                continue
            event = api_event(
                method, split.path, split.query, headers, body, route, params, h.client_address[0]
            )
            try:
                result = route.function.invoke(event)
            except InvokeError as exc:
                # API Gateway hides the function's error behind a plain 500
                print(f"[gateway] {method} {split.path}: {exc}", flush=True)
                return _write(
                    h,
                    500,
                    {"content-type": "application/json"},
                    b'{"message":"Internal Server Error"}',
                )
            return _write_lambda_result(h, result)
        return _write(h, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')

    def _local(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        for pattern, fn in self.local_routes.items():
            m = re.fullmatch(pattern, f"{method} {path}")
            if m:
                return fn(method, m.group("arg") if "arg" in m.groupdict() else "", body)
        return 404, {"error": f"no local route {method} {path}"}


def _write(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
    h.send_response(status)
    for k, v in headers.items():
        h.send_header(k, v)
    h.send_header("content-length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def _write_lambda_result(h: BaseHTTPRequestHandler, result: Any) -> None:
    # Payload 2.0: a dict with statusCode is taken as-is; anything else is a 200 JSON body.
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode() if not isinstance(result, str) else result.encode()
        return _write(h, 200, {"content-type": "application/json"}, body)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for k, values in (result.get("multiValueHeaders") or {}).items():
        headers[k] = ", ".join(map(str, values))
    h.send_response(int(result["statusCode"]))
    for k, v in headers.items():
        if k.lower() != "content-length":
            h.send_header(k, v)
    for cookie in result.get("cookies") or []:
        h.send_header("set-cookie", cookie)
    h.send_header("content-length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)
