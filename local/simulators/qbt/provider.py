"""The QuickBooks Time HTTP surface: OAuth (`/api/v1/authorize`, `/api/v1/grant`), the REST
endpoints under `/api/v1`, its 401/429 shapes and its rate limit, on top of the core.

The data rules live in `store.py`; this module only routes, authenticates and renders.
Sources: TSheetsTeam/api_docs `source/includes/Overview/_authentication.md.erb` (OAuth),
`Overview/_welcome.md.erb` "Request Throttling" and `Overview/_changelog.md.erb` 2020-03-24
(300 calls per 5-minute window per access token; 429 until the window ends).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import urlencode

from ..core import (
    BadRequest,
    Decision,
    Grant,
    LimitCheck,
    Mode,
    OAuthError,
    Provider,
    Request,
    Response,
    Router,
    TokenSet,
)
from .seed import seed_company
from .store import ENDPOINTS, QbtError, QbtStore, error_body

API = "/api/v1"

# docs Overview/_request_formats.md.erb: "All 2xx response codes indicate that the request was
# successful"; every item carries its own `_status_code`. Intuit's .NET SDK names 207
# Multi-Status (intuit/TSheets-V1-DotNET-SDK `Model/Exceptions/MultiStatusException.cs`).
MODES = [
    Mode(
        "write_status",
        "200",
        "HTTP status of a POST/PUT/DELETE that was carried out (items keep their own "
        "_status_code): 200, 207 Multi-Status or 201",
        "TSheetsTeam/api_docs Overview/_request_formats.md.erb ('All 2xx response codes "
        "indicate that the request was successful'); intuit/TSheets-V1-DotNET-SDK "
        "MultiStatusException.cs (207)",
        values=("200", "207", "201"),
    ),
    Mode(
        "customfields_addon",
        "installed",
        "not_installed: no custom fields are listed, writes to customfields and "
        "customfielditems fail per item with 417, users and timesheets lose `customfields`",
        "QuickBooks help 'Set up and manage custom fields in QuickBooks Time' (Install the "
        "Custom Fields add-on); api_docs Users/_users.md.erb ('present only if the Custom "
        "Fields Add-On is installed'); the API's answer without it (U)",
        values=("installed", "not_installed"),
    ),
    Mode(
        "customfield_defaults",
        "true",
        "default of `required` and `show_to_all` on a created custom field",
        "api_docs CustomFields/_create.md.erb says Default: true; other readings say false (U)",
        values=("true", "false"),
    ),
]


def _err(status: int, message: str) -> Response:
    return Response.json(status, error_body(status, message))


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


class QbtProvider(Provider):
    """QuickBooks Time (TSheets REST API v1)."""

    name: ClassVar[str] = "qbt"
    # docs: Overview/Examples/_grant-response.md.erb "expires_in":864000 (10 days). The
    # refresh token's lifetime and whether a used one keeps working are not documented:
    # the core's defaults (100-day idle, rotation, no grace) stand in for them.
    oauth_settings: ClassVar[dict[str, Any]] = {"access_ttl": 864000}
    rate_limit: ClassVar[int] = 300
    rate_window: ClassVar[float] = 300.0
    mode_specs: ClassVar[list[Mode]] = MODES
    # No published figures for QuickBooks Time's response times (U): a typical cloud API
    # round trip, and a little per item of a batch write.
    latency_fixed_ms: ClassVar[float] = 300.0
    latency_per_object_ms: ClassVar[float] = 20.0
    latency_source: ClassVar[str] = "(U) guessed: 300 ms a call, 20 ms per item of a write"

    def __init__(self, clock: Any = None) -> None:
        super().__init__(clock)
        self.store = QbtStore(self.clock.now, self.mode)
        self._router: Router | None = None

    # -- routes ------------------------------------------------------------------------------

    def register_routes(self, router: Router) -> None:
        self._router = router
        router.add("GET", f"{API}/authorize", self.authorize, limited=False)
        router.add("POST", f"{API}/grant", self.grant, limited=False)
        router.add("GET", f"{API}/current_user", self.get_current_user, auth=True)
        router.add("GET", f"{API}/last_modified_timestamps", self.get_last_modified, auth=True)
        for endpoint in ENDPOINTS:
            router.add("GET", f"{API}/{endpoint}", self._getter(endpoint), auth=True)
            if endpoint != "timesheets_deleted":
                router.add("POST", f"{API}/{endpoint}", self._writer(endpoint, "POST"), auth=True)
                router.add("PUT", f"{API}/{endpoint}", self._writer(endpoint, "PUT"), auth=True)
                router.add("DELETE", f"{API}/{endpoint}", self._deleter(endpoint), auth=True)

    # -- OAuth -------------------------------------------------------------------------------

    def authorize(self, req: Request) -> Response:
        """`GET /api/v1/authorize?response_type=code&client_id&redirect_uri&state`.

        docs: Overview/_authentication.md.erb: no scopes; on consent redirect with `code` and
        `state`; if malformed or denied, redirect with `error` and `error_description`. The
        simulated person logs in as the company owner and consents at once. Simulator extras:
        `sim_company` (company id or name; default the first, a sandbox one made if none) and
        `sim_deny=1` (the person clicks "deny").
        """
        client_id = req.arg("client_id") or ""
        redirect_uri = req.arg("redirect_uri") or ""
        state = req.arg("state") or ""
        if not self.oauth.allows_redirect(client_id, redirect_uri):
            # An unknown client or unregistered redirect_uri cannot be redirected to safely.
            return Response.text(400, "Invalid client_id or redirect_uri")
        if req.arg("response_type") != "code" or not state:
            return Response.redirect(
                _with_query(
                    redirect_uri,
                    {
                        "error": "invalid_request",
                        "error_description": "response_type must be 'code' and state is required",
                        **({"state": state} if state else {}),
                    },
                )
            )
        if (req.arg("sim_deny") or "").lower() in ("1", "true", "yes"):
            return Response.redirect(
                _with_query(
                    redirect_uri,
                    {
                        "error": "access_denied",
                        "error_description": "The user denied access to the application",
                        "state": state,
                    },
                )
            )
        with self.lock:
            comp = self._pick_company(req.arg("sim_company"))
            if comp is None:
                return Response.text(404, "sim_company: no such company")
            owner = comp["owner_user_id"]
        code = self.oauth.issue_code(
            client_id,
            redirect_uri,
            [comp["id"]],
            "",
            user=str(owner),
            extra={"user_id": owner, "client_url": comp["client_url"]},
        )
        return Response.redirect(_with_query(redirect_uri, {"code": code, "state": state}))

    def _pick_company(self, wanted: str | None) -> dict[str, Any] | None:
        companies = self.store.state["companies"]
        if wanted:
            for comp in companies.values():
                if wanted in (comp["id"], comp["name"]):
                    return dict(comp)
            return None
        if not companies:
            seed_company(self.store, "Sandbox Company")
        return dict(next(iter(companies.values())))

    def grant(self, req: Request) -> Response:
        """`POST /api/v1/grant` with `client_id` and `client_secret` in the body.

        docs: Overview/_authentication.md.erb (authorization_code; refresh_token) and
        Overview/Examples/_grant-response.md.erb (reply fields). Errors use the OAuth shape
        `{"error","error_description"}` (intuit/TSheets-V1-DotNET-SDK `ErrorResponseBasic`);
        statuses (U): 400 for grant errors, 401 for bad client credentials.
        """
        ctype = (req.headers.get("Content-Type") or "").lower()
        form: dict[str, Any]
        if "json" in ctype:  # (U) some clients post JSON; accepted alongside the documented form
            try:
                data = req.json()
            except BadRequest:
                data = None
            form = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        else:
            form = req.form()
        client_id = form.get("client_id", "")
        if not self.oauth.check_client(client_id, form.get("client_secret")):
            return Response.json(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "Client authentication failed",
                },
            )
        grant_type = form.get("grant_type", "")
        result: TokenSet | OAuthError
        if grant_type == "authorization_code":
            result = self.oauth.exchange_code(
                client_id, form.get("code", ""), form.get("redirect_uri", "")
            )
        elif grant_type == "refresh_token":
            result = self.oauth.refresh(client_id, form.get("refresh_token", ""))
        else:
            result = OAuthError(
                "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"
            )
        if isinstance(result, OAuthError):
            return Response.json(
                result.status, {"error": result.error, "error_description": result.description}
            )
        extra = result.grant.extra
        return Response.json(
            200,
            {
                "access_token": result.access_token,
                "expires_in": round((result.access_expires_at - self.clock.now()).total_seconds()),
                "token_type": "bearer",
                "scope": "",
                "refresh_token": result.refresh_token,
                "user_id": str(extra.get("user_id", result.grant.user)),
                "company_id": str(result.grant.companies[0]) if result.grant.companies else "",
                "client_url": str(extra.get("client_url", "")),
            },
            {"Cache-Control": "no-store"},
        )

    # -- core hooks --------------------------------------------------------------------------

    def authenticate(self, req: Request) -> Grant | Response:
        """docs: Overview/_authentication.md.erb: "Failure to include the access token or
        using an expired token will result in a 401 response." Body in the API's error
        envelope; (U) the exact message."""
        grant = self.oauth.check_access(req.bearer())
        if grant is None or not grant.companies:
            return _err(401, "Unauthorized")
        with self.lock:
            if grant.companies[0] not in self.store.state["companies"]:
                return _err(401, "Unauthorized")
        return grant

    def limit_keys(self, req: Request, grant: Grant | None) -> list[LimitCheck]:
        """docs: "300 calls within any ... time window ... primarily considered on a
        per-connection basis (per access token)"; changelog 2020-03-24: window now 5 minutes."""
        return [
            LimitCheck.sliding("requests", req.bearer() or "", self.rate_limit, self.rate_window)
        ]

    def throttled(self, req: Request, decision: Decision) -> Response:
        """429 in the error envelope; QBT documents no Retry-After or rate headers."""
        return _err(429, "Too Many Requests")

    def server_error(self, req: Request, status: int) -> Response:
        reasons = {
            500: "Internal Server Error",
            501: "Method not implemented",
            503: "Service Unavailable",
        }
        return _err(status, reasons.get(status, "Internal Server Error"))

    def not_found(self, req: Request) -> Response:
        if self._router is not None and self._router.allows_path(req.path):
            return _err(405, "Method Not Allowed")
        return _err(404, "Not Found")

    def bad_request(self, req: Request, message: str) -> Response:
        return _err(400, f"Bad Request: {message}")

    # -- API handlers ------------------------------------------------------------------------

    @staticmethod
    def _company(req: Request) -> str:
        grant: Grant = req.state["grant"]
        req.state["company"] = grant.companies[0]
        return grant.companies[0]

    def _actor(self, req: Request) -> int:
        """The token's user. Tokens from `/_sim/oauth/tokens` carry none: they act as the
        company owner, like a token made in QBT's API Add-on screen by the admin."""
        grant: Grant = req.state["grant"]
        try:
            return int(grant.extra.get("user_id") or grant.user)
        except (TypeError, ValueError):
            with self.lock:
                comp = self.store.state["companies"].get(grant.companies[0], {})
                return int(comp.get("owner_user_id", 0))

    def _guard(self, fn: Any, status: int = 200) -> Response:
        try:
            with self.lock:
                return Response.json(status, fn())
        except QbtError as err:
            return Response.json(err.status, err.body())

    def _write_status(self, cid: str) -> int:
        """The company's `write_status` mode: the HTTP status of a write carried out."""
        return int(self.mode(cid, "write_status"))

    def _getter(self, endpoint: str) -> Any:
        def handler(req: Request) -> Response:
            cid = self._company(req)
            return self._guard(lambda: self.store.list_checked(cid, endpoint, req.query))

        return handler

    def _writer(self, endpoint: str, method: str) -> Any:
        def handler(req: Request) -> Response:
            cid = self._company(req)
            try:
                payload = json.loads(req.body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return _err(400, "Bad Request: the body is not valid JSON")
            actor = self._actor(req)
            if isinstance(payload, dict) and isinstance(payload.get("data"), list):
                req.state["objects"] = len(payload["data"])
            return self._guard(
                lambda: self.store.write(cid, endpoint, method, payload, actor),
                self._write_status(cid),
            )

        return handler

    def _deleter(self, endpoint: str) -> Any:
        def handler(req: Request) -> Response:
            cid = self._company(req)
            req.state["objects"] = len([i for i in (req.arg("ids") or "").split(",") if i])
            return self._guard(
                lambda: self.store.delete(cid, endpoint, req.arg("ids")), self._write_status(cid)
            )

        return handler

    def get_current_user(self, req: Request) -> Response:
        cid = self._company(req)
        actor = self._actor(req)
        return self._guard(lambda: self.store.current_user(cid, actor))

    def get_last_modified(self, req: Request) -> Response:
        cid = self._company(req)
        return self._guard(lambda: self.store.last_modified_timestamps(cid, req.arg("endpoints")))

    # -- control surface (/_sim) -------------------------------------------------------------

    def seed_company(self, name: str, seed: str = "sandbox") -> dict[str, Any]:
        with self.lock:
            comp = seed_company(self.store, name, seed)
            return {
                "id": comp["id"],
                "name": comp["name"],
                "client_url": comp["client_url"],
                "owner_user_id": comp["owner_user_id"],
            }

    def companies(self) -> list[dict[str, Any]]:
        with self.lock:
            return self.store.companies()

    def list_objects(self, company_id: str, kind: str) -> list[dict[str, Any]]:
        if kind not in ENDPOINTS:
            raise KeyError(kind)
        with self.lock:
            comp = self.store.state["companies"][str(company_id)]
            objs = comp["objects"][kind].values()
            return [self.store.render(comp, kind, o) for o in sorted(objs, key=lambda o: o["id"])]

    def ui_change(
        self,
        company_id: str,
        kind: str,
        action: str,
        object_id: str | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        """A person's edit in QuickBooks Time's screens. It goes through the same rules and
        stamps `last_modified` (and the endpoint's last_modified_timestamp), which is how a
        client finds it: QBT has no webhooks in its REST docs, changes are found by polling.
        Extra field `locked` on a timesheet update simulates an export/invoice lock."""
        if kind not in ENDPOINTS or kind == "timesheets_deleted":
            raise KeyError(kind)
        with self.lock:
            if str(company_id) not in self.store.state["companies"]:
                raise KeyError(company_id)
            try:
                return self.store.ui_write(company_id, kind, action, object_id, fields)
            except QbtError as err:
                if err.status == 404:
                    raise KeyError(err.message) from err
                raise ValueError(f"{err.status}: {err.message}") from err

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return self.store.dump()

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            if state:
                self.store.load(state)
            else:
                self.store.reset()

    def reset(self) -> None:
        with self.lock:
            self.store.reset()
