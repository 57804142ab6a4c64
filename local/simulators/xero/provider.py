"""The Xero simulator: Identity (OAuth 2.0 + connections), Accounting API 2.0, Payroll UK.

Paths are the real ones of the three Xero hosts, served from one origin:
- login.xero.com `GET /identity/connect/authorize`; identity.xero.com `POST /connect/token`,
  `POST /connect/revocation` (xero-python `api_client/oauth2.py: TokenApi`; Xero-OpenAPI
  `xero-identity.yaml` securitySchemes);
- api.xero.com `GET /connections`, `DELETE /connections/{id}` (xero-identity.yaml spells them
  `/Connections`; xero-python `identity/api/identity_api.py` calls `/Connections`),
  `/api.xro/2.0/...` (xero-python `accounting/api/accounting_api.py` base_url) and
  `/payroll.xro/2.0/...` (xero-python `payrolluk/api/payroll_uk_api.py` base_url).
API paths match without regard to case, as Xero's do.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import string
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ..core import (
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
from .accounting import register_accounting
from .dates import ms_date
from .model import KINDS, Invalid, NotFound, Org, new_id
from .payroll import register_payroll
from .seed import seed_demo

# Xero's documented limits (developer.xero.com/documentation/guides/oauth2/limits; PROVIDERS 3.4)
MINUTE_LIMIT = 60
DAY_LIMIT = 5000
CONCURRENT_LIMIT = 5
APP_MINUTE_LIMIT = 10000

# "retried with decreasing frequency for 24 hours" (developer.xero.com webhooks): ~24 h total
WEBHOOK_RETRY_DELAYS: list[float] = [10, 30, 60, 300, 600, 1800, 3600, 7200, 14400, 28800, 28800]

IDEMPOTENCY_TTL = 24 * 3600  # mode idempotency=lenient: a day covers any retry loop
# mode idempotency=strict: "Keys expire after ~6 minutes"; "Same key + a *different* request
# -> 400 'used with a different request'" (XeroAPI/xero-prompt-library python/SKILL.md,
# citing Xero's idempotency guide)
IDEMPOTENCY_TTL_STRICT = 6 * 60

MODES = [
    Mode(
        "day_limit",
        DAY_LIMIT,
        "calls a day per organisation and app: 5,000, or 1,000 on the Starter tier",
        "developer.xero.com/pricing (app tiers since 2026-03-02: Starter 1,000 calls a day per "
        "organisation); developer.xero.com/faq/limits (5,000); PROVIDERS.md 3.4",
        minimum=1,
        integer=True,
    ),
    Mode(
        "high_volume",
        "off",
        "on: above high_volume_threshold contacts (invoices, payments), a list with an OR "
        "filter or without paging answers 400 HighVolumeException",
        "XeroAPI/xero-python #148; XeroAPI/Xero-NetStandard #604; XeroAPI/xero-php-oauth2-app "
        "#31; developer.xero.com/documentation/api/efficient-data-retrieval",
        values=("off", "on"),
    ),
    Mode(
        "high_volume_threshold",
        100_000,
        "objects of a kind above which the organisation counts as high volume",
        "XeroAPI/xero-php-oauth2-app #31 (Xero: 'organisations with more than a 100,000 payments')",
        minimum=0,
        integer=True,
    ),
    Mode(
        "lock_user_role",
        "standard",
        "the Xero role of the user who connected the app: standard (the period lock date and "
        "the end of year lock date both refuse posted documents and payments dated on or "
        "before them) or adviser (only the end of year lock date binds)",
        "help.xero.com Settings_LockDate; help.dext.com 105721 (period lock date 'stops all "
        "users except advisers', adviser lock date 'stops all users'); wise-sync FAQ "
        "36000041312 (an app connected by an adviser can post to a closed period)",
        values=("standard", "adviser"),
    ),
    Mode(
        "payment_touches_invoice",
        "yes",
        "yes: a payment created or deleted moves its invoice's UpdatedDateUTC and sends an "
        "INVOICE UPDATE webhook; no: the invoice's AmountDue/AmountPaid/Status follow but its "
        "UpdatedDateUTC stays and no event is sent (only GET /Payments shows the change)",
        "(U) not documented: developer.xero.com invoices/payments/webhooks pages are silent",
        values=("yes", "no"),
    ),
    Mode(
        "future_payment",
        "allow",
        "allow: a payment dated after today is accepted; refuse: 400 'The payment date "
        "cannot be in the future.' (wording (U))",
        "(U) not documented by Xero; a secondary troubleshooting page (drdroid.io, "
        "xero-api-invalid-payment-date) claims future payment dates are refused",
        values=("allow", "refuse"),
    ),
    Mode(
        "idempotency",
        "lenient",
        "lenient: a repeated Idempotency-Key replays the first answer for 24 h whatever the "
        "request; strict (Xero's guide): keys live 6 minutes and the same key on a "
        "different method, URL or body is a 400 'Idempotency Key: <key> is used with a "
        "different request.'",
        "XeroAPI/xero-prompt-library python/SKILL.md 'Idempotency' (6 minutes, 400 on a "
        "different request, errors cached too); the message as matched in public client "
        "code ('Idempotency Key: breeze-inv-abc is used with a different request.')",
        values=("lenient", "strict"),
    ),
]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class XeroProvider(Provider):
    name = "xero"
    # AT 30 min, RT idle 60 days, superseded RT honoured 30 min (PROVIDERS 3.1;
    # developer.xero.com/documentation/guides/oauth2/token-types)
    oauth_settings = {"access_ttl": 1800, "refresh_ttl": 60 * 86400, "grace_seconds": 1800}
    webhook_retry_delays = WEBHOOK_RETRY_DELAYS
    mode_specs = MODES
    # No published figures for Xero's response times; calcinai/xero-php #162: "the Xero API
    # can be terribly slow at times". Guessed (U): 400 ms a call, 40 ms per element written.
    latency_fixed_ms = 400.0
    latency_per_object_ms = 40.0
    latency_source = "(U) guessed: 400 ms a call, 40 ms per element; calcinai/xero-php #162"

    def __init__(self, clock: Any = None) -> None:
        super().__init__(clock)
        self.orgs: dict[str, Org] = {}
        self.event_seq = 0
        # (client, tenant, key) -> (expires at, first answer, fingerprint of the request)
        self.idempotency: dict[tuple[str, str, str], tuple[float, Response, str]] = {}
        self._jwt_key = secrets.token_bytes(32)

    # -- companies -----------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def seed_company(self, name: str, seed: str = "sandbox") -> dict[str, Any]:
        with self.lock:
            org = Org(str(uuid.uuid4()), name, self.now)
            if seed == "sandbox":
                seed_demo(org)
            self.orgs[org.tenant_id] = org
            return {"id": org.tenant_id, "name": org.name}

    def companies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"id": o.tenant_id, "name": o.name} for o in self.orgs.values()]

    def org(self, tenant_id: str) -> Org:
        for tid, org in self.orgs.items():
            if tid.lower() == tenant_id.lower():
                # the model reads the company's modes (lock dates, payments) through this
                org.mode_of = functools.partial(self.mode, tid)
                return org
        raise KeyError(f"no organisation {tenant_id}")

    @staticmethod
    def _kind(kind: str) -> str:
        for k in KINDS:
            if k.lower() == kind.lower():
                return k
        raise KeyError(f"unknown kind {kind!r}; expected one of {KINDS}")

    def list_objects(self, company_id: str, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            if kind.lower() == "organisation":
                return [self.org(company_id).organisation()]
            return list(self.org(company_id).data[self._kind(kind)].values())

    def ui_change(
        self,
        company_id: str,
        kind: str,
        action: str,
        object_id: str | None,
        fields: dict[str, Any],
    ) -> dict[str, Any]:
        """A change in Xero's own screens: same rules, same UpdatedDateUTC bump, same webhook.

        `Organisation` (update, any object id) sets the lock dates as an adviser does in
        Financial settings: `{"PeriodLockDate": "2024-03-31", "EndOfYearLockDate": null}`."""
        with self.lock:
            org = self.org(company_id)
            if kind.lower() == "organisation":
                if action != "update":
                    raise ValueError("the Organisation can only be updated (its lock dates)")
                try:
                    return org.set_lock_dates(fields)
                except Invalid as exc:
                    raise ValueError("; ".join(exc.messages)) from exc
            k = self._kind(kind)
            try:
                if action == "create":
                    obj = self._ui_create(org, k, fields)
                elif object_id is None:
                    raise ValueError("an object id is needed")
                elif action == "update":
                    obj = self._ui_update(org, k, object_id, fields)
                elif action in ("archive", "delete"):
                    obj = self._ui_remove(org, k, object_id, action)
                else:
                    raise ValueError(f"unknown action {action!r}")
            except NotFound as exc:
                raise KeyError(f"no {k} {exc}") from exc
            except Invalid as exc:
                raise ValueError("; ".join(exc.messages)) from exc
            self.publish(org)
            return obj

    def _ui_create(self, org: Org, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        if kind == "Contacts":
            return org.save_contact(fields, "create")
        if kind == "Invoices":
            return org.save_invoice(fields, "create")
        if kind == "Items":
            return org.save_item(fields, "create")
        if kind == "Payments":
            return org.save_payment(fields)
        if kind == "Accounts":
            return org.save_account(fields)
        if kind == "TrackingCategories":
            # the screen takes the category's options with it, one per line
            options = list(fields.pop("Options", None) or [])
            category = org.save_tracking_category(fields)
            for option in options:
                org.add_tracking_option(category["TrackingCategoryID"], option)
            return category
        if kind == "TaxRates":
            return org.save_tax_rate(fields, create=True)
        if kind == "BatchPayments":
            return org.save_batch_payment(fields)
        if kind == "Employees":
            from .payroll import save_employee

            return save_employee(org, fields, None)
        raise ValueError(f"{kind} cannot be created here")

    def _ui_update(self, org: Org, kind: str, oid: str, fields: dict[str, Any]) -> dict[str, Any]:
        if kind == "Contacts":
            return org.save_contact(fields, "update", oid)
        if kind == "Invoices":
            return org.save_invoice(fields, "update", oid)
        if kind == "Items":
            return org.save_item(fields, "update", oid)
        if kind == "Payments":
            return org.update_payment(oid, fields)
        if kind == "Accounts":
            return org.save_account(fields, oid)
        if kind == "TrackingCategories":
            return org.save_tracking_category(fields, oid)
        if kind == "TaxRates":
            return org.save_tax_rate({**fields, "TaxType": oid}, create=False)
        if kind == "Employees":
            from .payroll import save_employee

            return save_employee(org, fields, oid, partial=True)
        raise ValueError(f"{kind} cannot be changed here")

    def _ui_remove(self, org: Org, kind: str, oid: str, action: str) -> dict[str, Any]:
        if kind == "Contacts":  # Xero never deletes a contact; it archives it (an UPDATE event)
            return org.save_contact({"ContactStatus": "ARCHIVED"}, "update", oid)
        if kind == "Invoices":
            inv = org.get("Invoices", oid)
            status = "DELETED" if inv["Status"] in ("DRAFT", "SUBMITTED") else "VOIDED"
            return org.save_invoice({"Status": status}, "update", oid)
        if kind == "Payments":
            return org.update_payment(oid, {"Status": "DELETED"})
        if kind == "Items":
            item = org.get("Items", oid)
            del org.data["Items"][item["ItemID"]]
            return item
        if kind == "TaxRates":
            status = "ARCHIVED" if action == "archive" else "DELETED"
            return org.save_tax_rate({"TaxType": oid, "Status": status}, create=False)
        if kind in ("Accounts", "TrackingCategories"):
            status = "ARCHIVED" if action == "archive" else "DELETED"
            obj = org.get(kind, oid)
            obj["Status"] = status
            return obj
        raise ValueError(f"{kind} cannot be removed here")

    # -- snapshot ------------------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "orgs": {tid: org.to_dict() for tid, org in self.orgs.items()},
                "event_seq": self.event_seq,
            }

    def load_state(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.orgs = {
                tid: Org.from_dict(d, self.now) for tid, d in state.get("orgs", {}).items()
            }
            self.event_seq = int(state.get("event_seq", 0))
            self.idempotency.clear()

    def reset(self) -> None:
        with self.lock:
            self.orgs.clear()
            self.event_seq = 0
            self.idempotency.clear()

    # -- routes --------------------------------------------------------------------------

    def register_routes(self, router: Router) -> None:
        router.add("GET", "/identity/connect/authorize", self.authorize, limited=False)
        router.add("POST", "/connect/token", self.token, limited=False)
        router.add("POST", "/connect/revocation", self.revocation, limited=False)
        router.add("GET", "/connections", self.list_connections, auth=True, limited=False, ci=True)
        router.add(
            "DELETE", "/connections/{id}", self.delete_connection, auth=True, limited=False, ci=True
        )
        router.add("POST", "/_sim/xero/intent-to-receive", self.intent_to_receive, limited=False)
        register_accounting(router, self)
        register_payroll(router, self)

    # -- identity: authorize -------------------------------------------------------------

    def authorize(self, req: Request) -> Response:
        """Consent is given at once; the org(s) are picked by `sim_company` (ids or names,
        comma separated), else the first org (a demo org is created if there is none)."""
        client_id = req.arg("client_id") or ""
        redirect_uri = req.arg("redirect_uri") or ""
        state = req.arg("state")
        if client_id not in self.oauth.clients:
            return Response.text(
                400,
                "<h1>Error</h1><p>unauthorized_client: Invalid client_id</p>",
                "text/html; charset=utf-8",
            )
        if not self.oauth.allows_redirect(client_id, redirect_uri):
            return Response.text(
                400,
                "<h1>Error</h1><p>invalid_request: Invalid redirect_uri</p>",
                "text/html; charset=utf-8",
            )

        def fail(error: str) -> Response:
            params = {"error": error}
            if state is not None:
                params["state"] = state
            sep = "&" if "?" in redirect_uri else "?"
            return Response.redirect(redirect_uri + sep + urlencode(params))

        if req.arg("response_type") != "code":
            return fail("unsupported_response_type")
        scope = " ".join((req.arg("scope") or "").split())
        if not scope:
            return fail("invalid_scope")
        challenge = req.arg("code_challenge")
        method = req.arg("code_challenge_method") or ("plain" if challenge else None)
        if challenge and method not in ("S256", "plain"):
            return fail("invalid_request")
        with self.lock:
            wanted = [s.strip() for s in (req.arg("sim_company") or "").split(",") if s.strip()]
            tenants: list[str] = []
            for want in wanted:
                match = next(
                    (
                        o
                        for o in self.orgs.values()
                        if o.tenant_id.lower() == want.lower() or o.name == want
                    ),
                    None,
                )
                if match is None:
                    tenants.append(self.seed_company(want, "sandbox")["id"])
                else:
                    tenants.append(match.tenant_id)
            if not tenants:
                if not self.orgs:
                    self.seed_company("Demo Company (UK)", "sandbox")
                tenants = [next(iter(self.orgs))]
        now = self.now()
        auth_event = str(uuid.uuid4())
        connections = {
            tid: {
                "id": str(uuid.uuid4()),
                "authEventId": auth_event,
                "createdDateUtc": now.isoformat(),
                "updatedDateUtc": now.isoformat(),
            }
            for tid in tenants
        }
        code = self.oauth.issue_code(
            client_id,
            redirect_uri,
            tenants,
            scope,
            challenge,
            method,
            user="sim-user",
            extra={
                "auth_event_id": auth_event,
                "connections": connections,
                "nonce": req.arg("nonce"),
            },
        )
        params = {"code": code, "scope": scope}
        if state is not None:
            params["state"] = state
        sep = "&" if "?" in redirect_uri else "?"
        return Response.redirect(redirect_uri + sep + urlencode(params))

    # -- identity: token -----------------------------------------------------------------

    @staticmethod
    def _oauth_error(error: str, status: int = 400) -> Response:
        # Xero answers just {"error": "..."} (e.g. invalid_grant), no description
        return Response.json(status, {"error": error})

    def _client(self, req: Request, form: dict[str, str]) -> tuple[str | None, bool]:
        """(client_id, authenticated-with-secret); (None, _) when the client is bad."""
        basic = req.basic_auth()
        if basic is not None:
            cid, secret = basic
            return (cid, True) if self.oauth.check_client(cid, secret) else (None, False)
        cid = form.get("client_id") or ""
        if "client_secret" in form:
            ok = self.oauth.check_client(cid, form["client_secret"])
            return (cid, True) if ok else (None, False)
        return (cid, False) if cid in self.oauth.clients else (None, False)

    def token(self, req: Request) -> Response:
        form = req.form()
        client_id, with_secret = self._client(req, form)
        if client_id is None:
            return self._oauth_error("invalid_client")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            if not with_secret and not form.get("code_verifier"):
                return self._oauth_error("invalid_client")
            result = self.oauth.exchange_code(
                client_id,
                form.get("code", ""),
                form.get("redirect_uri", ""),
                form.get("code_verifier"),
            )
        elif grant_type == "refresh_token":
            result = self.oauth.refresh(client_id, form.get("refresh_token", ""))
        elif grant_type == "client_credentials":
            return self._oauth_error("unauthorized_client")
        else:
            return self._oauth_error("unsupported_grant_type")
        if isinstance(result, OAuthError):
            return self._oauth_error(result.error, result.status)
        return Response.json(200, self._token_reply(result), {"Cache-Control": "no-store"})

    def _token_reply(self, ts: TokenSet) -> dict[str, Any]:
        scopes = ts.grant.scope.split()
        reply: dict[str, Any] = {}
        if "openid" in scopes:
            reply["id_token"] = self._id_token(ts)
        reply.update(
            {
                "access_token": self._access_jwt(ts),
                "expires_in": ts.expires_in(ts.issued_at),
                "token_type": "Bearer",
            }
        )
        if "offline_access" in scopes:
            reply["refresh_token"] = ts.refresh_token
        reply["scope"] = ts.grant.scope
        return reply

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64url(json.dumps({"alg": "RS256", "kid": "sim", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._jwt_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(sig)}"

    def _access_jwt(self, ts: TokenSet) -> str:
        """A JWT-shaped access token with Xero's claims (authentication_event_id lets a client
        match `/connections` to this consent); `jti` is the simulator's own token."""
        g = ts.grant
        claims = {
            "nbf": int(ts.issued_at.timestamp()),
            "exp": int(ts.access_expires_at.timestamp()),
            "iss": "https://identity.xero.com",
            "aud": "https://identity.xero.com/resources",
            "client_id": g.client_id,
            "sub": hashlib.sha256(g.user.encode()).hexdigest()[:32],
            "auth_time": int(g.created_at.timestamp()),
            "xero_userid": str(uuid.uuid5(uuid.NAMESPACE_URL, "xero-user:" + g.user)),
            "global_session_id": g.grant_id,
            "sid": g.grant_id,
            "jti": ts.access_token,
            "authentication_event_id": g.extra.get("auth_event_id") or g.grant_id,
            "scope": g.scope.split(),
        }
        return self._sign(claims)

    def _id_token(self, ts: TokenSet) -> str:
        g = ts.grant
        claims = {
            "nbf": int(ts.issued_at.timestamp()),
            "exp": int(ts.issued_at.timestamp()) + 300,
            "iss": "https://identity.xero.com",
            "aud": g.client_id,
            "iat": int(ts.issued_at.timestamp()),
            "at_hash": _b64url(hashlib.sha256(ts.access_token.encode()).digest()[:16]),
            "sid": g.grant_id,
            "sub": hashlib.sha256(g.user.encode()).hexdigest()[:32],
            "auth_time": int(g.created_at.timestamp()),
            "xero_userid": str(uuid.uuid5(uuid.NAMESPACE_URL, "xero-user:" + g.user)),
            "global_session_id": g.grant_id,
            "preferred_username": f"{g.user}@example.com",
            "email": f"{g.user}@example.com",
            "given_name": "Sim",
            "family_name": "User",
            "name": "Sim User",
        }
        if g.extra.get("nonce"):
            claims["nonce"] = g.extra["nonce"]
        return self._sign(claims)

    def raw_access_token(self, token: str | None) -> str | None:
        """The simulator token inside a JWT access token (raw tokens pass through)."""
        if not token or token.count(".") != 2:
            return token
        header, payload, sig = token.split(".")
        expected = hmac.new(self._jwt_key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_b64url_decode(sig), expected):
                return None
            return str(json.loads(_b64url_decode(payload))["jti"])
        except (ValueError, KeyError):
            return None

    def revocation(self, req: Request) -> Response:
        """RFC 7009: 200 whatever the token; revoking drops all the grant's connections."""
        form = req.form()
        client_id, _ = self._client(req, form)
        if client_id is None:
            return self._oauth_error("invalid_client")
        token = form.get("token", "")
        self.oauth.revoke(self.raw_access_token(token) or token)
        return Response.empty(200)

    # -- identity: connections -----------------------------------------------------------

    def _connections(self, grant: Grant) -> dict[str, dict[str, Any]]:
        conns: dict[str, dict[str, Any]] = grant.extra.setdefault("connections", {})
        now = self.now().isoformat()
        for tid in grant.companies:
            conns.setdefault(
                tid,
                {
                    "id": str(uuid.uuid4()),
                    "authEventId": grant.extra.get("auth_event_id", grant.grant_id),
                    "createdDateUtc": now,
                    "updatedDateUtc": now,
                },
            )
        return conns

    @staticmethod
    def _xero_time(iso: str) -> str:
        # "2019-12-07T18:46:19.5165400": naive UTC, 7 fractional digits (xero-identity.yaml)
        dt = datetime.fromisoformat(iso).astimezone(UTC).replace(tzinfo=None)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0"

    def list_connections(self, req: Request) -> Response:
        grant: Grant = req.state["grant"]
        with self.lock:
            conns = self._connections(grant)
            out = []
            for tid in grant.companies:
                if tid not in self.orgs:
                    continue
                c = conns[tid]
                if req.arg("authEventId") and c["authEventId"] != req.arg("authEventId"):
                    continue
                out.append(
                    {
                        "id": c["id"],
                        "authEventId": c["authEventId"],
                        "tenantId": tid,
                        "tenantType": "ORGANISATION",
                        "tenantName": self.orgs[tid].name,
                        "createdDateUtc": self._xero_time(c["createdDateUtc"]),
                        "updatedDateUtc": self._xero_time(c["updatedDateUtc"]),
                    }
                )
        return Response.json(200, out)

    def delete_connection(self, req: Request) -> Response:
        grant: Grant = req.state["grant"]
        cid = req.path_params["id"].lower()
        with self.lock:
            conns = self._connections(grant)
            for tid, c in list(conns.items()):
                if c["id"].lower() == cid and tid in grant.companies:
                    grant.companies.remove(tid)
                    del conns[tid]
                    return Response.empty(204)
        return self.problem(404, "Not Found", "Resource not found")

    # -- auth, tenants, limits ------------------------------------------------------------

    def problem(self, status: int, title: str, detail: str) -> Response:
        """The API gateway's error shape for 401/403/429 (PROVIDERS 3.5; Xero docs
        http-response-codes: `{"Type":null,"Title":"Unauthorized","Status":401,
        "Detail":"TokenExpired: token expired at 03/03/2020 09:46:07",...}`)."""
        return Response.json(
            status,
            {
                "Type": None,
                "Title": title,
                "Status": status,
                "Detail": detail,
                "Instance": str(uuid.uuid4()),
                "Extensions": {},
            },
        )

    def authenticate(self, req: Request) -> Grant | Response:
        token = self.raw_access_token(req.bearer())
        status = self.oauth.access_status(token)
        if status == "expired":
            expired = self.oauth.access_expires_at(token or "")
            when = expired.strftime("%m/%d/%Y %H:%M:%S") if expired else ""
            return self.problem(401, "Unauthorized", f"TokenExpired: token expired at {when}")
        grant = self.oauth.check_access(token)
        if grant is None:
            return self.problem(401, "Unauthorized", "AuthenticationUnsuccessful")
        lower = req.path.lower()
        if lower.startswith(("/api.xro/", "/payroll.xro/")):
            tenant = (req.headers.get("xero-tenant-id") or "").strip()
            with self.lock:
                known = next((t for t in grant.companies if t.lower() == tenant.lower()), None)
                if not tenant or known is None or known not in self.orgs:
                    return self.problem(403, "Forbidden", "AuthenticationUnsuccessful")
            req.state["company"] = known
            if not self._scope_ok(req, grant):
                return self.problem(401, "Unauthorized", "AuthorizationUnsuccessful")
        return grant

    SCOPES = {
        "contacts": ("accounting.contacts",),
        "invoices": ("accounting.transactions", "accounting.invoices"),
        "items": ("accounting.transactions", "accounting.invoices", "accounting.settings"),
        "payments": ("accounting.transactions", "accounting.payments"),
        "batchpayments": ("accounting.transactions", "accounting.payments"),
        "accounts": ("accounting.settings",),
        "taxrates": ("accounting.settings",),
        "trackingcategories": ("accounting.settings",),
        "organisation": ("accounting.settings",),
        "employees": ("payroll.employees",),
        "leavetypes": ("payroll.settings",),
    }

    def _scope_ok(self, req: Request, grant: Grant) -> bool:
        """Scope per endpoint (developer.xero.com/documentation/guides/oauth2/scopes); grants
        made without a scope (`/_sim/oauth/tokens`) may call anything."""
        if not grant.scope.strip():
            return True
        parts = [p for p in req.path.lower().split("/") if p]
        resource = parts[2] if len(parts) > 2 else ""
        needed = self.SCOPES.get(resource)
        if needed is None:
            return True
        have = set(grant.scope.split())
        write = req.method in ("PUT", "POST", "DELETE")
        return any(s in have or (not write and f"{s}.read" in have) for s in needed)

    def limit_keys(self, req: Request, grant: Grant | None) -> list[LimitCheck]:
        if grant is None:
            return []
        tenant = str(req.state.get("company") or "-")
        key = f"{tenant}:{grant.client_id}"
        day_limit = int(self.mode(tenant, "day_limit")) if tenant != "-" else DAY_LIMIT
        return [
            LimitCheck.concurrent("concurrent", key, CONCURRENT_LIMIT),
            LimitCheck.sliding("minute", key, MINUTE_LIMIT, 60),
            LimitCheck.sliding("day", key, day_limit, 86400),
            LimitCheck.sliding("appminute", grant.client_id, APP_MINUTE_LIMIT, 60),
        ]

    def throttled(self, req: Request, decision: Decision) -> Response:
        """429 naming the limit in X-Rate-Limit-Problem; Retry-After comes with the minute and
        day limits (and the app-wide minute), not the concurrent one, where there is no time to
        wait for (developer.xero.com/documentation/guides/oauth2/limits)."""
        hit = (
            decision.hit
            if decision.hit in ("minute", "day", "concurrent", "appminute")
            else "minute"
        )
        resp = self.problem(429, "Too Many Requests", f"Rate limit exceeded: {hit} limit")
        if hit != "concurrent":
            resp.headers["Retry-After"] = str(max(1, decision.retry_after))
        resp.headers["X-Rate-Limit-Problem"] = hit
        return resp

    def on_response(self, req: Request, resp: Response) -> None:
        """X-DayLimit-Remaining / X-MinLimit-Remaining / X-AppMinLimit-Remaining on every
        API response (developer.xero.com/documentation/guides/oauth2/limits)."""
        decision: Decision | None = req.state.get("limits")
        if decision is None:
            return
        rem = decision.remaining
        names = {
            "day": "X-DayLimit-Remaining",
            "minute": "X-MinLimit-Remaining",
            "appminute": "X-AppMinLimit-Remaining",
        }
        for bucket, header in names.items():
            if bucket in rem:
                resp.headers[header] = str(max(0, rem[bucket]))
            elif not decision.allowed:
                # the denied call was counted nowhere; report the limit it did not reach
                continue

    def server_error(self, req: Request, status: int) -> Response:
        if status == 503:
            # Xero's outage / organisation-offline answer is plain text (PROVIDERS 3.5)
            return Response.text(
                503, "The Xero API is currently unavailable. Please try again later."
            )
        return Response.json(
            status,
            {
                "ErrorNumber": 500 if status == 500 else status,
                "Type": "UnknownErrorException" if status == 500 else "ApiException",
                "Message": "An error occurred in Xero. Check the API Status page "
                "http://status.developer.xero.com for current service status.",
            },
        )

    def not_found(self, req: Request) -> Response:
        return Response.text(404, "The resource you're looking for cannot be found")

    def bad_request(self, req: Request, message: str) -> Response:
        return Response.json(
            400, {"ErrorNumber": 14, "Type": "PostDataInvalidException", "Message": message}
        )

    # -- idempotency ---------------------------------------------------------------------

    def idempotent(self, req: Request, run: Any) -> Response:
        """Replay the first answer for a repeated `Idempotency-Key` (xero-python sends it as a
        header on every create/update; Xero-OpenAPI: "safely retry requests without the risk
        of duplicate processing. 128 character max"). Mode `idempotency`: `lenient` replays
        for 24 h whatever the request; `strict` follows Xero's guide (6 minutes; the same key
        on a different method, path, query or body is a 400)."""
        key = req.headers.get("Idempotency-Key")
        if not key:
            return run()  # type: ignore[no-any-return]
        if len(key) > 128:
            return Response.json(
                400,
                {
                    "ErrorNumber": 10,
                    "Type": "ValidationException",
                    "Message": "Idempotency-Key must be 128 characters or less",
                },
            )  # (U) wording
        grant: Grant = req.state["grant"]
        company = str(req.state.get("company"))
        cache_key = (grant.client_id, company, key)
        strict = self.mode(company, "idempotency") == "strict"
        ttl = IDEMPOTENCY_TTL_STRICT if strict else IDEMPOTENCY_TTL
        query = "&".join(f"{k}={v}" for k, vs in sorted(req.query.items()) for v in vs)
        fingerprint = hashlib.sha256(
            f"{req.method} {req.path.lower()}?{query}\n".encode() + req.body
        ).hexdigest()
        now = self.clock.timestamp()
        with self.lock:
            for k, entry in list(self.idempotency.items()):
                if now >= entry[0]:  # each key expires at the TTL in force when it was used
                    del self.idempotency[k]
            hit = self.idempotency.get(cache_key)
            if hit is not None:
                _, cached, first_print = hit
                if strict and first_print != fingerprint:
                    return Response.json(
                        400,
                        {
                            "ErrorNumber": 10,
                            "Type": "ValidationException",
                            "Message": f"Idempotency Key: {key} is used with a different request.",
                        },
                    )  # status and wording as reported (2nd); envelope (U)
                return Response(cached.status, cached.body, dict(cached.headers))
            resp: Response = run()
            if resp.status < 500:
                self.idempotency[cache_key] = (
                    now + ttl,
                    Response(resp.status, resp.body, dict(resp.headers)),
                    fingerprint,
                )
            return resp

    # -- webhooks ------------------------------------------------------------------------

    def publish(self, org: Org) -> None:
        """Send the org's pending CONTACT/INVOICE events as one signed delivery."""
        events = org.take_events()
        if not events:
            return
        seen: set[tuple[str, str, str]] = set()
        out = []
        now = self.now()
        for category, event_type, oid in events:
            if (category, event_type, oid) in seen:
                continue
            if event_type == "UPDATE" and (category, "CREATE", oid) in seen:
                continue
            seen.add((category, event_type, oid))
            plural = "Contacts" if category == "CONTACT" else "Invoices"
            out.append(
                {
                    "resourceUrl": f"https://api.xero.com/api.xro/2.0/{plural}/{oid}",
                    "resourceId": oid,
                    "eventDateUtc": now.replace(tzinfo=None).isoformat(timespec="milliseconds"),
                    "eventType": event_type,
                    "eventCategory": category,
                    "tenantId": org.tenant_id,
                    "tenantType": "ORGANISATION",
                }
            )
        if not self.webhooks.url:
            return
        first = self.event_seq + 1
        self.event_seq += len(out)
        body = {
            "events": out,
            "firstEventSequence": first,
            "lastEventSequence": self.event_seq,
            "entropy": _entropy(),
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        self.webhooks.deliver(raw, self._webhook_headers(raw, self.webhooks.key or ""))

    @staticmethod
    def _webhook_headers(raw: bytes, key: str) -> dict[str, str]:
        sig = base64.b64encode(hmac.new(key.encode(), raw, hashlib.sha256).digest()).decode()
        return {"Content-Type": "application/json", "x-xero-signature": sig}

    def intent_to_receive(self, req: Request) -> Response:
        """Xero's Intent to Receive check: good- and bad-signed POSTs with no events; the
        endpoint must answer 200 and 401 respectively (developer.xero.com/documentation/
        guides/webhooks/configuring-your-server)."""
        if not self.webhooks.url:
            return Response.json(400, {"error": "no webhook url configured (PUT /_sim/webhooks)"})
        key = self.webhooks.key or ""
        attempts = []
        for good in (True, False, True, False):
            body = {
                "events": [],
                "firstEventSequence": 0,
                "lastEventSequence": 0,
                "entropy": _entropy(),
            }
            raw = json.dumps(body, separators=(",", ":")).encode()
            headers = self._webhook_headers(raw, key if good else key + "-wrong")
            status = self.webhooks.post_now(raw, headers)
            expected = 200 if good else 401
            attempts.append(
                {
                    "signature": "valid" if good else "invalid",
                    "expected": expected,
                    "status": status,
                    "ok": status == expected,
                }
            )
        passed = all(a["ok"] for a in attempts)
        return Response.json(
            200,
            {
                "passed": passed,
                "status": "OK" if passed else "Intent to receive failed",
                "attempts": attempts,
            },
        )

    # -- envelope ------------------------------------------------------------------------

    def envelope(
        self,
        req: Request,
        plural: str,
        items: list[dict[str, Any]],
        pagination: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        grant: Grant | None = req.state.get("grant")
        out: dict[str, Any] = {
            "Id": new_id(),
            "Status": "OK",
            "ProviderName": grant.client_id if grant else "booksync",
            "DateTimeUTC": ms_date(self.now(), offset=False),
        }
        if pagination is not None:
            out["pagination"] = pagination
        out[plural] = [compact(i) for i in items]
        return out


def compact(value: Any) -> Any:
    """Drop null properties, as the Accounting API's JSON does (an absent DefaultCurrency is
    omitted, not null; xero-python's deserializer cannot read a null enum)."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def _entropy() -> str:
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(20))
