"""Connecting a tenant's books: OAuth connect, callback, disconnect, and listing.

The flow has three steps, so that books are connected only by the browser that started,
to the firm that person saw named:

1. `start` (the practice app, with its API key): a single-use hand-off, 10 minutes.
2. `begin` (the person's browser opens the hand-off page): the page names the firm and
   the provider; it sets a browser-binding cookie whose hash goes into the OAuth state.
3. `callback` (the provider sends the browser back): the state must be signed, unexpired,
   unused and carry the hash of this browser's cookie; a consent forwarded to someone
   else's browser is refused.

State is signed (HMAC), expiring (10 minutes) and single use (a Leases row consumed by a
conditional delete). The callback stores nothing until every check has passed: state and
browser, consent, code exchange, company (QBO: the company-info call must succeed for the
realm the callback names), the one-company-per-tenant rules (a conditional write on the
company's claim item, so two firms connecting one company at once cannot both succeed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from booksync.connections.tokens import REAUTH_CODE, TokenVault
from booksync.engine.messages import PROVIDERS, Pull
from booksync.engine.outbox import reconcile_push
from booksync.engine.queues import Enqueuer
from booksync.errors import Conflict, InvalidInput, NotFound
from booksync.observability import logger
from booksync.providers.oauth import (
    Company,
    OAuthFailure,
    ProviderOAuth,
    TokenEndpointUnreachable,
    TokenSet,
)
from booksync.store import Connection, audit, leases, links, tenants, utcnow
from booksync.store import connections as connection_rows
from booksync.store.sync_errors import count_open, resolve_errors

STATE_TTL = 600
HANDOFF_TTL = 600
PENDING_TTL = 900
PROVIDER_NAMES = {"qbo": "QuickBooks Online", "qbt": "QuickBooks Time", "xero": "Xero"}


class ConnectRefused(Exception):
    """The callback cannot complete; `message` is shown to the person on the page."""

    def __init__(self, title: str, message: str, status: int = 400) -> None:
        self.title = title
        self.message = message
        self.status = status
        super().__init__(message)


@dataclass
class Outcome:
    """What the callback page shows."""

    status: int
    title: str
    message: str
    choices: list[dict[str, str]] = field(default_factory=list)  # Xero: organisations to pick


@dataclass(frozen=True)
class HandOff:
    """What the hand-off page shows and sets: the firm, the provider's sign-in URL, and the
    secret the browser keeps in a cookie (only its hash is stored with the state)."""

    tenant_id: str
    firm_name: str
    provider: str
    authorize_url: str
    browser_secret: str


def browser_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_provider(provider: str) -> str:
    if provider not in PROVIDERS:
        raise NotFound(f"unknown provider {provider!r}; booksync connects qbo, qbt and xero")
    return provider


@dataclass
class ConnectionManager:
    signing_key: bytes
    vault: TokenVault
    oauth_for: Callable[[str], ProviderOAuth]
    enqueuer: Enqueuer
    now: Callable[[], datetime] = utcnow

    # ------------------------------------------------------------------ state
    def _sign(self, nonce: str) -> str:
        return hmac.new(self.signing_key, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def start(
        self,
        tenant_id: str,
        provider: str,
        reset: bool = False,
        by: str = "",
        settings: dict[str, Any] | None = None,
    ) -> str:
        """A single-use hand-off for the person's browser (step 1): its token. `by`: the
        key that asked, named in the audit trail if a reset forgets links. `settings`
        (checked by the caller): saved on the connection before its first pull, so import
        options (a Xero firm's customers only) hold from the first import."""
        check_provider(provider)
        tenant = tenants.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"no tenant {tenant_id}")
        token = secrets.token_urlsafe(24)
        leases.put_once(
            f"handoff#{token}",
            {
                "tenant_id": tenant_id,
                "provider": provider,
                "reset": reset,
                "by": by,
                "firm_name": str(tenant.name),
                "settings": dict(settings or {}),
            },
            HANDOFF_TTL,
        )
        return token

    def begin(self, provider: str, handoff: str, redirect_uri: str) -> HandOff:
        """The person's browser opened the hand-off (step 2): the provider's authorize URL,
        with a state bound to the tenant and to this browser's cookie."""
        check_provider(provider)
        value = leases.take(f"handoff#{handoff}") if handoff else None
        if value is None or value.get("provider") != provider:
            raise ConnectRefused(
                "This link has expired",
                "Connection links work once and for 10 minutes. Start again from booksync.",
            )
        nonce = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        browser = secrets.token_urlsafe(32)
        leases.put_once(
            f"state#{nonce}",
            {
                "tenant_id": value["tenant_id"],
                "provider": provider,
                "verifier": verifier,
                "redirect_uri": redirect_uri,
                "reset": bool(value.get("reset")),
                "by": str(value.get("by") or ""),
                "browser": browser_hash(browser),
                "settings": dict(value.get("settings") or {}),
            },
            STATE_TTL,
        )
        url = self.oauth_for(provider).authorization_url(
            f"{nonce}.{self._sign(nonce)}", redirect_uri, verifier
        )
        return HandOff(
            tenant_id=value["tenant_id"],
            firm_name=str(value.get("firm_name") or ""),
            provider=provider,
            authorize_url=url,
            browser_secret=browser,
        )

    @staticmethod
    def _same_browser(value: dict[str, Any], browser: str | None) -> None:
        expected = str(value.get("browser") or "")
        if not expected or not browser or not hmac.compare_digest(expected, browser_hash(browser)):
            raise ConnectRefused(
                "This sign-in was started in another browser",
                "Books are connected only from the browser that opened booksync's "
                "connection page, so a sign-in link sent to someone else cannot connect "
                "their books to your firm. Nothing was stored. Start again from booksync "
                "in this browser.",
                403,
            )

    def _consume_state(self, provider: str, state: str) -> dict[str, Any]:
        nonce, _, signature = state.partition(".")
        if not nonce or not hmac.compare_digest(signature, self._sign(nonce)):
            raise ConnectRefused(
                "This link is not valid",
                "The sign-in answer did not come from a "
                "connect request booksync made. Start again from booksync.",
            )
        value = leases.take(f"state#{nonce}")
        if value is None:
            raise ConnectRefused(
                "This link has expired",
                "The sign-in took longer than 10 minutes "
                "or this page was opened twice. Start again from booksync.",
            )
        if value["provider"] != provider:
            raise ConnectRefused(
                "This link is not valid", "The answer came back for another provider."
            )
        return value

    # ------------------------------------------------------------------ callback
    def callback(self, provider: str, query: dict[str, str], browser: str | None = None) -> Outcome:
        """The provider sent the browser back (step 3); `browser`: its binding cookie."""
        check_provider(provider)
        name = PROVIDER_NAMES[provider]
        if "pending" in query:
            return self._choose(provider, query, browser)
        state = self._consume_state(provider, query.get("state", ""))
        self._same_browser(state, browser)
        if query.get("error"):
            detail = query.get("error_description") or query["error"]
            raise ConnectRefused(
                f"{name} was not connected",
                f"Access was not granted ({detail}). Nothing was stored.",
            )
        code = query.get("code", "")
        if not code:
            raise ConnectRefused(
                f"{name} was not connected", "The answer had no authorisation code."
            )
        oauth = self.oauth_for(provider)
        tokens: TokenSet | None = None
        try:
            tokens = oauth.exchange(code, state["redirect_uri"], state["verifier"])
            companies = oauth.companies(tokens, query)
        except OAuthFailure as exc:
            if tokens is not None:  # a grant we will not keep: give it back
                self._revoke_quietly(provider, tokens)
            if exc.error == "realm_mismatch":
                raise ConnectRefused(
                    f"{name} was not connected",
                    f"The sign-in does not cover the {name} company the answer named. "
                    "Nothing was stored. Start again from booksync.",
                    403,
                ) from exc
            raise ConnectRefused(
                f"{name} was not connected",
                f"{name} refused the sign-in ({exc.error}). Start again.",
            ) from exc
        except TokenEndpointUnreachable as exc:
            raise ConnectRefused(
                f"{name} was not connected",
                f"{name} did not answer. Try again in a few minutes.",
                502,
            ) from exc
        tenant_id = state["tenant_id"]
        if not companies:
            raise ConnectRefused(
                f"{name} was not connected", "The sign-in covered no organisation."
            )
        if len(companies) > 1:
            pending = secrets.token_urlsafe(24)
            leases.put_once(
                f"pending#{pending}",
                {
                    "tenant_id": tenant_id,
                    "reset": state["reset"],
                    "by": state.get("by", ""),
                    "browser": state["browser"],
                    "sealed": self.vault.seal(
                        tenant_id, provider, tokens, connection_id=f"pending:{pending}"
                    ),
                    "companies": [c.__dict__ for c in companies],
                    "settings": dict(state.get("settings") or {}),
                },
                PENDING_TTL,
            )
            return Outcome(
                200,
                f"Choose the {name} organisation",
                "The sign-in covers several organisations. "
                "Choose the one this firm keeps its books in.",
                [{"id": c.company_id, "name": c.name, "pending": pending} for c in companies],
            )
        reset_by = str(state.get("by") or "") if state["reset"] else None
        return self._bind(
            tenant_id, provider, companies[0], tokens, reset_by, state.get("settings")
        )

    def _choose(self, provider: str, query: dict[str, str], browser: str | None) -> Outcome:
        pending = query["pending"]
        value = leases.take(f"pending#{pending}") if pending else None
        if value is None:
            raise ConnectRefused("This choice has expired", "Start again from booksync.")
        self._same_browser(value, browser)
        companies = [Company(**c) for c in value["companies"]]
        chosen = [c for c in companies if c.company_id == query.get("company")]
        if not chosen:
            raise ConnectRefused("Unknown organisation", "Start again from booksync.")
        tokens = self.vault.open(
            value["tenant_id"], provider, value["sealed"], connection_id=f"pending:{pending}"
        )
        oauth = self.oauth_for(provider)
        for other in companies:
            if other.company_id != chosen[0].company_id:
                oauth.drop_company(tokens, other)
        reset_by = str(value.get("by") or "") if value["reset"] else None
        return self._bind(
            value["tenant_id"], provider, chosen[0], tokens, reset_by, value.get("settings")
        )

    def _bind(
        self,
        tenant_id: str,
        provider: str,
        company: Company,
        tokens: TokenSet,
        reset_by: str | None,
        settings: dict[str, Any] | None = None,
    ) -> Outcome:
        """`reset_by`: the key that asked for a reset (None: no reset); `settings`: given
        when the connect began, over those the connection holds."""
        reset = reset_by is not None
        name = PROVIDER_NAMES[provider]
        company_key = f"{provider}#{company.company_id}"
        for other in connection_rows.with_company(company_key):
            if other.tenant_id != tenant_id and other.status in ("active", "needs_reauth"):
                self._revoke_quietly(provider, tokens)
                raise ConnectRefused(
                    f"{company.name} is already connected",
                    f"This {name} company is connected to another booksync firm. "
                    "Disconnect it there first.",
                    409,
                )
        conn = connection_rows.get(tenant_id, provider) or connection_rows.new(
            tenant_id, provider, str(uuid.uuid4())
        )
        held_before = conn.company_key
        same_company = conn.company_id in (None, company.company_id)
        if not same_company:
            if links.has_links(tenant_id, provider) and not reset:
                self._revoke_quietly(provider, tokens)
                raise ConnectRefused(
                    f"Another {name} company was connected before",
                    f"booksync holds links to {conn.company_name or conn.company_id}. Connecting "
                    f"{company.name} instead would mix two sets of books. Reconnect that company, "
                    "or start the connection again with a reset to forget the old links.",
                    409,
                )
            if reset:
                links.forget_links(tenant_id, provider)
                audit.record(tenant_id, str(reset_by), "connection.reset", provider=provider)
            conn.connection_id = str(uuid.uuid4())  # new books, new cursors
            conn.connected_at = None
        now = self.now()
        # the same books again: what changed in the hub since the last good sync goes now
        away_since = (conn.last_sync_at or conn.connected_at) if conn.connected_at else None
        if settings:
            conn.settings = {**(conn.settings or {}), **settings}
        conn.company_id = company.company_id
        conn.company_key = company_key
        conn.company_name = company.name
        conn.status = "active"
        conn.tokens = self.vault.seal(
            tenant_id, provider, tokens, connection_id=str(conn.connection_id)
        )
        conn.token_version = (conn.token_version or 0) + 1
        conn.access_expires_at = datetime.fromtimestamp(tokens.expires_at, now.tzinfo)
        conn.refreshed_at = now
        conn.connected_at = conn.connected_at or now
        conn.updated_at = now
        try:
            self._claim(conn, held_before)
        except tenants.CompanyTaken as exc:
            # another firm connected this company a moment ago: theirs stands
            self._revoke_quietly(provider, tokens)
            raise ConnectRefused(
                f"{company.name} is already connected",
                f"This {name} company is connected to another booksync firm. "
                "Disconnect it there first.",
                409,
            ) from exc
        resolved = resolve_errors(tenant_id, provider, REAUTH_CODE[provider])
        # A reconnect: every record changed while the connection was away is pushed now
        # (the outbox skipped it), and a pull reads what changed at the provider
        # meanwhile. A first connection pushes nothing: its pull imports and matches the
        # provider's contacts first; "save and sync" sends the rest.
        queued = reconcile_push(conn, self.enqueuer, since=away_since) if away_since else None
        self.enqueuer.send(
            Pull.model_validate(
                {
                    "tenant_id": tenant_id,
                    "connection_id": conn.connection_id,
                    "provider": provider,
                    "reason": "manual",
                    "trigger": f"connect-{now.isoformat()}",
                }
            )
        )
        logger.info(
            "connected",
            extra={
                "tenant_id": tenant_id,
                "provider": provider,
                "connection_id": conn.connection_id,
                "company_id": company.company_id,
                "resumed": same_company,
                "errors_resolved": resolved,
                "records_queued": queued.kinds if queued else {},
            },
        )
        return Outcome(200, f"{name} is connected", f"booksync is now connected to {company.name}.")

    @staticmethod
    def _claim(conn: Connection, held_before: str | None) -> None:
        """Save the connection with its company's claim; a claim left by a firm whose
        connection no longer holds the company (deleted, moved on) is taken over once."""
        try:
            tenants.save_with_claim(conn, released=held_before)
            return
        except tenants.CompanyTaken:
            holder = tenants.company_holder(str(conn.company_key))
            if holder is None or holder == conn.tenant_id:
                raise
            theirs = connection_rows.get(holder, str(conn.provider))
            if (
                theirs is not None
                and theirs.company_key == conn.company_key
                and theirs.status in ("active", "needs_reauth")
            ):
                raise
            tenants.release_company(holder, str(conn.company_key))
        tenants.save_with_claim(conn, released=held_before)

    def _revoke_quietly(self, provider: str, tokens: TokenSet) -> None:
        try:
            self.oauth_for(provider).revoke(tokens)
        except Exception:  # the refusal is what matters to the person; say it in the log
            logger.exception("could not revoke a refused grant", extra={"provider": provider})

    # ------------------------------------------------------------------ disconnect
    def disconnect(self, tenant_id: str, provider: str, by: str) -> dict[str, Any]:
        """Revoke at the provider and forget the tokens; `by`: who asked (audit trail)."""
        check_provider(provider)
        conn = connection_rows.get(tenant_id, provider)
        if conn is None:
            raise NotFound(f"{PROVIDER_NAMES[provider]} is not connected")
        revoked: bool | str = False
        if conn.tokens:
            try:
                revoked = self.oauth_for(provider).revoke(self.vault.open_connection(conn))
            except Exception as exc:  # tokens are forgotten regardless; the answer says so
                logger.warning(
                    "revocation failed",
                    extra={"connection_id": conn.connection_id, "error": str(exc)},
                )
                revoked = f"failed: {exc}"
        connection_rows.disconnect(conn)
        tenants.release_company(tenant_id, conn.company_key)  # another firm may connect it
        audit.record(tenant_id, by, "connection.disconnect", provider=provider)
        logger.info(
            "disconnected", extra={"tenant_id": tenant_id, "connection_id": conn.connection_id}
        )
        return {
            "provider": provider,
            "status": "disconnected",
            "revoked_at_provider": revoked,
            "links_kept": True,
        }


def describe(tenant_id: str) -> list[dict[str, Any]]:
    """GET /v1/connections: every provider, connected or not."""
    by_provider = {c.provider: c for c in connection_rows.of_tenant(tenant_id)}
    out = []
    for provider in PROVIDERS:
        conn = by_provider.get(provider)
        open_errors, capped = count_open(tenant_id, provider)
        out.append(
            {
                "provider": provider,
                "name": PROVIDER_NAMES[provider],
                "status": conn.status if conn else "not_connected",
                "company_id": conn.company_id if conn else None,
                "company_name": conn.company_name if conn else None,
                "connected_since": conn.connected_at.isoformat()
                if conn and conn.connected_at
                else None,
                "last_successful_sync": conn.last_sync_at.isoformat()
                if conn and conn.last_sync_at
                else None,
                "open_errors": open_errors,
                "open_errors_capped": capped,  # more rows than one answer reads
            }
        )
    return out


def validate_settings(provider: str, data: Any, schema: type[BaseModel]) -> dict[str, Any]:
    """Per-provider settings; an unknown field is a 400 naming it (pydantic extra=forbid)."""
    from pydantic import ValidationError

    check_provider(provider)
    try:
        model = schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidInput(f"{field_name}: {first['msg']}", field=field_name) from exc
    result: dict[str, Any] = model.model_dump(mode="json")
    return result


def get_connection(tenant_id: str, provider: str) -> Connection:
    conn = connection_rows.get(tenant_id, check_provider(provider), consistent=False)
    if conn is None:
        raise NotFound(f"{PROVIDER_NAMES[provider]} is not connected")
    return conn


def active_connection(tenant_id: str, provider: str) -> Connection:
    """The connection, if it is active (else a 409 saying to connect it first)."""
    conn = get_connection(tenant_id, provider)
    if conn.status != "active":
        raise Conflict(f"{PROVIDER_NAMES[provider]} is {conn.status}; connect it first")
    return conn


def save_settings(tenant_id: str, provider: str, settings: dict[str, Any]) -> None:
    conn = get_connection(tenant_id, provider)
    if conn.status == "disconnected":
        raise Conflict(f"{PROVIDER_NAMES[provider]} is disconnected; connect it first")
    connection_rows.set_settings(conn, settings)
