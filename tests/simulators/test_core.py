"""The simulator core, exercised through a tiny fake provider over real HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from local.simulators.core import (
    Clock,
    Decision,
    Grant,
    LimitCheck,
    OAuthError,
    OAuthServer,
    Provider,
    Request,
    Response,
    Router,
    SimServer,
    TokenSet,
    pkce_challenge,
    serve,
)

DEV_ID, DEV_SECRET = "booksync-dev", "booksync-dev-secret"
REDIRECT = "http://127.0.0.1:9999/callback"


class FakeProvider(Provider):
    """Just enough provider to drive every core path: items per company, a token endpoint,
    a crashing route, a blocking route, and limits switched on per test."""

    name = "fake"
    oauth_settings = {"access_ttl": 1800, "refresh_ttl": 86400, "grace_seconds": 0}
    webhook_retry_delays = [1.0, 1.0, 1.0]

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.items: dict[str, list[dict[str, Any]]] = {}
        self.window_limit: int | None = None
        self.slot_limit: int | None = None
        self.release_block = threading.Event()
        self.blocked = threading.Semaphore(0)

    def register_routes(self, router: Router) -> None:
        router.add("POST", "/oauth/token", self.token, limited=False)
        router.add("GET", "/items", self.get_items, auth=True)
        router.add("POST", "/items", self.post_item, auth=True)
        router.add("GET", "/Items/Summary", lambda req: Response.json(200, {"summary": True}))
        router.add("GET", "/Items/{id}", lambda req: Response.json(200, req.path_params))
        router.add("GET", "/echo", self.echo, ci=True)
        router.add("POST", "/echo", self.echo)
        router.add("GET", "/boom", self.boom)
        router.add("GET", "/block", self.block)

    def token(self, req: Request) -> Response:
        form = req.form()
        client = req.basic_auth() or ("", "")
        if not self.oauth.check_client(*client):
            return Response.json(401, {"error": "invalid_client"})
        if form.get("grant_type") == "refresh_token":
            result = self.oauth.refresh(client[0], form.get("refresh_token", ""))
        else:
            result = self.oauth.exchange_code(
                client[0],
                form.get("code", ""),
                form.get("redirect_uri", ""),
                form.get("code_verifier"),
            )
        if isinstance(result, OAuthError):
            return Response.json(result.status, {"error": result.error})
        return Response.json(
            200, {"access_token": result.access_token, "refresh_token": result.refresh_token}
        )

    def get_items(self, req: Request) -> Response:
        company = req.state["grant"].companies[0]
        with self.lock:
            return Response.json(200, {"items": list(self.items.get(company, []))})

    def post_item(self, req: Request) -> Response:
        company = req.state["grant"].companies[0]
        with self.lock:
            item = {"id": str(sum(map(len, self.items.values())) + 1), **req.json()}
            self.items.setdefault(company, []).append(item)
        return Response.json(201, item)

    def echo(self, req: Request) -> Response:
        return Response(200, req.body, {"X-Path": req.path, "X-Arg": req.arg("q") or ""})

    def boom(self, req: Request) -> Response:
        raise RuntimeError("handler exploded")

    def block(self, req: Request) -> Response:
        self.blocked.release()
        self.release_block.wait(10)
        return Response.json(200, {"done": True})

    # hooks
    def authenticate(self, req: Request) -> Grant | Response:
        grant = self.oauth.check_access(req.bearer())
        if grant is None:
            return Response.json(401, {"fake": "unauthorized"})
        return grant

    def limit_keys(self, req: Request, grant: Grant | None) -> list[LimitCheck]:
        checks = []
        if self.window_limit is not None:
            checks.append(LimitCheck.sliding("minute", "app", self.window_limit, 60))
        if self.slot_limit is not None:
            checks.append(LimitCheck.concurrent("concurrent", "app", self.slot_limit))
        return checks

    def throttled(self, req: Request, decision: Decision) -> Response:
        return Response.json(
            429,
            {"fake": "slow down", "limit": decision.hit},
            {"Retry-After": str(decision.retry_after)},
        )

    def server_error(self, req: Request, status: int) -> Response:
        return Response.json(status, {"fake": "server error"})

    def on_response(self, req: Request, resp: Response) -> None:
        decision = req.state.get("limits")
        if decision is not None and "minute" in decision.remaining:
            resp.headers["X-MinLimit-Remaining"] = str(decision.remaining["minute"])

    # state
    def seed_company(self, name: str, seed: str = "sandbox") -> dict[str, Any]:
        cid = f"c{len(self.items) + 1}"
        self.items[cid] = [{"id": "seed", "name": "Sample"}] if seed == "sandbox" else []
        return {"id": cid, "name": name}

    def companies(self) -> list[dict[str, Any]]:
        return [{"id": cid, "name": cid} for cid in self.items]

    def list_objects(self, company_id: str, kind: str) -> list[dict[str, Any]]:
        if kind != "item":
            raise KeyError(kind)
        return list(self.items[company_id])

    def ui_change(
        self,
        company_id: str,
        kind: str,
        action: str,
        object_id: str | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        item = {"id": f"ui{len(self.items[company_id]) + 1}", **fields}
        self.items[company_id].append(item)
        return item

    def dump_state(self) -> dict[str, Any]:
        return {"items": self.items}

    def load_state(self, state: dict[str, Any]) -> None:
        self.items = json.loads(json.dumps(state.get("items", {})))

    def reset(self) -> None:
        self.items = {}


@pytest.fixture
def sim() -> Iterator[SimServer]:
    handle = serve(FakeProvider())
    yield handle
    handle.provider.release_block.set()  # type: ignore[attr-defined]
    handle.stop()


def bearer(sim: SimServer, company: str = "c1") -> dict[str, str]:
    tokens = sim.provider.oauth.issue_direct([company])
    return {"Authorization": f"Bearer {tokens.access_token}"}


def add_fault(sim: SimServer, **rule: Any) -> dict[str, Any]:
    reply = requests.post(f"{sim.url}/_sim/faults", json=rule, timeout=5)
    assert reply.status_code == 201, reply.text
    return reply.json()


# -- HTTP and routing ------------------------------------------------------------------------


def test_keep_alive_connection_serves_several_requests_and_keeps_raw_body(sim: SimServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    raw = b'{"b": 1,  "a": 2}'
    for _ in range(3):
        conn.request("POST", "/echo?q=x", body=raw, headers={"Content-Type": "application/json"})
        reply = conn.getresponse()
        assert reply.status == 200
        assert reply.read() == raw
        assert reply.getheader("X-Arg") == "x"
    conn.close()


def test_chunked_request_body_reaches_the_handler_whole(sim: SimServer) -> None:
    def parts() -> Iterator[bytes]:
        yield b"hello "
        yield b"chunked"

    with requests.Session() as session:  # twice on one connection: the chunk trailer is read
        replies = [session.post(f"{sim.url}/echo", data=parts(), timeout=5) for _ in range(2)]
    assert [r.content for r in replies] == [b"hello chunked"] * 2


def test_literal_route_wins_over_parameter_and_ci_route_ignores_case(sim: SimServer) -> None:
    assert requests.get(f"{sim.url}/Items/Summary", timeout=5).json() == {"summary": True}
    assert requests.get(f"{sim.url}/Items/42", timeout=5).json() == {"id": "42"}
    assert requests.get(f"{sim.url}/ECHO", timeout=5).headers["X-Path"] == "/ECHO"
    assert requests.post(f"{sim.url}/ECHO", timeout=5).status_code == 404  # POST is not ci


def test_unknown_path_is_a_neutral_json_404(sim: SimServer) -> None:
    reply = requests.get(f"{sim.url}/nowhere", timeout=5)
    assert reply.status_code == 404
    assert reply.json() == {"error": "not_found", "path": "/nowhere"}


def test_handler_exception_answers_provider_500_and_prints_traceback(
    sim: SimServer, capfd: pytest.CaptureFixture[str]
) -> None:
    reply = requests.get(f"{sim.url}/boom", timeout=5)
    assert reply.status_code == 500
    assert reply.json() == {"fake": "server error"}
    assert "RuntimeError: handler exploded" in capfd.readouterr().err


def test_bad_json_body_answers_400(sim: SimServer) -> None:
    reply = requests.post(f"{sim.url}/items", data=b"{nope", headers=bearer(sim), timeout=5)
    assert reply.status_code == 400


# -- OAuth -------------------------------------------------------------------------------------


def make_oauth(**settings: Any) -> tuple[OAuthServer, Clock]:
    clock = Clock()
    return OAuthServer(clock, **settings), clock


def consent(oauth: OAuthServer, **kw: Any) -> TokenSet:
    code = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "accounting", **kw)
    tokens = oauth.exchange_code(DEV_ID, code, REDIRECT)
    assert isinstance(tokens, TokenSet)
    return tokens


def test_code_is_single_use_and_reuse_revokes_the_grant() -> None:
    oauth, _ = make_oauth()
    code = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "accounting")
    tokens = oauth.exchange_code(DEV_ID, code, REDIRECT)
    assert isinstance(tokens, TokenSet)
    again = oauth.exchange_code(DEV_ID, code, REDIRECT)
    assert isinstance(again, OAuthError)
    assert again.error == "invalid_grant"
    assert oauth.check_access(tokens.access_token) is None


def test_code_expires_after_ten_minutes() -> None:
    oauth, clock = make_oauth()
    code = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "accounting")
    clock.advance(601)
    result = oauth.exchange_code(DEV_ID, code, REDIRECT)
    assert isinstance(result, OAuthError)
    assert result.error == "invalid_grant"


def test_code_exchange_checks_redirect_uri_and_client() -> None:
    oauth, _ = make_oauth()
    code = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "accounting")
    assert isinstance(oauth.exchange_code(DEV_ID, code, REDIRECT + "x"), OAuthError)
    code = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "accounting")
    assert isinstance(oauth.exchange_code("other-app", code, REDIRECT), OAuthError)


@pytest.mark.parametrize("method", ["S256", "plain"])
def test_pkce_accepts_the_right_verifier_only(method: str) -> None:
    oauth, _ = make_oauth()
    verifier = "v" * 50
    challenge = pkce_challenge(verifier, method)
    good = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "s", code_challenge=challenge, method=method)
    bad = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "s", code_challenge=challenge, method=method)
    missing = oauth.issue_code(DEV_ID, REDIRECT, ["c1"], "s", challenge, method)
    assert isinstance(oauth.exchange_code(DEV_ID, good, REDIRECT, verifier), TokenSet)
    assert isinstance(oauth.exchange_code(DEV_ID, bad, REDIRECT, "w" * 50), OAuthError)
    assert isinstance(oauth.exchange_code(DEV_ID, missing, REDIRECT), OAuthError)


def test_s256_challenge_matches_rfc7636_example() -> None:
    # RFC 7636 appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_dev_client_accepts_loopback_redirects_only() -> None:
    oauth, _ = make_oauth()
    assert oauth.allows_redirect(DEV_ID, "http://localhost:3000/cb")
    assert oauth.allows_redirect(DEV_ID, "http://127.0.0.1/cb")
    assert not oauth.allows_redirect(DEV_ID, "https://evil.example/cb")
    oauth.register_client("prod-app", "s3cret", ["https://app.example/cb"])
    assert oauth.allows_redirect("prod-app", "https://app.example/cb")
    assert not oauth.allows_redirect("prod-app", "http://localhost/cb")
    assert oauth.check_client("prod-app", "s3cret")
    assert not oauth.check_client("prod-app", "x")


def test_refresh_rotates_and_old_refresh_token_fails_without_grace() -> None:
    oauth, _ = make_oauth(grace_seconds=0)
    first = consent(oauth)
    second = oauth.refresh(DEV_ID, first.refresh_token)
    assert isinstance(second, TokenSet)
    assert second.refresh_token != first.refresh_token
    assert oauth.check_access(second.access_token) is not None
    reuse = oauth.refresh(DEV_ID, first.refresh_token)
    assert isinstance(reuse, OAuthError)
    assert reuse.error == "invalid_grant"


def test_superseded_refresh_token_replays_same_pair_during_grace_then_fails() -> None:
    oauth, clock = make_oauth(grace_seconds=1800)
    first = consent(oauth)
    second = oauth.refresh(DEV_ID, first.refresh_token)
    clock.advance(1700)
    replay = oauth.refresh(DEV_ID, first.refresh_token)
    assert isinstance(second, TokenSet)
    assert isinstance(replay, TokenSet)
    assert (replay.access_token, replay.refresh_token) == (
        second.access_token,
        second.refresh_token,
    )
    clock.advance(200)
    late = oauth.refresh(DEV_ID, first.refresh_token)
    assert isinstance(late, OAuthError)
    assert late.error == "invalid_grant"


@pytest.mark.parametrize("grace", [0, 1800])
def test_twenty_concurrent_refreshes_rotate_once(grace: int) -> None:
    oauth, _ = make_oauth(grace_seconds=grace)
    rt = consent(oauth).refresh_token
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: oauth.refresh(DEV_ID, rt), range(20)))
    pairs = {(r.access_token, r.refresh_token) for r in results if isinstance(r, TokenSet)}
    errors = [r for r in results if isinstance(r, OAuthError)]
    assert len(pairs) == 1
    assert len(errors) == (19 if grace == 0 else 0)
    assert all(e.error == "invalid_grant" for e in errors)


def test_refresh_token_idle_lifetime_rolls_with_each_use() -> None:
    oauth, clock = make_oauth(refresh_ttl=100)
    tokens = consent(oauth)
    for _ in range(3):
        clock.advance(90)
        nxt = oauth.refresh(DEV_ID, tokens.refresh_token)
        assert isinstance(nxt, TokenSet)  # 270 s after consent, still alive: it rolls
        tokens = nxt
    clock.advance(101)
    idle = oauth.refresh(DEV_ID, tokens.refresh_token)
    assert isinstance(idle, OAuthError)
    assert idle.description == "refresh token expired"


def test_refresh_token_hard_lifetime_ends_even_a_busy_grant() -> None:
    oauth, clock = make_oauth(refresh_ttl=100, refresh_hard_ttl=250)
    tokens = consent(oauth)
    for _ in range(2):
        clock.advance(90)
        nxt = oauth.refresh(DEV_ID, tokens.refresh_token)
        assert isinstance(nxt, TokenSet)
        tokens = nxt
    clock.advance(90)  # 270 s after consent: past the hard cap though used 90 s ago
    hard = oauth.refresh(DEV_ID, tokens.refresh_token)
    assert isinstance(hard, OAuthError)
    assert hard.error == "invalid_grant"
    assert "maximum lifetime" in hard.description


def test_revoke_by_token_kills_whole_grant_and_by_company_only_that_company() -> None:
    oauth, _ = make_oauth()
    tokens = consent(oauth)
    assert oauth.revoke(tokens.refresh_token)
    assert oauth.check_access(tokens.access_token) is None
    assert isinstance(oauth.refresh(DEV_ID, tokens.refresh_token), OAuthError)
    both = oauth.issue_direct(["c1", "c2"])
    assert oauth.revoke_company("c1") == 1
    grant = oauth.check_access(both.access_token)
    assert grant is not None
    assert grant.companies == ["c2"]
    oauth.revoke_company("c2")
    assert oauth.check_access(both.access_token) is None


def test_clock_advance_expires_access_token_over_http(sim: SimServer) -> None:
    headers = bearer(sim)
    assert requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code == 200
    requests.post(f"{sim.url}/_sim/clock/advance", json={"seconds": 1801}, timeout=5)
    reply = requests.get(f"{sim.url}/items", headers=headers, timeout=5)
    assert reply.status_code == 401
    assert reply.json() == {"fake": "unauthorized"}


def test_lost_refresh_reply_is_recovered_with_old_token_during_grace(sim: SimServer) -> None:
    sim.provider.oauth.configure(grace_seconds=1800)
    rt = sim.provider.oauth.issue_direct(["c1"]).refresh_token
    add_fault(sim, action="drop_after_commit", path="^/oauth/token$", count=1)
    form = {"grant_type": "refresh_token", "refresh_token": rt}
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sim.url}/oauth/token", data=form, auth=(DEV_ID, DEV_SECRET), timeout=5)
    retry = requests.post(f"{sim.url}/oauth/token", data=form, auth=(DEV_ID, DEV_SECRET), timeout=5)
    assert retry.status_code == 200
    new_at = retry.json()["access_token"]
    items = requests.get(
        f"{sim.url}/items", headers={"Authorization": f"Bearer {new_at}"}, timeout=5
    )
    assert items.status_code == 200


# -- faults ------------------------------------------------------------------------------------


def test_error_fault_answers_provider_error_with_given_status_count_times(sim: SimServer) -> None:
    add_fault(sim, action="error", method="GET", path="^/items$", status=503, count=2)
    headers = bearer(sim)
    statuses = [
        requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    rules = requests.get(f"{sim.url}/_sim/faults", timeout=5).json()["faults"]
    assert rules[0]["fired"] == 2


def test_error_fault_with_body_answers_it_verbatim(sim: SimServer) -> None:
    add_fault(sim, action="error", path="/items", status=400, body={"custom": 1})
    reply = requests.get(f"{sim.url}/items", headers=bearer(sim), timeout=5)
    assert (reply.status_code, reply.json()) == (400, {"custom": 1})


def test_throttle_fault_answers_provider_429_with_retry_after(sim: SimServer) -> None:
    add_fault(sim, action="throttle", path="/items", seconds=7)
    reply = requests.get(f"{sim.url}/items", headers=bearer(sim), timeout=5)
    assert reply.status_code == 429
    assert reply.headers["Retry-After"] == "7"
    assert reply.json()["fake"] == "slow down"


def test_fault_with_zero_probability_never_fires(sim: SimServer) -> None:
    add_fault(sim, action="error", path="/items", probability=0.0)
    headers = bearer(sim)
    assert all(
        requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code == 200
        for _ in range(5)
    )


def test_drop_after_commit_commits_the_write_but_sends_no_reply(sim: SimServer) -> None:
    headers = bearer(sim)
    add_fault(sim, action="drop_after_commit", method="POST", path="^/items$", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sim.url}/items", json={"name": "lost reply"}, headers=headers, timeout=5)
    items = requests.get(f"{sim.url}/items", headers=headers, timeout=5).json()["items"]
    assert [i["name"] for i in items] == ["lost reply"]
    calls = requests.get(f"{sim.url}/_sim/calls", timeout=5).json()["calls"]
    assert calls[0]["fault"] == "drop_after_commit"
    assert calls[0]["status"] is None


def test_revoke_token_fault_answers_401_and_token_stays_revoked(sim: SimServer) -> None:
    headers = bearer(sim)
    add_fault(sim, action="revoke_token", path="/items", count=1)
    first = requests.get(f"{sim.url}/items", headers=headers, timeout=5)
    second = requests.get(f"{sim.url}/items", headers=headers, timeout=5)
    assert first.status_code == 401
    assert first.json() == {"fake": "unauthorized"}
    assert second.status_code == 401


def test_slow_fault_holds_a_concurrency_slot(sim: SimServer) -> None:
    sim.provider.slot_limit = 1  # type: ignore[attr-defined]
    add_fault(sim, action="slow", path="^/Items/slow$", seconds=1.5, count=1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(requests.get, f"{sim.url}/Items/slow", timeout=10)
        # The slow call is asleep inside its slot until it answers; poll for the 429.
        seen = set()
        while not slow.done():
            seen.add(requests.get(f"{sim.url}/echo", timeout=5).status_code)
            time.sleep(0.02)
        assert slow.result().status_code == 200
    assert 429 in seen


def test_unknown_fault_action_is_rejected(sim: SimServer) -> None:
    reply = requests.post(f"{sim.url}/_sim/faults", json={"action": "explode"}, timeout=5)
    assert reply.status_code == 400


# -- rate limits -------------------------------------------------------------------------------


def test_sliding_window_throttles_with_retry_after_and_frees_after_window(sim: SimServer) -> None:
    sim.provider.window_limit = 3  # type: ignore[attr-defined]
    headers = bearer(sim)
    replies = [requests.get(f"{sim.url}/items", headers=headers, timeout=5) for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [r.headers.get("X-MinLimit-Remaining") for r in replies[:3]] == ["2", "1", "0"]
    assert replies[3].json()["limit"] == "minute"
    assert 1 <= int(replies[3].headers["Retry-After"]) <= 60
    requests.post(f"{sim.url}/_sim/clock/advance", json={"seconds": 61}, timeout=5)
    assert requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code == 200


def test_disabled_rate_limits_never_throttle(sim: SimServer) -> None:
    sim.provider.window_limit = 1  # type: ignore[attr-defined]
    requests.put(f"{sim.url}/_sim/ratelimits", json={"enabled": False}, timeout=5)
    headers = bearer(sim)
    assert {
        requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code for _ in range(3)
    } == {200}


def test_concurrency_slot_is_held_while_running_and_released_after(sim: SimServer) -> None:
    provider: Any = sim.provider
    provider.slot_limit = 1
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(requests.get, f"{sim.url}/block", timeout=10)
        assert provider.blocked.acquire(timeout=5)
        busy = requests.get(f"{sim.url}/echo", timeout=5)
        provider.release_block.set()
        assert running.result().status_code == 200
    assert busy.status_code == 429
    assert busy.json()["limit"] == "concurrent"
    assert requests.get(f"{sim.url}/echo", timeout=5).status_code == 200


def test_limiter_reports_remaining_per_limit_and_denied_call_counts_nowhere() -> None:
    from local.simulators.core import RateLimiter

    limiter = RateLimiter(Clock())
    checks = [LimitCheck.sliding("minute", "t", 2, 60), LimitCheck.sliding("day", "t", 10, 86400)]
    assert limiter.acquire(checks).remaining == {"minute": 1, "day": 9}
    assert limiter.acquire(checks).remaining == {"minute": 0, "day": 8}
    denied = limiter.acquire(checks)
    assert not denied.allowed
    assert denied.hit == "minute"
    assert denied.remaining == {"minute": 0, "day": 8}
    assert limiter.acquire([checks[1]]).remaining == {"day": 7}


# -- webhooks ----------------------------------------------------------------------------------


class Receiver:
    """A local webhook receiver answering a scripted list of statuses (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[tuple[bytes, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append((body, self.headers.get("X-Signature")))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_retries_failures_on_schedule_until_delivered(sim: SimServer) -> None:
    receiver = Receiver([500, 503])
    try:
        requests.put(
            f"{sim.url}/_sim/webhooks",
            json={"url": receiver.url, "key": "k", "retry_scale": 0.01},
            timeout=5,
        )
        sim.provider.webhooks.deliver(b'{"event":1}', {"X-Signature": "sig"})
        assert sim.provider.webhooks.flush(10)
    finally:
        receiver.stop()
    log = requests.get(f"{sim.url}/_sim/webhooks", timeout=5).json()["deliveries"]
    assert [(e["attempt"], e["status"], e["outcome"]) for e in log] == [
        (1, 500, "retry"),
        (2, 503, "retry"),
        (3, 200, "delivered"),
    ]
    assert receiver.bodies == [(b'{"event":1}', "sig")] * 3


def test_webhook_gives_up_after_schedule_and_logs_connection_errors(sim: SimServer) -> None:
    receiver = Receiver([])
    dead_url = receiver.url
    receiver.stop()  # nothing listens there any more
    sim.provider.webhooks.configure(dead_url, "k", retry_scale=0.01)
    sim.provider.webhooks.deliver(b"{}", {})
    assert sim.provider.webhooks.flush(10)
    log = sim.provider.webhooks.deliveries()
    assert [e["outcome"] for e in log] == ["retry", "retry", "retry", "gave_up"]
    assert all(e["status"] is None and e["error"] for e in log)


# -- control: companies, snapshot, reset, calls --------------------------------------------------


def test_snapshot_and_restore_bring_back_data_and_tokens(sim: SimServer) -> None:
    company = requests.post(f"{sim.url}/_sim/companies", json={"name": "Acme"}, timeout=5).json()
    headers = bearer(sim, company["id"])
    requests.post(f"{sim.url}/items", json={"name": "kept"}, headers=headers, timeout=5)
    snap = requests.get(f"{sim.url}/_sim/snapshot", timeout=5).json()
    requests.post(f"{sim.url}/_sim/reset", timeout=5)
    assert requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code == 401
    assert requests.post(f"{sim.url}/_sim/restore", json=snap, timeout=5).status_code == 200
    items = requests.get(f"{sim.url}/items", headers=headers, timeout=5).json()["items"]
    assert [i["name"] for i in items] == ["Sample", "kept"]


def test_ui_change_and_object_listing_through_control(sim: SimServer) -> None:
    cid = requests.post(f"{sim.url}/_sim/companies", json={"seed": "empty"}, timeout=5).json()["id"]
    created = requests.post(
        f"{sim.url}/_sim/companies/{cid}/objects/item", json={"name": "typed in UI"}, timeout=5
    )
    assert created.status_code == 201
    listed = requests.get(f"{sim.url}/_sim/companies/{cid}/objects/item", timeout=5).json()
    assert listed["objects"] == [created.json()]
    assert requests.get(f"{sim.url}/_sim/companies/nope/objects/item", timeout=5).status_code == 404


def test_call_log_counts_api_calls_per_endpoint_but_not_control_calls(sim: SimServer) -> None:
    headers = bearer(sim, "c9")
    for _ in range(2):
        requests.get(f"{sim.url}/items", headers=headers, timeout=5)
    requests.get(f"{sim.url}/Items/7", timeout=5)
    log = requests.get(f"{sim.url}/_sim/calls", timeout=5).json()
    assert log["counts"] == {"GET /items": 2, "GET /Items/{id}": 1}
    assert log["calls"][0]["company"] == "c9"
    requests.delete(f"{sim.url}/_sim/calls", timeout=5)
    assert requests.get(f"{sim.url}/_sim/calls", timeout=5).json()["counts"] == {}


def test_control_oauth_tokens_and_company_revoke(sim: SimServer) -> None:
    tokens = requests.post(f"{sim.url}/_sim/oauth/tokens", json={"company_id": "c1"}, timeout=5)
    headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    assert requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code == 200
    revoked = requests.post(f"{sim.url}/_sim/oauth/revoke", json={"company_id": "c1"}, timeout=5)
    assert revoked.json() == {"revoked": 1}
    assert requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code == 401


def test_control_oauth_settings_change_lifetimes(sim: SimServer) -> None:
    reply = requests.put(f"{sim.url}/_sim/oauth", json={"access_ttl": 5}, timeout=5)
    assert reply.json()["access_ttl"] == 5
    headers = bearer(sim)
    requests.post(f"{sim.url}/_sim/clock/advance", json={"seconds": 6}, timeout=5)
    assert requests.get(f"{sim.url}/items", headers=headers, timeout=5).status_code == 401
    assert requests.put(f"{sim.url}/_sim/oauth", json={"bogus": 1}, timeout=5).status_code == 400


# -- start() -----------------------------------------------------------------------------------


def test_start_skips_a_provider_package_that_does_not_exist(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import local.simulators as sims

    monkeypatch.setitem(sims.PORT_OFFSETS, "nosuchprovider", 9)
    handles = sims.start(providers=("nosuchprovider",))
    assert handles == {}
    assert "skipping nosuchprovider" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown provider"):
        sims.start(providers=("bogus",))
