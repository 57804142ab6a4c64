"""The QBO simulator's HTTP face: Intuit OAuth endpoints, the v3 API, limits and webhooks.

Paths and shapes from PROVIDERS.md section 1 and the clients booksync uses: intuit-oauth
(`intuitlib/client.py`, `utils.py`: the discovery document gives every endpoint; Basic auth;
revoke takes JSON) and python-quickbooks (`client.py`, `mixins.py`, `batch.py`, `cdc.py`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..core import (
    Clock,
    Decision,
    Grant,
    LimitCheck,
    OAuthError,
    Provider,
    Request,
    Response,
    Router,
    TokenSet,
)
from . import catalog as cat
from . import errors as E
from . import modes as M
from . import query as Q
from . import seed
from .model import PACIFIC, Books, Company, Event, clean
from .services import ServicesMixin

ISSUER = "https://oauth.platform.intuit.com/op/v1"
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
KNOWN_SCOPES = {
    ACCOUNTING_SCOPE,
    "com.intuit.quickbooks.payment",
    "com.intuit.quickbooks.payroll",
    "com.intuit.quickbooks.payroll.timetracking",
    "com.intuit.quickbooks.payroll.benefits",
    "openid",
    "profile",
    "email",
    "phone",
    "address",
}
BATCH_MAX = 30
REQUESTID_MAX = 50
BATCH_REQUESTID_MAX = 36
CDC_MAX_DAYS = 30
CDC_MAX_OBJECTS = 1000
# Per realm+app: 500 requests/min, 10 requests/s and 10 in flight; batch 40/min per realm+app
# (PROVIDERS.md 1.4; blogs.intuit.com 2016-08-08 (500/min, 10 concurrent), 2025-08-13
# "Upcoming changes to the Accounting API" (10 requests a second per realm and app)).
PER_MINUTE = 500
PER_SECOND = 10
CONCURRENT = 10
BATCH_PER_MINUTE = 40
# developer.intuit.com webhooks/best-practices: retries "then on stays at 6-hour intervals";
# for how long is not said (U): a week.
WEBHOOK_REPEAT_FOR = 7 * 86400
# out_of_order webhook mode: how long every other delivery is held back (seconds).
WEBHOOK_HOLD_BACK = 1.0
SIM_USER = {
    "sub": "sim-user-0001",
    "givenName": "Sim",
    "familyName": "User",
    "email": "sim.user@example.com",
    "emailVerified": True,
    "phoneNumber": "+1 555-555-0100",
    "phoneNumberVerified": False,
}
CE_VERBS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Emailed": "emailed",
    "Merge": "merged",
}


class QBOProvider(ServicesMixin, Provider):
    name = "qbo"
    # AT 1 h; RT 100 days rolling and rotated on each refresh; a superseded RT is refused
    # at once (its grace period is (U) in PROVIDERS.md 1.1; strict finds unsaved RTs).
    oauth_settings = {"access_ttl": 3600, "refresh_ttl": 100 * 86400, "grace_seconds": 0}
    # Webhook retries after the first try: 10s, 20s, 30s, 5m, 20m, 2h, 4h, 6h, then every 6 h;
    # the reply is awaited 3 s (developer.intuit.com webhooks/best-practices; blogs.intuit.com
    # 2025-10-14 "Introducing enhanced webhooks monitoring").
    webhook_retry_delays = [10, 20, 30, 300, 1200, 7200, 14400, 21600]
    webhook_retry_repeat_for = WEBHOOK_REPEAT_FOR
    webhook_timeout = 3.0
    mode_specs = M.MODES
    latency_fixed_ms = M.LATENCY_FIXED_MS
    latency_per_object_ms = M.LATENCY_PER_OBJECT_MS
    latency_source = M.LATENCY_SOURCE

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock)
        self.companies_by_id: dict[str, Company] = {}
        self.webhook_format = "legacy"  # or "cloudevents"
        self.webhook_window = 0.2  # seconds of changes gathered into one delivery
        self.throttle_body = "xml"  # QBO's 429 is frequently XML even with Accept JSON
        self._pending: list[Event] = []
        self._timer: threading.Timer | None = None
        self._wh_lock = threading.Lock()
        self._signing_key: Any = None
        self.meter_counts = M.Meter()
        self._wh_sent: dict[str, int] = {}  # deliveries per realm (out_of_order mode)

    # ================================================================ companies & state

    def _books(self, company: Company) -> Books:
        return Books(
            company, self.clock.now, self._on_change, lambda name: self.mode(company.id, name)
        )

    def seed_company(self, name: str, seed_kind: str = "sandbox", country: str = "US") -> dict:
        with self.lock:
            realm = str(9341452000000000 + len(self.companies_by_id) + 1)
            while realm in self.companies_by_id:
                realm = str(int(realm) + 1)
            company = Company.new(realm, name, country or "US")
            books = self._books(company)
            seed.seed_base(books, name)
            if seed_kind == "sandbox":
                seed.seed_sandbox(books)
            self.companies_by_id[realm] = company
            return self._company_info(company)

    @staticmethod
    def _company_info(c: Company) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "country": c.country}

    def companies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._company_info(c) for c in self.companies_by_id.values()]

    def _company(self, cid: str) -> Company:
        c = self.companies_by_id.get(str(cid))
        if c is None:
            raise KeyError(f"no company {cid}")
        return c

    @staticmethod
    def _kind(kind: str) -> str:
        k = cat.BY_PATH.get(kind.lower())
        if k is None:
            raise KeyError(f"unknown QBO entity {kind!r}")
        return k

    def list_objects(self, company_id: str, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            c = self._company(company_id)
            return [copy.deepcopy(o) for o in c.table(self._kind(kind)).values()]

    def ui_change(
        self,
        company_id: str,
        kind: str,
        action: str,
        object_id: str | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        """A change made in the QBO screens: the same rules as the API, SyncToken bump,
        LastUpdatedTime, CDC entry and webhook; faults become ValueError (control 400)."""
        with self.lock:
            c = self._company(company_id)
            k = self._kind(kind)
            books = self._books(c)
            try:
                if action == "create":
                    return books.create(k, fields)
                existing = books.read(k, str(object_id))
                if k in cat.SINGLETONS:
                    return books.update_singleton(k, {**fields, "SyncToken": existing["SyncToken"]})
                base = {"Id": existing["Id"], "SyncToken": existing["SyncToken"]}
                if action == "update":
                    return books.update(k, {**fields, **base, "sparse": True})
                if action == "archive" or k in cat.LIST_KINDS:
                    return books.update(k, {**base, "Active": False, "sparse": True})
                return books.delete(k, base)
            except E.QBOFault as f:
                if f.code == "610":
                    raise KeyError(f.detail) from f
                raise ValueError(f"{f.code} {f.message}: {f.detail}") from f

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "companies": copy.deepcopy({k: c.data for k, c in self.companies_by_id.items()}),
                "webhook_format": self.webhook_format,
                "webhook_window": self.webhook_window,
                "throttle_body": self.throttle_body,
                "metering": self.meter_counts.dump(),
            }

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.companies_by_id = {
                k: Company(copy.deepcopy(v)) for k, v in state.get("companies", {}).items()
            }
            self.webhook_format = state.get("webhook_format", "legacy")
            self.webhook_window = float(state.get("webhook_window", 0.2))
            self.throttle_body = state.get("throttle_body", "xml")
            self.meter_counts.load(state.get("metering") or {})

    def reset(self) -> None:
        with self.lock:
            self.companies_by_id = {}
            self.webhook_format = "legacy"
            self.webhook_window = 0.2
            self.throttle_body = "xml"
            self.meter_counts.load({})
            with self._wh_lock:
                self._pending = []
                self._wh_sent = {}

    # ================================================================ core hooks

    def authenticate(self, req: Request) -> Grant | Response:
        """401 (3200) in the gateway's lowercase `fault` shape; a token for another realm or
        without the accounting scope gets the 403 (3100) shape (PROVIDERS.md 1.5)."""
        token = req.bearer()
        grant = self.oauth.check_access(token)
        now_ms = int(self.clock.now().timestamp() * 1000)
        if grant is None:
            status = self.oauth.access_status(token)
            detail = {
                "expired": "Token expired: the access token has expired",
                "revoked": "Token revoked: the access token was revoked",
                "missing": "Authorization header missing or not Bearer",
            }.get(status, "Token invalid: the access token is not recognised")
            return Response.json(
                401,
                E.gateway_fault(401, now_ms, detail),
                {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'},
            )
        realm = req.path_params.get("realm")
        scopes = set(grant.scope.split())
        if (realm is not None and realm not in grant.companies) or (
            scopes and ACCOUNTING_SCOPE not in scopes
        ):
            return Response.json(403, E.gateway_fault(403, now_ms))
        return grant

    def limit_keys(self, req: Request, grant: Grant | None) -> list[LimitCheck]:
        realm = req.path_params.get("realm")
        if realm is None or grant is None:
            return []
        key = f"{realm}:{grant.client_id}"
        checks = [
            LimitCheck.concurrent("concurrent", key, CONCURRENT),
            LimitCheck.sliding("second", key, PER_SECOND, 1),
            LimitCheck.sliding("minute", key, PER_MINUTE, 60),
        ]
        if req.path.rstrip("/").lower().endswith("/batch"):
            checks.append(LimitCheck.sliding("batch", key, BATCH_PER_MINUTE, 60))
        return checks

    def meter(self, req: Request, grant: Grant | None) -> Response | None:
        """Classify the call as Core or CorePlus (modes.py), count it for the client id this
        month, and refuse a CorePlus call past the monthly cap when the company's
        `coreplus_cap` mode is on (403 or 429, (U))."""
        realm = req.path_params.get("realm")
        if realm is None or grant is None:
            return None
        category, core, coreplus = M.classify(req)
        req.state["category"] = category
        month = M.Meter.month(self.clock.now())
        cap = self.mode(realm, "coreplus_cap")
        if cap != "off" and coreplus:
            limit = int(self.mode(realm, "coreplus_cap_limit"))
            if self.meter_counts.used(month, grant.client_id) + coreplus > limit:
                now_ms = int(self.clock.now().timestamp() * 1000)
                return M.cap_refusal(int(cap), now_ms, self._time(), limit)
        self.meter_counts.add(month, grant.client_id, core, coreplus)
        return None

    def throttled(self, req: Request, decision: Decision) -> Response:
        """429 ThrottleExceeded (code 3001). XML by default, as QBO frequently answers even to
        Accept: application/json (PROVIDERS.md 1.4); `/_sim/qbo/settings` switches to JSON."""
        if self.throttle_body == "json":
            return Response.json(429, {**E.throttle_fault(), "time": self._time()})
        err = E.throttle_fault()["Fault"]["Error"][0]
        xml = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3" '
            f'time="{self._time()}"><Fault type="SERVICE"><Error code="3001">'
            f"<Message>{err['Message']}</Message><Detail>{err['Detail']}</Detail>"
            "</Error></Fault></IntuitResponse>"
        )
        return Response.text(429, xml, "application/xml")

    def server_error(self, req: Request, status: int) -> Response:
        fault = E.QBOFault(
            10000,
            "An application error has occurred while processing your request",
            f"System Failure Error: simulated failure (HTTP {status})",
            status=status,
            ftype="SystemFault",
        )
        return self._fault(fault)

    def not_found(self, req: Request) -> Response:
        return Response.json(
            404,
            {
                "Fault": {
                    "Error": [
                        {
                            "Message": "Resource not found",
                            "Detail": f"No resource at {req.method} {req.path}",
                            "code": "404",
                        }
                    ],
                    "type": "SystemFault",
                },
                "time": self._time(),
            },
        )

    def bad_request(self, req: Request, message: str) -> Response:
        return self._fault(E.invalid_field(f"Property Name:Failed to parse json object; {message}"))

    def company_for(self, req: Request, grant: Grant | None) -> str | None:
        return req.path_params.get("realm") or super().company_for(req, grant)

    # ================================================================ helpers

    def _time(self) -> str:
        return self.clock.now().astimezone(PACIFIC).isoformat(timespec="milliseconds")

    def _fault(self, fault: E.QBOFault) -> Response:
        return Response.json(fault.status, {"Fault": fault.fault(), "time": self._time()})

    @staticmethod
    def _base_url(req: Request) -> str:
        return f"http://{req.host or '127.0.0.1'}"

    # ================================================================ routes

    def register_routes(self, router: Router) -> None:
        # OAuth and identity, on the same port as the API.
        router.add("GET", "/connect/oauth2", self.h_authorize, limited=False)
        router.add("POST", "/oauth2/v1/tokens/bearer", self.h_token, limited=False)
        router.add("POST", "/v2/oauth2/tokens/revoke", self.h_revoke, limited=False)
        for doc in ("openid_sandbox_configuration", "openid_configuration"):
            router.add("GET", f"/.well-known/{doc}", self.h_discovery, limited=False)
            router.add("GET", f"/.well-known/{doc}/", self.h_discovery, limited=False)
        router.add("GET", "/op/v1/jwks", self.h_jwks, limited=False)
        router.add("GET", "/v1/openid_connect/userinfo", self.h_userinfo, limited=False)
        # Accounting API v3.
        base = "/v3/company/{realm}"
        api = {"auth": True, "limited": True}
        router.add("GET", base + "/query", self.h_query, **api)
        router.add("POST", base + "/query", self.h_query, **api)
        router.add("GET", base + "/cdc", self.h_cdc, **api)
        router.add("POST", base + "/batch", self.h_batch, **api)
        router.add("GET", base + "/preferences", self.h_preferences, **api)
        router.add("POST", base + "/preferences", self.h_preferences_update, **api)
        router.add("GET", base + "/companyinfo/{id}", self.h_companyinfo, **api)
        router.add("POST", base + "/companyinfo", self.h_companyinfo_update, **api)
        router.add("POST", base + "/invoice/{id}/send", self.h_send, **api)
        router.add("GET", base + "/invoice/{id}/pdf", self.h_pdf, **api)
        router.add("GET", base + "/{entity}/{id}", self.h_read, **api)
        router.add("POST", base + "/{entity}", self.h_write, **api)
        # Simulator-only controls for QBO specifics.
        router.add("GET", "/_sim/qbo/settings", self.h_sim_settings, auth=False, limited=False)
        router.add("PUT", "/_sim/qbo/settings", self.h_sim_settings, auth=False, limited=False)
        router.add(
            "PUT", "/_sim/qbo/webhook-format", self.h_sim_settings, auth=False, limited=False
        )
        router.add("POST", "/_sim/qbo/companies", self.h_sim_company, auth=False, limited=False)
        router.add("GET", "/_sim/qbo/metering", self.h_sim_metering, auth=False, limited=False)
        router.add("PUT", "/_sim/qbo/metering", self.h_sim_metering, auth=False, limited=False)
        self.register_service_routes(router)  # services.py: taxservice, upload, rates, ...

    # ---------------------------------------------------------------- OAuth

    def _error_page(self, status: int, message: str) -> Response:
        page = (
            "<!DOCTYPE html><html><head><title>Intuit - Error</title></head><body>"
            f"<h1>Something went wrong</h1><p>{html.escape(message)}</p></body></html>"
        )
        return Response.text(status, page, "text/html; charset=utf-8")

    def h_authorize(self, req: Request) -> Response:
        """Consent at once as the simulator user and redirect with code, state and realmId.
        Unknown client or redirect_uri: an error page, never a redirect (RFC 6749 s4.1.2.1)."""
        client_id = req.arg("client_id") or ""
        redirect_uri = req.arg("redirect_uri") or ""
        if client_id not in self.oauth.clients:
            return self._error_page(400, "invalid_client: unknown client_id")
        if not redirect_uri or not self.oauth.allows_redirect(client_id, redirect_uri):
            return self._error_page(400, "invalid redirect_uri: not registered for this app")
        state = req.arg("state")

        def back(params: dict[str, str]) -> Response:
            parts = urlsplit(redirect_uri)
            query = "&".join(p for p in (parts.query, urlencode(params)) if p)
            return Response.redirect(urlunsplit(parts._replace(query=query)))

        extra = {"state": state} if state is not None else {}
        if req.arg("response_type") != "code":
            return back({"error": "unsupported_response_type", **extra})
        scopes = (req.arg("scope") or "").split()
        if not scopes or any(s not in KNOWN_SCOPES for s in scopes):
            return back({"error": "invalid_scope", **extra})
        with self.lock:
            company = self._pick_company(req.arg("sim_company"))
            if company is None:
                return self._error_page(400, "no such company: " + str(req.arg("sim_company")))
        code = self.oauth.issue_code(
            client_id,
            redirect_uri,
            [company.id],
            " ".join(scopes),
            req.arg("code_challenge"),
            req.arg("code_challenge_method"),
        )
        params = {"code": code, **extra}
        if any(s.startswith("com.intuit.quickbooks") for s in scopes):
            params["realmId"] = company.id
        return back(params)

    def _pick_company(self, wanted: str | None) -> Company | None:
        if wanted:
            for c in self.companies_by_id.values():
                if wanted in (c.id, c.name):
                    return c
            return None
        if not self.companies_by_id:
            self.seed_company("Sandbox Company_US_1", "sandbox")
        return next(iter(self.companies_by_id.values()))

    def _client(self, req: Request) -> str | Response:
        creds = req.basic_auth()
        if creds is None or not self.oauth.check_client(*creds):
            return Response.json(401, {"error": "invalid_client"})
        return creds[0]

    def h_token(self, req: Request) -> Response:
        client = self._client(req)
        if isinstance(client, Response):
            return client
        form = req.form()
        grant_type = form.get("grant_type")
        result: TokenSet | OAuthError
        if grant_type == "authorization_code":
            result = self.oauth.exchange_code(
                client,
                form.get("code", ""),
                form.get("redirect_uri", ""),
                form.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            result = self.oauth.refresh(client, form.get("refresh_token", ""))
        else:
            return Response.json(400, {"error": "unsupported_grant_type"})
        if isinstance(result, OAuthError):
            return Response.json(result.status, {"error": result.error})
        now = self.clock.now()
        body: dict[str, Any] = {
            "x_refresh_token_expires_in": _secs(result.refresh_expires_at - now),
            "refresh_token": result.refresh_token,
            "access_token": result.access_token,
            "token_type": "bearer",
            "expires_in": _secs(result.access_expires_at - now),
        }
        hard = result.refresh_hard_expires_in(now)
        if hard is not None and req.headers.get("x-include-refresh-token-hard-expires-in"):
            body["x_refresh_token_hard_expires_in"] = hard
        if "openid" in result.grant.scope.split():
            body["id_token"] = self._id_token(req, client, result)
        return Response.json(200, body, {"Cache-Control": "no-store"})

    def h_revoke(self, req: Request) -> Response:
        """Basic auth and a JSON `{"token"}` (intuitlib `AuthClient.revoke`)."""
        client = self._client(req)
        if isinstance(client, Response):
            return client
        try:
            token = json.loads(req.body or b"{}").get("token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            return Response.json(400, {"error": "invalid_request"})
        self.oauth.revoke(str(token))
        return Response.empty(200)

    def h_discovery(self, req: Request) -> Response:
        """The OpenID discovery document, endpoints pointing back at this host."""
        base = self._base_url(req)
        return Response.json(
            200,
            {
                "issuer": ISSUER,
                "authorization_endpoint": base + "/connect/oauth2",
                "token_endpoint": base + "/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": base + "/v1/openid_connect/userinfo",
                "revocation_endpoint": base + "/v2/oauth2/tokens/revoke",
                "jwks_uri": base + "/op/v1/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile", "address", "phone"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "claims_supported": [
                    "aud",
                    "exp",
                    "iat",
                    "iss",
                    "realmid",
                    "sub",
                ],
            },
        )

    def _key(self) -> Any:
        with self._wh_lock:
            if self._signing_key is None:
                from cryptography.hazmat.primitives.asymmetric import rsa

                self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._signing_key

    def h_jwks(self, req: Request) -> Response:
        import jwt

        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key().public_key()))
        jwk.update({"kid": "sim-qbo-1", "use": "sig", "alg": "RS256"})
        return Response.json(200, {"keys": [jwk]})

    def _id_token(self, req: Request, client_id: str, tokens: TokenSet) -> str:
        """RS256 id_token that intuitlib `validate_id_token` accepts (iss, aud[0], exp, kid)."""
        import jwt

        now = self.clock.now()
        claims = {
            "sub": SIM_USER["sub"],
            "aud": [client_id],
            "realmid": tokens.grant.companies[0] if tokens.grant.companies else None,
            "auth_time": int(now.timestamp()),
            "iss": ISSUER,
            "exp": int((now + timedelta(hours=1)).timestamp()),
            "iat": int(now.timestamp()),
        }
        return jwt.encode(claims, self._key(), algorithm="RS256", headers={"kid": "sim-qbo-1"})

    def h_userinfo(self, req: Request) -> Response:
        grant = self.oauth.check_access(req.bearer())
        if grant is None:
            now_ms = int(self.clock.now().timestamp() * 1000)
            return Response.json(401, E.gateway_fault(401, now_ms))
        if "openid" not in grant.scope.split():
            return Response.json(403, {"error": "insufficient_scope"})
        return Response.json(200, SIM_USER)

    # ---------------------------------------------------------------- API plumbing

    def _run(
        self,
        req: Request,
        action: Any,
        replayable: bool = True,
        batch_ids: list[str] | None = None,
    ) -> Response:
        """Company lookup, `requestid` replay, faults -> envelope. `action(books)` returns the
        reply body without "time". `batch_ids`: the bIds of a /batch call.

        The company's `requestid` mode (modes.py): `replay` returns the first answer to a
        repeated id without running again; `ignored` runs every repeat as a new request;
        `batch_6000` replays single calls but answers a repeated batch with a 6000 Fault for
        every item (ruckus/quickbooks-ruby PR #344)."""
        realm = req.path_params["realm"]
        req.state["company"] = realm
        rid = req.arg("requestid")
        rid_mode = self.mode(realm, "requestid")
        if rid_mode == "ignored":
            replayable = False
        limit = BATCH_REQUESTID_MAX if req.path.lower().endswith("/batch") else REQUESTID_MAX
        with self.lock:
            company = self.companies_by_id.get(realm)
            if company is None:
                return Response.json(
                    403, E.gateway_fault(403, int(self.clock.now().timestamp() * 1000))
                )
            if rid is not None:
                if len(rid) > limit:
                    return self._fault(
                        E.QBOFault(
                            2050,
                            "String length is either shorter or longer than supported by "
                            "specification",
                            f"requestid length must be <= {limit}; supplied {len(rid)}",
                            "requestid",
                        )
                    )
                seen = company.data["requestids"].get(rid)
                if seen is not None and replayable:
                    if batch_ids is not None and rid_mode == "batch_6000":
                        return Response.json(
                            200,
                            {
                                "BatchItemResponse": [M.batch_replay_fault(b) for b in batch_ids],
                                "time": self._time(),
                            },
                        )
                    # Same requestid in the same company: the first answer, not executed again.
                    return Response.json(seen["status"], seen["body"])
            try:
                body = action(self._books(company))
                status = 200
                body = {**body, "time": self._time()}
            except E.QBOFault as f:
                status, body = f.status, {"Fault": f.fault(), "time": self._time()}
            if rid is not None and replayable:
                stored = company.data["requestids"]
                stored[rid] = {"status": status, "body": body}
                if len(stored) > 10000:
                    for old in list(stored)[:1000]:
                        del stored[old]
            return Response.json(status, body)

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        data = req.json()
        if not isinstance(data, dict):
            raise E.invalid_field("Request body must be a JSON object")
        return data

    @staticmethod
    def _params(req: Request) -> dict[str, str]:
        return {k: v[0] for k, v in req.query.items() if v}

    # ---------------------------------------------------------------- API handlers

    def h_read(self, req: Request) -> Response:
        def act(b: Books) -> dict[str, Any]:
            kind = cat.BY_PATH.get(req.path_params["entity"].lower())
            if kind is None:
                raise E.unsupported(f"Unsupported entity {req.path_params['entity']}")
            if kind in cat.SINGLETONS:
                obj = next(iter(b.c.table(kind).values()))
                return {kind: copy.deepcopy(obj)}
            obj = self.read_hook(req, b, kind, b.read(kind, req.path_params["id"]))
            return {cat.JSON_NAME.get(kind, kind): obj}

        return self._run(req, act, replayable=False)

    def h_write(self, req: Request) -> Response:
        entity = req.path_params["entity"]
        try:
            body = self._body(req)
        except E.QBOFault as f:
            return self._fault(f)
        params = self._params(req)

        def act(b: Books) -> dict[str, Any]:
            kind = cat.BY_PATH.get(entity.lower())
            if kind is None:
                raise E.unsupported(f"Unsupported entity {entity}")
            obj = self.read_hook(req, b, kind, self._write(b, kind, body, params))
            return {cat.JSON_NAME.get(kind, kind): obj}

        return self._run(req, act)

    def _write(self, b: Books, kind: str, body: dict[str, Any], params: dict[str, str]) -> dict:
        op = params.get("operation", "").lower()
        include = params.get("include", "").lower()
        if kind in cat.SINGLETONS:
            return b.update_singleton(kind, body)
        if op == "delete":
            return b.delete(kind, body)
        if op == "void" or (op == "update" and "void" in include.split(",")):
            return b.void(kind, body)
        if op not in ("", "create", "update"):
            raise E.unsupported(f"Operation {op} is not supported")
        if body.get("Id") not in (None, "", 0, "0"):
            return b.update(kind, body, params)
        return b.create(kind, body, params)

    def h_preferences(self, req: Request) -> Response:
        return self._run(
            req,
            lambda b: {"Preferences": copy.deepcopy(b.c.table("Preferences")["1"])},
            replayable=False,
        )

    def h_preferences_update(self, req: Request) -> Response:
        try:
            body = self._body(req)
        except E.QBOFault as f:
            return self._fault(f)
        return self._run(req, lambda b: {"Preferences": b.update_singleton("Preferences", body)})

    def h_companyinfo(self, req: Request) -> Response:
        def act(b: Books) -> dict[str, Any]:
            if req.path_params["id"] not in (b.c.id, "1"):
                raise E.not_found("CompanyInfo", req.path_params["id"])
            return {"CompanyInfo": copy.deepcopy(b.c.table("CompanyInfo")["1"])}

        return self._run(req, act, replayable=False)

    def h_companyinfo_update(self, req: Request) -> Response:
        try:
            body = self._body(req)
        except E.QBOFault as f:
            return self._fault(f)
        return self._run(req, lambda b: {"CompanyInfo": b.update_singleton("CompanyInfo", body)})

    def h_send(self, req: Request) -> Response:
        send_to = req.arg("sendTo")
        return self._run(req, lambda b: {"Invoice": b.send_invoice(req.path_params["id"], send_to)})

    def h_pdf(self, req: Request) -> Response:
        with self.lock:
            company = self.companies_by_id.get(req.path_params["realm"])
            inv = company.get("Invoice", req.path_params["id"]) if company else None
        if inv is None:
            return self._fault(E.not_found("Invoice", req.path_params["id"]))
        text = f"Invoice {inv.get('DocNumber', inv['Id'])} total {inv.get('TotalAmt')}"
        pdf = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n% " + text.encode() + b"\n%%EOF\n"
        return Response(200, pdf, {"Content-Type": "application/pdf"})

    # -- query

    def _query(self, b: Books, text: str) -> dict[str, Any]:
        q = Q.parse(text)
        Q.check_entity(q, cat.ALL_KINDS)
        rows = list(b.c.table(q.entity).values())
        result = Q.evaluate(q, rows, q.entity in cat.LIST_KINDS)
        return {"QueryResponse": self.shape_query(b, q, rows, result)}

    def h_query(self, req: Request) -> Response:
        if req.method == "POST":
            text = req.body.decode("utf-8", "replace")
        else:
            text = req.arg("query") or ""
        return self._run(req, lambda b: self._query(b, text), replayable=False)

    # -- CDC

    def h_cdc(self, req: Request) -> Response:
        entities = [e.strip() for e in (req.arg("entities") or "").split(",") if e.strip()]
        since_raw = req.arg("changedSince")

        def act(b: Books) -> dict[str, Any]:
            if not entities:
                raise E.required("entities")
            if not since_raw:
                raise E.required("changedSince")
            # MetaData times have whole seconds: compare at that grain so a changedSince taken
            # from a reply's millisecond "time" still sees changes made in the same second.
            since = _parse_since(since_raw).replace(microsecond=0)
            if since < self.clock.now() - timedelta(days=CDC_MAX_DAYS):
                raise E.QBOFault(
                    2010,
                    "Request has invalid or unsupported property",
                    f"changedSince cannot be more than {CDC_MAX_DAYS} days in the past",
                    "changedSince",
                )
            order = self.mode(b.c.id, "cdc_order")
            return {"CDCResponse": [{"QueryResponse": self._cdc(b, entities, since, order)}]}

        return self._run(req, act, replayable=False)

    def _cdc(
        self, b: Books, entities: list[str], since: datetime, order: str = "oldest_first"
    ) -> list[dict[str, Any]]:
        """Changed and deleted objects since `since`, per entity; at most 1000 in all;
        TimeActivity, TaxCode, TaxRate, TaxAgency and JournalCode are never in CDC
        (developer.intuit.com change-data-capture; PROVIDERS.md 1.3). Which changes survive
        the cap, and in what order, is the company's `cdc_order` mode: the oldest (oldest
        first), the newest (newest first) or any (in no order); Intuit documents none (U)."""
        changes: list[tuple[datetime, str, dict[str, Any]]] = []
        for name in entities:
            kind = cat.BY_PATH.get(name.lower())
            if kind is None:
                raise E.QBOFault(
                    2010,
                    "Request has invalid or unsupported property",
                    f"Invalid entity in entities list: {name}",
                    "entities",
                )
            if kind in cat.CDC_EXCLUDED:
                continue
            for obj in b.c.table(kind).values():
                t = _parse_since(obj["MetaData"]["LastUpdatedTime"])
                if t >= since:
                    changes.append((t, kind, obj))
            for tomb in b.c.tombstones(kind).values():
                t = _parse_since(tomb["MetaData"]["LastUpdatedTime"])
                if t >= since:
                    changes.append((t, kind, tomb))
        if order == "unordered":
            random.shuffle(changes)
        else:
            changes.sort(key=lambda x: x[0], reverse=order == "newest_first")
        changes = changes[:CDC_MAX_OBJECTS]
        out: list[dict[str, Any]] = []
        for name in entities:
            kind = cat.BY_PATH.get(name.lower(), name)
            objs = [copy.deepcopy(o) for _t, k, o in changes if k == kind]
            if objs:
                out.append(
                    {
                        kind: objs,
                        "startPosition": 1,
                        "maxResults": len(objs),
                        "totalCount": len(objs),
                    }
                )
            else:
                out.append({})
        return out

    # -- batch

    def h_batch(self, req: Request) -> Response:
        """Up to 30 items (1040 beyond), run in order; each item answers with its bId and the
        entity, a QueryResponse or a Fault; every item counts as one call against the
        per-minute limit (PROVIDERS.md 1.3 Batch, 1.4)."""
        try:
            body = self._body(req)
        except E.QBOFault as f:
            return self._fault(f)
        items = body.get("BatchItemRequest")
        if not isinstance(items, list) or not items:
            return self._fault(E.required("BatchItemRequest"))
        if len(items) > BATCH_MAX:
            return self._fault(
                E.QBOFault(
                    1040,
                    "Batch request size exceeds maximum limit",
                    f"The number of batch items ({len(items)}) exceeds the maximum of "
                    f"{BATCH_MAX} per request",
                )
            )
        grant = req.state.get("grant")
        if self.limits.enabled and grant is not None and len(items) > 1:
            key = f"{req.path_params['realm']}:{grant.client_id}"
            check = [LimitCheck.sliding("minute", key, PER_MINUTE, 60)]
            for _ in range(len(items) - 1):
                decision = self.limits.acquire(check)
                if not decision.allowed:
                    return self.throttled(req, decision)
        # the latency mode's per-object part counts the batch's write items
        req.state["objects"] = sum(1 for i in items if isinstance(i, dict) and "Query" not in i)
        bids = [str(i.get("bId", "")) if isinstance(i, dict) else "" for i in items]
        return self._run(
            req,
            lambda b: {"BatchItemResponse": [self._batch_item(b, it) for it in items]},
            batch_ids=bids,
        )

    def _batch_item(self, b: Books, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            return {"Fault": E.invalid_field("Batch item must be an object").fault()}
        bid = str(item.get("bId", ""))
        out: dict[str, Any] = {"bId": bid}
        try:
            if not bid:
                raise E.required("bId")
            # No bId length check: python-quickbooks (`batch.BatchManager`) sends 36-char
            # uuid4 bIds and the real API takes them, whatever PROVIDERS.md 1.3 says of <=10.
            if "Query" in item:
                out.update(self._query(b, str(item["Query"])))
                return out
            op = str(item.get("operation", "")).lower()
            names = [k for k in item if k not in ("bId", "operation", "optionsData")]
            if len(names) != 1:
                raise E.required("entity")
            kind = cat.BY_PATH.get(names[0].lower())
            if kind is None or not isinstance(item[names[0]], dict):
                raise E.unsupported(f"Unsupported entity {names[0]}")
            data = item[names[0]]
            if str(item.get("optionsData", "")).lower() == "void":
                out[kind] = b.void(kind, data)
            elif op == "create":
                out[kind] = b.create(kind, data)
            elif op == "update":
                out[kind] = b.update(kind, data)
            elif op == "delete":
                out[kind] = b.delete(kind, data)
            else:
                raise E.unsupported(f"Operation {op or '(none)'} is not supported in batch")
        except E.QBOFault as f:
            out = {"bId": bid, "Fault": f.fault()}
        return out

    # ================================================================ webhooks

    def _on_change(self, event: Event) -> None:
        """Gather changes for `webhook_window` seconds, then send one signed delivery."""
        if not self.webhooks.url:
            return
        with self._wh_lock:
            self._pending.append(event)
            if self._timer is None:
                self._timer = threading.Timer(self.webhook_window, self._flush_events)
                self._timer.daemon = True
                self._timer.start()

    def _flush_events(self) -> None:
        """Legacy bodies carry one realm each ("Event notifications are sent one realm ID at a
        time", developer.intuit.com webhooks/best-practices); a CloudEvents array may mix
        realms (PROVIDERS.md 1.6). Each delivery follows its realms' `webhook_delivery` mode."""
        with self._wh_lock:
            events, self._pending, self._timer = self._pending, [], None
        if not events:
            return
        if self.webhook_format == "cloudevents":
            groups = [events]
        else:
            by_realm: dict[str, list[Event]] = {}
            for ev in events:
                by_realm.setdefault(ev[0], []).append(ev)
            groups = list(by_realm.values())
        for group in groups:
            self._send(group)

    def _send(self, events: list[Event]) -> None:
        realms = sorted({ev[0] for ev in events})
        modes = {self.mode(r, "webhook_delivery") for r in realms}
        delay = 0.0
        if "out_of_order" in modes:
            with self._wh_lock:
                n = self._wh_sent.get(realms[0], 0)
                self._wh_sent[realms[0]] = n + 1
            delay = WEBHOOK_HOLD_BACK if n % 2 == 0 else 0.0
        body = json.dumps(self._webhook_body(events), separators=(",", ":")).encode("utf-8")
        key = (self.webhooks.key or "").encode("utf-8")
        sig = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode("ascii")
        self.webhooks.deliver(
            body,
            {"Content-Type": "application/json", "intuit-signature": sig},
            keys=realms,
            hold="held" in modes,
            delay=delay,
        )

    def flush_webhooks_now(self) -> None:
        """Send what is gathered without waiting for the window (tests)."""
        with self._wh_lock:
            timer = self._timer
        if timer is not None:
            timer.cancel()
        self._flush_events()

    def _webhook_body(self, events: list[Event]) -> Any:
        """Legacy `eventNotifications` (one realm per body, see `_flush_events`) or the
        CloudEvents array (PROVIDERS.md 1.6; blogs.intuit.com 2025/11/12)."""
        if self.webhook_format == "cloudevents":
            return [
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "intuit.sim.qbo",
                    "type": f"qbo.{kind.lower()}.{CE_VERBS.get(op, op.lower())}.v1",
                    "datacontenttype": "application/json",
                    "time": _utc_z(stamp),
                    "intuitentityid": obj_id,
                    "intuitaccountid": realm,
                    "data": {},
                }
                for realm, kind, obj_id, op, stamp in events
            ]
        by_realm: dict[str, list[dict[str, Any]]] = {}
        for realm, kind, obj_id, op, stamp in events:
            by_realm.setdefault(realm, []).append(
                {"name": kind, "id": obj_id, "operation": op, "lastUpdated": _legacy_time(stamp)}
            )
        return {
            "eventNotifications": [
                {"realmId": realm, "dataChangeEvent": {"entities": ents}}
                for realm, ents in by_realm.items()
            ]
        }

    # ================================================================ simulator controls

    def h_sim_settings(self, req: Request) -> Response:
        if req.method == "PUT":
            data = self._json_object(req)
            fmt = data.get("format", data.get("webhook_format"))
            if fmt is not None:
                if fmt not in ("legacy", "cloudevents"):
                    raise ValueError("format must be 'legacy' or 'cloudevents'")
                self.webhook_format = fmt
            if "window" in data:
                self.webhook_window = max(0.0, float(data["window"]))
            if "throttle_body" in data:
                if data["throttle_body"] not in ("xml", "json"):
                    raise ValueError("throttle_body must be 'xml' or 'json'")
                self.throttle_body = data["throttle_body"]
        return Response.json(
            200,
            {
                "format": self.webhook_format,
                "window": self.webhook_window,
                "throttle_body": self.throttle_body,
            },
        )

    def h_sim_metering(self, req: Request) -> Response:
        """`GET`: Core and CorePlus calls per client id, this month and before. `PUT
        {"client_id", "month"?, "Core"?, "CorePlus"?}`: set a count (e.g. an app near its
        500,000 CorePlus calls without making them)."""
        month = M.Meter.month(self.clock.now())
        if req.method == "PUT":
            data = self._json_object(req)
            client = data.get("client_id")
            if not isinstance(client, str) or not client:
                raise ValueError('expected {"client_id": "...", "CorePlus": n}')
            self.meter_counts.set(str(data.get("month") or month), client, data)
        return Response.json(200, {"month": month, "months": self.meter_counts.dump()})

    def h_sim_company(self, req: Request) -> Response:
        data = self._json_object(req)
        seed_kind = str(data.get("seed", "sandbox"))
        if seed_kind not in ("sandbox", "empty"):
            raise ValueError("seed must be 'sandbox' or 'empty'")
        country = str(data.get("country", "US")).upper()
        if country not in ("US", *seed.TAX_TABLES):
            raise ValueError(f"country must be US or one of {sorted(seed.TAX_TABLES)}")
        info = self.seed_company(str(data.get("name") or "Sim Company"), seed_kind, country)
        if data.get("multicurrency"):
            # As a person would turn it on in Account and settings (it cannot be turned off).
            self.ui_change(
                info["id"],
                "Preferences",
                "update",
                "1",
                {"CurrencyPrefs": {"MultiCurrencyEnabled": True}},
            )
        return Response.json(201, info)

    @staticmethod
    def _json_object(req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        data = req.json()
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data


def _parse_since(value: str) -> datetime:
    try:
        d = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise E.QBOFault(
            2170, "Invalid Date", f"Invalid date/time: {value}", "changedSince"
        ) from exc
    if d.tzinfo is None:
        d = d.replace(tzinfo=PACIFIC)
    return d


def _secs(delta: timedelta) -> int:
    return max(0, round(delta.total_seconds()))


def _legacy_time(stamp: str) -> str:
    d = datetime.fromisoformat(stamp)
    return d.strftime("%Y-%m-%dT%H:%M:%S%z")


def _utc_z(stamp: str) -> str:
    d = datetime.fromisoformat(stamp).astimezone(UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


_ = clean  # re-exported for tests that build bodies like python-quickbooks does
