"""OAuth 2.0 with the three providers, through authlib: authorize URLs, code exchange,
refresh, revocation, and finding the company a grant is for.

Provider facts (handbook PROVIDERS.md 1.1, 2.1, 3.1):
- QBO: client_secret_basic, PKCE (S256; Intuit's authorization server takes
  code_challenge (U)); the company (realmId) arrives on the callback's query string, which
  the browser controls, so the grant is only taken for that realm once the company-info
  call with the new token succeeds for it; revoke takes a JSON body {"token"}; the
  refresh token rotates (store what comes back).
- QBT: client id and secret in the form body (client_secret_post); no scopes and no PKCE
  in its documented flow; the reply names company_id and client_url (the token is
  company-bound); no revocation endpoint is documented.
- Xero: client_secret_basic, PKCE; the organisations come from GET /connections; each
  refresh returns a new refresh token, and the superseded one keeps working for 30
  minutes, so a lost reply can be retried with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from booksync.secrets import ProviderCredentials
from booksync.settings import ProviderEndpoints

TIMEOUT = (3.05, 15)

SCOPES = {
    "qbo": "com.intuit.quickbooks.accounting",
    "qbt": "",
    "xero": (
        "openid profile email offline_access accounting.contacts accounting.settings "
        "accounting.transactions payroll.employees payroll.settings"  # leave types
    ),
}


PKCE_PROVIDERS = frozenset({"qbo", "xero"})


class OAuthFailure(Exception):
    """The provider refused (invalid_grant, access_denied, ...): a person must reconnect."""

    def __init__(self, error: str, description: str = "") -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}" if description else error)


class TokenEndpointUnreachable(Exception):
    """No answer (timeout, dropped connection, 5xx): the outcome is unknown."""


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: float  # epoch seconds
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. QBT company_id, client_url

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSet:
        return cls(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            expires_at=float(data["expires_at"]),
            extra=dict(data.get("extra") or {}),
        )

    def __repr__(self) -> str:
        return f"TokenSet(expires_at={self.expires_at}, access_token=***, refresh_token=***)"


@dataclass(frozen=True)
class Company:
    company_id: str
    name: str
    connection_ref: str = ""  # Xero: the /connections id, to drop an unwanted organisation


@dataclass
class ProviderOAuth:
    provider: str
    creds: ProviderCredentials
    endpoints: ProviderEndpoints
    http: requests.Session = field(default_factory=requests.Session)

    # ------------------------------------------------------------------ endpoints
    @property
    def authorize_url(self) -> str:
        e = self.endpoints
        return {
            "qbo": e.qbo_authorize_url,
            "qbt": f"{e.qbt_api_base}/authorize",
            "xero": e.xero_authorize_url,
        }[self.provider]

    @property
    def token_url(self) -> str:
        e = self.endpoints
        return {
            "qbo": e.qbo_token_url,
            "qbt": f"{e.qbt_api_base}/grant",
            "xero": f"{e.xero_identity_base}/connect/token",
        }[self.provider]

    @property
    def uses_pkce(self) -> bool:
        """Every provider whose authorization server takes PKCE (RFC 7636)."""
        return self.provider in PKCE_PROVIDERS

    def _session(self, redirect_uri: str | None = None) -> OAuth2Session:
        session = OAuth2Session(
            client_id=self.creds.client_id,
            client_secret=self.creds.client_secret,
            scope=SCOPES[self.provider] or None,
            redirect_uri=redirect_uri,
            token_endpoint_auth_method=(
                "client_secret_post" if self.provider == "qbt" else "client_secret_basic"
            ),
            code_challenge_method="S256" if self.uses_pkce else None,
            default_timeout=TIMEOUT,
        )
        session.headers["Accept"] = "application/json"
        return session

    # ------------------------------------------------------------------ flows
    def authorization_url(self, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        url, _ = self._session(redirect_uri).create_authorization_url(
            self.authorize_url,
            state=state,
            code_verifier=code_verifier if self.uses_pkce else None,
        )
        return str(url)

    def exchange(self, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
        kwargs: dict[str, Any] = {"code": code, "grant_type": "authorization_code"}
        if self.uses_pkce and code_verifier:
            kwargs["code_verifier"] = code_verifier
        return self._token_call(
            lambda s: s.fetch_token(self.token_url, **kwargs), self._session(redirect_uri)
        )

    def refresh(self, refresh_token: str) -> TokenSet:
        session = self._session()
        return self._token_call(
            lambda s: s.refresh_token(self.token_url, refresh_token=refresh_token), session
        )

    def _token_call(self, call: Any, session: OAuth2Session) -> TokenSet:
        try:
            token = call(session)
        except OAuthError as exc:
            raise OAuthFailure(str(exc.error or "oauth_error"), str(exc.description or "")) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TokenEndpointUnreachable(
                f"{self.provider} token endpoint: {type(exc).__name__}"
            ) from exc
        except (requests.HTTPError, ValueError) as exc:
            raise TokenEndpointUnreachable(f"{self.provider} token endpoint: {exc}") from exc
        if "access_token" not in token:
            raise TokenEndpointUnreachable(
                f"{self.provider} token endpoint answered without a token"
            )
        expires_at = float(
            token.get("expires_at") or time.time() + float(token.get("expires_in", 3600))
        )
        extra = {k: token[k] for k in ("company_id", "client_url", "user_id") if k in token}
        return TokenSet(
            access_token=str(token["access_token"]),
            refresh_token=str(token.get("refresh_token") or ""),
            expires_at=expires_at,
            extra=extra,
        )

    def revoke(self, tokens: TokenSet) -> bool:
        """Revoke the grant at the provider; False where the provider has no revocation."""
        auth = (self.creds.client_id, self.creds.client_secret)
        if self.provider == "qbo":
            reply = self.http.post(
                self.endpoints.qbo_revoke_url,
                json={"token": tokens.refresh_token},
                auth=auth,
                headers={"Accept": "application/json"},
                timeout=TIMEOUT,
            )
        elif self.provider == "xero":
            reply = self.http.post(
                f"{self.endpoints.xero_identity_base}/connect/revocation",
                data={"token": tokens.refresh_token},
                auth=auth,
                timeout=TIMEOUT,
            )
        else:
            return False
        if reply.status_code >= 400:
            raise OAuthFailure("revoke_failed", f"HTTP {reply.status_code}: {reply.text[:200]}")
        return True

    # ------------------------------------------------------------------ companies
    def companies(self, tokens: TokenSet, callback_query: dict[str, str]) -> list[Company]:
        """The companies this grant covers, with their names."""
        headers = {"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"}
        if self.provider == "qbo":
            realm = callback_query.get("realmId", "")
            if not realm:
                raise OAuthFailure("missing_realm", "QuickBooks did not say which company")
            url = f"{self.endpoints.qbo_api_base}/v3/company/{realm}/companyinfo/{realm}"
            try:
                reply = self.http.get(
                    url, headers=headers, params={"minorversion": "75"}, timeout=TIMEOUT
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TokenEndpointUnreachable(f"qbo company info: {type(exc).__name__}") from exc
            if reply.status_code >= 500 or reply.status_code == 429:
                raise TokenEndpointUnreachable(f"qbo company info: HTTP {reply.status_code}")
            # The realm came from the browser's query string: only the company the grant
            # covers answers (a token for another realm gets 401/403), so anything but a
            # company-info body (its Id is "1" in every company) from the realm's own URL
            # means the realmId was not the consent's.
            info: Any = None
            if reply.ok:
                try:
                    info = reply.json().get("CompanyInfo")
                except (ValueError, AttributeError):
                    info = None
            if not isinstance(info, dict):
                raise OAuthFailure(
                    "realm_mismatch",
                    f"the grant does not cover QuickBooks company {realm} "
                    f"(company info answered HTTP {reply.status_code})",
                )
            return [Company(realm, str(info.get("CompanyName") or realm))]
        if self.provider == "qbt":
            company_id = str(tokens.extra.get("company_id", ""))
            if not company_id:
                raise OAuthFailure("missing_company", "QuickBooks Time did not say which company")
            url = str(tokens.extra.get("client_url", ""))
            name = (
                url.split("//", 1)[-1].split(".", 1)[0] if url else f"QuickBooks Time {company_id}"
            )
            return [Company(company_id, name)]
        reply = self.http.get(
            f"{self.endpoints.xero_api_base}/connections", headers=headers, timeout=TIMEOUT
        )
        if not reply.ok:
            raise OAuthFailure("connections_failed", f"HTTP {reply.status_code}")
        return [
            Company(str(c["tenantId"]), str(c.get("tenantName") or c["tenantId"]), str(c["id"]))
            for c in reply.json()
            if c.get("tenantType", "ORGANISATION") == "ORGANISATION"
        ]

    def drop_company(self, tokens: TokenSet, company: Company) -> None:
        """Xero: remove an organisation the firm did not choose from the grant."""
        if self.provider != "xero" or not company.connection_ref:
            return
        self.http.delete(
            f"{self.endpoints.xero_api_base}/connections/{company.connection_ref}",
            headers={"Authorization": f"Bearer {tokens.access_token}"},
            timeout=TIMEOUT,
        )
