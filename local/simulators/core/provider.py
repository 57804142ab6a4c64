"""The base class every simulator subclasses: the hooks the core calls, with defaults.

The core owns HTTP, OAuth bookkeeping, limits, faults, the call log and webhook delivery; a
provider owns its wire format and its data. Hooks with a sensible neutral behaviour have a
default here; those that only a provider can answer raise NotImplementedError.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from .calls import CallLog
from .clock import Clock
from .faults import FaultRules
from .http import Request, Response, Router
from .modes import Mode, ModeStore, latency_modes
from .oauth import Grant, OAuthServer
from .ratelimit import Decision, LimitCheck, RateLimiter
from .webhooks import WebhookSender


class Provider:
    """State and hooks of one simulated provider.

    Subclasses set `name`, the OAuth lifetimes in `oauth_settings` and their webhook retry
    schedule in `webhook_retry_delays`, then implement the hooks below. `self.lock` (an
    RLock) guards the provider's own state; handlers run on many threads at once.
    """

    name: ClassVar[str] = "neutral"
    oauth_settings: ClassVar[dict[str, Any]] = {}
    webhook_retry_delays: ClassVar[list[float]] = []
    # How long the receiver may take to answer a webhook before it counts as failed.
    webhook_timeout: ClassVar[float] = 5.0
    # After the schedule, keep retrying at its last interval for this many seconds (None:
    # give up when the schedule ends).
    webhook_retry_repeat_for: ClassVar[float | None] = None
    # The provider's own modes (see modes.py); the core adds the latency modes below.
    mode_specs: ClassVar[list[Mode]] = []
    # Latency when the `latency` mode is on: a fixed part per call, a part per object of a
    # batch write (a handler says how many in `req.state["objects"]`), and where the
    # figures come from.
    latency_fixed_ms: ClassVar[float] = 0.0
    latency_per_object_ms: ClassVar[float] = 0.0
    latency_source: ClassVar[str] = "(U)"

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.oauth = OAuthServer(self.clock, **self.oauth_settings)
        self.limits = RateLimiter(self.clock)
        self.webhooks = WebhookSender(
            self.clock,
            retry_delays=self.webhook_retry_delays,
            timeout=self.webhook_timeout,
            repeat_for=self.webhook_retry_repeat_for,
        )
        self.calls = CallLog(self.clock)
        self.faults = FaultRules()
        self.modes = ModeStore(
            latency_modes(self.latency_fixed_ms, self.latency_per_object_ms, self.latency_source)
            + list(self.mode_specs)
        )

    def mode(self, company_id: str | None, name: str) -> Any:
        """The mode `name` in force for a company (its own value, else the server's)."""
        return self.modes.get(company_id, name)

    # -- must be provided ----------------------------------------------------------------

    def register_routes(self, router: Router) -> None:
        """Add the provider's real paths (API, OAuth, identity) to `router`."""
        raise NotImplementedError

    def seed_company(self, name: str, seed: str = "sandbox") -> dict[str, Any]:
        """Create a company (`seed` "sandbox": the provider's sample data; "empty": none)."""
        raise NotImplementedError

    def companies(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def list_objects(self, company_id: str, kind: str) -> list[dict[str, Any]]:
        """Objects as stored; KeyError for an unknown company or kind (control answers 404)."""
        raise NotImplementedError

    def ui_change(
        self,
        company_id: str,
        kind: str,
        action: str,
        object_id: str | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        """A change made in the provider's own screens, with everything a real one produces
        (version bump, modified time, CDC entry, webhook). KeyError/ValueError -> 404/400."""
        raise NotImplementedError

    def dump_state(self) -> dict[str, Any]:
        """The provider's data as JSON-able dict (OAuth, clock, faults are saved by the core)."""
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all companies and objects (the core resets OAuth, limits, faults, log)."""
        raise NotImplementedError

    # -- defaults a provider usually overrides -------------------------------------------

    def authenticate(self, req: Request) -> Grant | Response:
        """Bearer check; a provider overrides this to answer in its own 401 shape."""
        grant = self.oauth.check_access(req.bearer())
        if grant is not None:
            return grant
        return Response.json(
            401,
            {"error": "invalid_token", "error_description": self.oauth.access_status(req.bearer())},
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    def limit_keys(self, req: Request, grant: Grant | None) -> list[LimitCheck]:
        """The buckets this call counts against; none by default."""
        return []

    def throttled(self, req: Request, decision: Decision) -> Response:
        """The provider's 429 for a limit hit (or a `throttle` fault)."""
        return Response.json(
            429,
            {"error": "rate_limited", "limit": decision.hit},
            {"Retry-After": str(decision.retry_after)},
        )

    def server_error(self, req: Request, status: int) -> Response:
        """The provider's own error body for an injected error or a handler crash."""
        return Response.json(status, {"error": "server_error", "status": status})

    def not_found(self, req: Request) -> Response:
        """No route matched this path."""
        return Response.json(404, {"error": "not_found", "path": req.path})

    def bad_request(self, req: Request, message: str) -> Response:
        """A handler raised `BadRequest` (unparseable body) and did not shape the 400 itself."""
        return Response.json(400, {"error": "bad_request", "message": message})

    def company_for(self, req: Request, grant: Grant | None) -> str | None:
        """The company a call concerns, for the call log: `req.state["company"]` if a handler
        set it, else the grant's only company."""
        if req.state.get("company"):
            return str(req.state["company"])
        if grant is not None and len(grant.companies) == 1:
            return grant.companies[0]
        return None

    def meter(self, req: Request, grant: Grant | None) -> Response | None:
        """Called for an admitted API call just before its handler (after auth and limits):
        classify and count it (a provider may put `req.state["category"]` for the call log)
        or refuse it with a Response (e.g. QBO's monthly CorePlus cap). None: go on."""
        return None

    def on_response(self, req: Request, resp: Response) -> None:
        """Last look at every API response (e.g. Xero's X-*Limit-Remaining headers); the
        limiter's verdict is in `req.state.get("limits")`."""
