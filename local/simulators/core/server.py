"""The threaded HTTP server and the request pipeline every simulator shares.

Pipeline for an API call: fault rules, then the bearer check (routes with `auth=True`),
then rate limits (routes with `limited=True`), then the provider's meter, then the handler,
then the company's latency (if its `latency` mode is on), then `on_response`; every call
lands in the call log. `/_sim/...` control calls skip faults, limits and the log.
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .control import register_control
from .faults import FaultRule
from .http import BadRequest, Headers, Request, Response, Route, Router
from .oauth import Grant
from .provider import Provider
from .ratelimit import Decision

CONTROL_PREFIX = "/_sim/"


class Pipeline:
    """Turns a `Request` into a `Response`, or None when the connection must be cut."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.router = Router()
        register_control(self.router, provider)
        provider.register_routes(self.router)

    def handle(self, req: Request) -> Response | None:
        if req.path.startswith(CONTROL_PREFIX):
            return self._control(req)
        p = self.provider
        rule = p.faults.match(req.method, req.path)
        fault = rule.action if rule else None
        matched = self.router.match(req.method, req.path)
        decision: Decision | None = None
        try:
            resp, decision = self._respond(req, matched, rule)
            p.on_response(req, resp)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            resp = _crash_response(p, req)
        finally:
            if decision is not None:
                p.limits.release(decision)
        drop = fault == "drop_after_commit"
        grant = req.state.get("grant")
        p.calls.record(
            req.method,
            req.path,
            matched[0].pattern if matched else "(unmatched)",
            None if drop else resp.status,
            p.company_for(req, grant),
            fault,
            decision.hit if decision else None,
            client=grant.client_id if grant is not None else None,
            category=req.state.get("category"),
            latency_ms=req.state.get("latency_ms"),
        )
        return None if drop else resp

    def _respond(
        self, req: Request, matched: tuple[Route, dict[str, str]] | None, rule: FaultRule | None
    ) -> tuple[Response, Decision | None]:
        p = self.provider
        action = rule.action if rule else None
        if rule is not None and action == "error":
            status = rule.status or 500
            if rule.body is not None:
                return _rule_body(status, rule.body), None
            return p.server_error(req, status), None
        if rule is not None and action == "throttle":
            retry = max(1, int(rule.seconds or 1))
            return p.throttled(req, Decision(False, "fault", retry)), None
        if action == "revoke_token":
            token = req.bearer()
            if token:
                p.oauth.revoke(token)
            answer = p.authenticate(req)
            return (answer if isinstance(answer, Response) else Response.json(401, {})), None
        if matched is None:
            return p.not_found(req), None
        route, req.path_params = matched
        slow = (rule.seconds or 0.0) if rule is not None and action == "slow" else 0.0
        return self._run(req, route, slow)

    def _run(self, req: Request, route: Route, slow: float) -> tuple[Response, Decision | None]:
        p = self.provider
        grant: Grant | None = None
        if route.auth:
            answer = p.authenticate(req)
            if isinstance(answer, Response):
                return answer, None
            grant = answer
            req.state["grant"] = grant
        decision: Decision | None = None
        if route.limited:
            decision = p.limits.acquire(p.limit_keys(req, grant))
            req.state["limits"] = decision
            if not decision.allowed:
                return p.throttled(req, decision), decision
        if route.auth:
            refused = p.meter(req, grant)
            if refused is not None:
                return refused, decision
        if slow:
            time.sleep(slow)  # inside the concurrency slot, like a slow real server
        try:
            resp = route.handler(req)
        except BadRequest as exc:
            resp = p.bad_request(req, str(exc))
        except Exception:
            traceback.print_exc(file=sys.stderr)
            resp = _crash_response(p, req)
        if route.auth:
            self._latency(req, grant)
        return resp, decision

    def _latency(self, req: Request, grant: Grant | None) -> None:
        """The company's `latency` mode: sleep the fixed part plus the per-object part (batch
        writes put their object count in `req.state["objects"]`). Handlers have released the
        provider lock by now and the concurrency slot is still held, so concurrent calls
        overlap and count against the in-flight limit as they would on the real service."""
        p = self.provider
        company = p.company_for(req, grant)
        if p.mode(company, "latency") != "on":
            return
        objects = int(req.state.get("objects") or 0)
        ms = float(p.mode(company, "latency_fixed_ms")) + objects * float(
            p.mode(company, "latency_per_object_ms")
        )
        req.state["latency_ms"] = ms
        if ms > 0:
            time.sleep(ms / 1000.0)

    def _control(self, req: Request) -> Response:
        matched = self.router.match(req.method, req.path)
        if matched is None:
            return Response.json(404, {"error": "not_found", "path": req.path})
        route, req.path_params = matched
        try:
            return route.handler(req)
        except BadRequest as exc:
            return Response.json(400, {"error": "bad_request", "message": str(exc)})
        except (KeyError, LookupError) as exc:
            return Response.json(404, {"error": "not_found", "message": str(exc)})
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": "bad_request", "message": str(exc)})
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            return Response.json(500, {"error": "server_error", "message": repr(exc)})


def _crash_response(p: Provider, req: Request) -> Response:
    """The provider's 500; a neutral one if even `server_error` fails."""
    try:
        return p.server_error(req, 500)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return Response.json(500, {"error": "server_error"})


def _rule_body(status: int, body: Any) -> Response:
    if isinstance(body, str):
        return Response.text(status, body)
    return Response.json(status, body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    disable_nagle_algorithm = True  # headers and body leave without a 40 ms delayed-ACK stall
    server: _Server

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self._write(Response.json(400, {"error": "bad_request", "message": str(exc)}))
            return
        parts = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=Headers(list(self.headers.items())),
            body=body,
            host=self.headers.get("Host", ""),
            client_addr=self.client_address[0],
        )
        resp = self.server.pipeline.handle(req)
        if resp is None:  # drop_after_commit: the work is done, the reply never leaves
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(resp)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _write(self, resp: Response) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header on the provider's clock (an advanced clock shows in it, as a
        client comparing it with the objects' stamps would see at the real service)."""
        if timestamp is None:
            timestamp = self.server.pipeline.provider.clock.timestamp()
        return email.utils.formatdate(timestamp, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the call log records every call; stderr is kept for tracebacks."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Cut idle keep-alive connections so their threads end with the server."""
        with self._open_lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class SimServer:
    """A running simulator: `.url`, `.port`, `.provider`, `.stop()`; also a context manager."""

    def __init__(self, provider: Provider, port: int = 0, host: str = "127.0.0.1") -> None:
        self.provider = provider
        self.pipeline = Pipeline(provider)
        self._server = _Server((host, port), self.pipeline)
        self.host = host
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # so stop() returns promptly
            name=f"sim-{provider.name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        self.provider.webhooks.stop()
        self._thread.join(timeout=5)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SimServer({self.provider.name} at {self.url})"


def serve(provider: Provider, port: int = 0, host: str = "127.0.0.1") -> SimServer:
    """Start `provider` on `host:port` (0: a free port) in a background thread."""
    return SimServer(provider, port, host)
