"""OAuth 2.0 token bookkeeping shared by the simulators.

The three providers differ in endpoints and reply shapes but agree on the hard part a client
gets wrong: single-use codes, PKCE, rotating refresh tokens with an idle and a hard lifetime,
a grace period for a superseded refresh token (Xero: "the old refresh token may be retried for
30 minutes" if the reply was lost), and `invalid_grant` afterwards. That part lives here;
each provider shapes its own HTTP endpoints and bodies around it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from .clock import Clock

DEFAULT_CLIENT_ID = "booksync-dev"
DEFAULT_CLIENT_SECRET = "booksync-dev-secret"
CODE_TTL = 600  # authorization codes live 10 minutes (RFC 6749 s4.1.2 recommends <= 10 min)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


@dataclass
class Client:
    """A registered app. `redirect_uris=None` accepts any http loopback URI (dev client)."""

    client_id: str
    secret: str
    redirect_uris: list[str] | None = None

    def allows_redirect(self, uri: str) -> bool:
        if self.redirect_uris is not None:
            return uri in self.redirect_uris
        parts = urlsplit(uri)
        return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


@dataclass
class Grant:
    """One consent: a user let a client reach some companies. Tokens hang off a grant."""

    grant_id: str
    client_id: str
    companies: list[str]
    scope: str
    user: str
    created_at: datetime
    hard_expires_at: datetime | None
    revoked: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TokenSet:
    """What a token endpoint hands out; providers render it in their own JSON shape."""

    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    grant: Grant
    issued_at: datetime

    def expires_in(self, now: datetime) -> int:
        return max(0, int((self.access_expires_at - now).total_seconds()))

    def refresh_expires_in(self, now: datetime) -> int:
        return max(0, int((self.refresh_expires_at - now).total_seconds()))

    def refresh_hard_expires_in(self, now: datetime) -> int | None:
        hard = self.grant.hard_expires_at
        return None if hard is None else max(0, int((hard - now).total_seconds()))


@dataclass(frozen=True)
class OAuthError:
    """An RFC 6749 s5.2 error: `error` code (`invalid_grant`, `invalid_client`, ...)."""

    error: str
    description: str = ""
    status: int = 400


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    companies: list[str]
    scope: str
    user: str
    challenge: str | None
    method: str | None
    expires_at: datetime
    used: bool = False
    grant_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Refresh:
    grant_id: str
    expires_at: datetime
    superseded_at: datetime | None = None
    successor: TokenSet | None = None


@dataclass
class _Access:
    grant_id: str
    expires_at: datetime


class OAuthServer:
    """Codes, grants, access and refresh tokens; every check reads `clock.now()`.

    Lifetimes are seconds: `access_ttl`; `refresh_ttl` (idle: a refresh token dies this long
    after it was issued unless used); `refresh_hard_ttl` (from consent, None for no cap);
    `grace_seconds` (how long a superseded refresh token still answers, with the very token
    set it produced); `rotate_refresh` (False keeps the same refresh token and extends it).
    """

    def __init__(
        self,
        clock: Clock,
        access_ttl: int = 3600,
        refresh_ttl: int = 100 * 86400,
        refresh_hard_ttl: int | None = None,
        grace_seconds: int = 0,
        rotate_refresh: bool = True,
    ) -> None:
        self.clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.refresh_hard_ttl = refresh_hard_ttl
        self.grace_seconds = grace_seconds
        self.rotate_refresh = rotate_refresh
        self._defaults = self.settings()
        self._lock = threading.RLock()
        self.clients: dict[str, Client] = {}
        self._codes: dict[str, _Code] = {}
        self._grants: dict[str, Grant] = {}
        self._access: dict[str, _Access] = {}
        self._refresh: dict[str, _Refresh] = {}
        self.reset()

    # -- configuration -------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {
            "access_ttl": self.access_ttl,
            "refresh_ttl": self.refresh_ttl,
            "refresh_hard_ttl": self.refresh_hard_ttl,
            "grace_seconds": self.grace_seconds,
            "rotate_refresh": self.rotate_refresh,
        }

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change lifetimes (the `/_sim/oauth` endpoint); unknown names raise ValueError."""
        unknown = set(settings) - set(self._defaults)
        if unknown:
            raise ValueError(f"unknown OAuth settings: {sorted(unknown)}")
        for name, value in settings.items():
            if name == "rotate_refresh":
                ok = isinstance(value, bool)
            else:
                optional = name == "refresh_hard_ttl" and value is None
                ok = optional or (isinstance(value, int) and not isinstance(value, bool))
            if not ok or (isinstance(value, int) and value < 0):
                raise ValueError(f"bad value for {name}: {value!r}")
        with self._lock:
            for name, value in settings.items():
                setattr(self, name, value)
        return self.settings()

    def register_client(
        self, client_id: str, secret: str, redirect_uris: list[str] | None = None
    ) -> Client:
        with self._lock:
            client = Client(client_id, secret, list(redirect_uris) if redirect_uris else None)
            self.clients[client_id] = client
            return client

    def check_client(self, client_id: str, secret: str | None) -> bool:
        """Client authentication for token endpoints (constant-time secret compare)."""
        client = self.clients.get(client_id)
        return bool(client and secret is not None and hmac.compare_digest(client.secret, secret))

    def allows_redirect(self, client_id: str, redirect_uri: str) -> bool:
        client = self.clients.get(client_id)
        return bool(client and client.allows_redirect(redirect_uri))

    def reset(self) -> None:
        """Forget every token and client; back to the provider's lifetimes and the dev client."""
        with self._lock:
            for name, value in self._defaults.items():
                setattr(self, name, value)
            self.clients.clear()
            self._codes.clear()
            self._grants.clear()
            self._access.clear()
            self._refresh.clear()
            self.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)

    # -- flows ---------------------------------------------------------------------------

    def issue_code(
        self,
        client_id: str,
        redirect_uri: str,
        companies: list[str],
        scope: str,
        code_challenge: str | None = None,
        method: str | None = None,
        user: str = "sim-user",
        extra: dict[str, Any] | None = None,
    ) -> str:
        """A single-use authorization code, valid 10 minutes, for a consent just given."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Code(
                client_id,
                redirect_uri,
                list(companies),
                scope,
                user,
                code_challenge,
                (method or "plain") if code_challenge else None,
                self.clock.now() + timedelta(seconds=CODE_TTL),
                extra=dict(extra or {}),
            )
        return code

    def exchange_code(
        self, client_id: str, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenSet | OAuthError:
        with self._lock:
            rec = self._codes.get(code)
            if rec is None:
                return OAuthError("invalid_grant", "authorization code is unknown")
            if rec.used:
                # RFC 6749 s4.1.2: a reused code SHOULD revoke the tokens issued from it.
                if rec.grant_id in self._grants:
                    self._grants[rec.grant_id].revoked = True
                return OAuthError("invalid_grant", "authorization code was already used")
            rec.used = True
            if self.clock.now() > rec.expires_at:
                return OAuthError("invalid_grant", "authorization code expired")
            if rec.client_id != client_id:
                return OAuthError("invalid_grant", "code was issued to another client")
            if rec.redirect_uri != redirect_uri:
                return OAuthError("invalid_grant", "redirect_uri does not match")
            if rec.challenge is not None and not _pkce_ok(rec.challenge, rec.method, code_verifier):
                return OAuthError("invalid_grant", "PKCE code_verifier does not match")
            grant = self._new_grant(client_id, rec.companies, rec.scope, rec.user, rec.extra)
            rec.grant_id = grant.grant_id
            return self._issue(grant)

    def issue_direct(
        self,
        companies: list[str],
        client_id: str = DEFAULT_CLIENT_ID,
        scope: str = "",
        user: str = "sim-user",
        extra: dict[str, Any] | None = None,
    ) -> TokenSet:
        """A fresh grant and tokens without the consent dance (tests, demo, /_sim/oauth/tokens)."""
        with self._lock:
            return self._issue(self._new_grant(client_id, companies, scope, user, extra or {}))

    def refresh(self, client_id: str, refresh_token: str) -> TokenSet | OAuthError:
        """Rotate `refresh_token`; the superseded one replays its successor during grace."""
        with self._lock:
            now = self.clock.now()
            rec = self._refresh.get(refresh_token)
            if rec is None:
                return OAuthError("invalid_grant", "refresh token is unknown")
            grant = self._grants[rec.grant_id]
            if grant.client_id != client_id:
                return OAuthError("invalid_grant", "refresh token was issued to another client")
            if grant.revoked:
                return OAuthError("invalid_grant", "refresh token was revoked")
            if grant.hard_expires_at is not None and now >= grant.hard_expires_at:
                return OAuthError("invalid_grant", "refresh token reached its maximum lifetime")
            if rec.successor is not None and rec.superseded_at is not None:
                if now < rec.superseded_at + timedelta(seconds=self.grace_seconds):
                    return rec.successor
                return OAuthError("invalid_grant", "refresh token was already used")
            if now >= rec.expires_at:
                return OAuthError("invalid_grant", "refresh token expired")
            if not self.rotate_refresh:
                rec.expires_at = now + timedelta(seconds=self.refresh_ttl)
                return self._issue(grant, refresh_token=refresh_token)
            tokens = self._issue(grant)
            rec.successor, rec.superseded_at = tokens, now
            return tokens

    def revoke(self, token: str) -> bool:
        """Revoke the whole grant behind an access or refresh token; False if unknown."""
        with self._lock:
            rec = self._access.get(token) or self._refresh.get(token)
            if rec is None:
                return False
            self._grants[rec.grant_id].revoked = True
            return True

    def revoke_company(self, company_id: str) -> int:
        """Disconnect a company from every grant (a grant left with none is revoked)."""
        count = 0
        with self._lock:
            for grant in self._grants.values():
                if company_id in grant.companies and not grant.revoked:
                    grant.companies.remove(company_id)
                    grant.revoked = not grant.companies
                    count += 1
        return count

    def check_access(self, token: str | None) -> Grant | None:
        """The live grant behind a valid, unexpired access token, else None."""
        return self.grant_for_access(token) if self.access_status(token) == "ok" else None

    def access_status(self, token: str | None) -> str:
        """Why a token is (not) accepted: `ok`, `missing`, `unknown`, `expired` or `revoked`."""
        if not token:
            return "missing"
        with self._lock:
            rec = self._access.get(token)
            if rec is None:
                return "unknown"
            if self._grants[rec.grant_id].revoked:
                return "revoked"
            return "expired" if self.clock.now() >= rec.expires_at else "ok"

    def access_expires_at(self, token: str) -> datetime | None:
        with self._lock:
            rec = self._access.get(token)
            return rec.expires_at if rec else None

    def grant_for_access(self, token: str | None) -> Grant | None:
        with self._lock:
            rec = self._access.get(token or "")
            return self._grants[rec.grant_id] if rec else None

    def grants(self) -> list[Grant]:
        with self._lock:
            return list(self._grants.values())

    # -- snapshot ------------------------------------------------------------------------

    def dump_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "settings": self.settings(),
                "clients": [asdict(c) for c in self.clients.values()],
                "grants": [_jsonable(asdict(g)) for g in self._grants.values()],
                "access": {t: _jsonable(asdict(r)) for t, r in self._access.items()},
                "refresh": {t: self._dump_refresh(r) for t, r in self._refresh.items()},
            }

    def load_state(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.reset()
            self.configure(**state.get("settings", {}))
            self.clients = {c["client_id"]: Client(**c) for c in state.get("clients", [])}
            for g in state.get("grants", []):
                grant = Grant(
                    **{
                        **g,
                        "created_at": _dt(g["created_at"]),
                        "hard_expires_at": _dt(g["hard_expires_at"]),
                    }
                )
                self._grants[grant.grant_id] = grant
            for token, a in state.get("access", {}).items():
                self._access[token] = _Access(a["grant_id"], _dt(a["expires_at"]))
            for token, r in state.get("refresh", {}).items():
                succ = r.get("successor")
                self._refresh[token] = _Refresh(
                    r["grant_id"],
                    _dt(r["expires_at"]),
                    _dt(r.get("superseded_at")),
                    self._load_tokenset(succ) if succ else None,
                )

    # -- internals -----------------------------------------------------------------------

    def _new_grant(
        self, client_id: str, companies: list[str], scope: str, user: str, extra: dict[str, Any]
    ) -> Grant:
        now = self.clock.now()
        hard = now + timedelta(seconds=self.refresh_hard_ttl) if self.refresh_hard_ttl else None
        grant = Grant(
            secrets.token_hex(8),
            client_id,
            list(companies),
            scope,
            user,
            now,
            hard,
            extra=dict(extra),
        )
        self._grants[grant.grant_id] = grant
        return grant

    def _issue(self, grant: Grant, refresh_token: str | None = None) -> TokenSet:
        now = self.clock.now()
        access = secrets.token_urlsafe(32)
        self._access[access] = _Access(grant.grant_id, now + timedelta(seconds=self.access_ttl))
        if refresh_token is None:
            refresh_token = secrets.token_urlsafe(32)
            expires = now + timedelta(seconds=self.refresh_ttl)
            self._refresh[refresh_token] = _Refresh(grant.grant_id, expires)
        rec = self._refresh[refresh_token]
        return TokenSet(
            access, refresh_token, self._access[access].expires_at, rec.expires_at, grant, now
        )

    def _dump_refresh(self, rec: _Refresh) -> dict[str, Any]:
        succ = rec.successor
        return {
            "grant_id": rec.grant_id,
            "expires_at": rec.expires_at.isoformat(),
            "superseded_at": rec.superseded_at.isoformat() if rec.superseded_at else None,
            "successor": None
            if succ is None
            else {
                "access_token": succ.access_token,
                "refresh_token": succ.refresh_token,
                "access_expires_at": succ.access_expires_at.isoformat(),
                "refresh_expires_at": succ.refresh_expires_at.isoformat(),
                "issued_at": succ.issued_at.isoformat(),
                "grant_id": succ.grant.grant_id,
            },
        }

    def _load_tokenset(self, d: dict[str, Any]) -> TokenSet:
        return TokenSet(
            d["access_token"],
            d["refresh_token"],
            _dt(d["access_expires_at"]),
            _dt(d["refresh_expires_at"]),
            self._grants[d["grant_id"]],
            _dt(d["issued_at"]),
        )


def pkce_challenge(verifier: str, method: str = "S256") -> str:
    """The RFC 7636 code_challenge for a verifier (S256: base64url(sha256), no padding)."""
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _pkce_ok(challenge: str, method: str | None, verifier: str | None) -> bool:
    if not verifier or method not in ("S256", "plain"):
        return False
    return hmac.compare_digest(pkce_challenge(verifier, method), challenge)


def _dt(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in d.items()}
