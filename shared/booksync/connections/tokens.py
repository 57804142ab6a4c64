"""OAuth tokens: sealed with KMS at rest, refreshed by one caller at a time.

`TokenService.access_token` gives a worker a valid access token. Near expiry one caller
takes the refresh lease (a conditional write in the Leases table); it refreshes, stores
the rotated refresh token (a conditional write on `token_version`) and only then uses
the new access token. The others wait and re-read. A refresh whose reply is lost is
retried once with the same refresh token (Xero honours a superseded one for 30 minutes).
`invalid_grant`, or a 401 right after a refresh, marks the connection `needs_reauth`
with a sync error telling the firm to reconnect.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from booksync.errors import SyncFailure
from booksync.observability import count, logger
from booksync.providers.oauth import OAuthFailure, ProviderOAuth, TokenEndpointUnreachable, TokenSet
from booksync.store import Connection, leases
from booksync.store import connections as connection_rows
from booksync.store.sync_errors import upsert_error

REFRESH_MARGIN_SECONDS = 120  # refresh this close to expiry
KEEPALIVE_SECONDS = 24 * 3600  # refresh an idle grant daily so no idle limit is reached
# longer than the worst refresh: two tries of the token endpoint's 30 s read timeout
LEASE_SECONDS = 90
WAIT_SECONDS = 20

REAUTH_CODE = {
    "qbo": "qbo.reauth_required",
    "qbt": "qbt.reauth_required",
    "xero": "xero.token_expired",
}
UNAVAILABLE_CODE = {"qbo": "qbo.unavailable", "qbt": "qbt.unavailable", "xero": "xero.unavailable"}


class TokenVault:
    """Seals a token set with KMS, bound to its tenant, provider and connection (the
    encryption context): a sealed token set copied to another connection's row, or
    another tenant's, does not open. The functions' IAM rights allow the key only with
    this context (template.yaml), and a worker only for its own provider."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id

    @staticmethod
    def context(tenant_id: str, provider: str, connection_id: str) -> dict[str, str]:
        return {"tenant_id": tenant_id, "provider": provider, "connection_id": connection_id}

    def seal(self, tenant_id: str, provider: str, tokens: TokenSet, *, connection_id: str) -> str:
        blob = self._kms.encrypt(
            KeyId=self._key_id,
            Plaintext=json.dumps(tokens.to_json()).encode(),
            EncryptionContext=self.context(tenant_id, provider, connection_id),
        )["CiphertextBlob"]
        return base64.b64encode(blob).decode()

    def open(self, tenant_id: str, provider: str, sealed: str, *, connection_id: str) -> TokenSet:
        blob = base64.b64decode(sealed)
        try:
            plain = self._kms.decrypt(
                CiphertextBlob=blob,
                EncryptionContext=self.context(tenant_id, provider, connection_id),
            )["Plaintext"]
        except self._kms.exceptions.InvalidCiphertextException:
            # sealed before the context named the connection: opens with the old context
            # until the next refresh seals it again with the connection's
            plain = self._kms.decrypt(
                CiphertextBlob=blob,
                EncryptionContext={"tenant_id": tenant_id, "provider": provider},
            )["Plaintext"]
        return TokenSet.from_json(json.loads(plain))

    def open_connection(self, conn: Connection) -> TokenSet:
        return self.open(
            str(conn.tenant_id),
            str(conn.provider),
            str(conn.tokens),
            connection_id=str(conn.connection_id),
        )


def store_tokens(
    vault: TokenVault, conn: Connection, tokens: TokenSet, *, expected_version: int
) -> None:
    """Write a new token set only if nobody else has since (token_version check)."""
    stored = connection_rows.store_tokens(
        conn,
        vault.seal(conn.tenant_id, conn.provider, tokens, connection_id=conn.connection_id),
        datetime.fromtimestamp(tokens.expires_at, UTC),
        expected_version=expected_version,
    )
    if not stored:
        raise SyncFailure(
            UNAVAILABLE_CODE[conn.provider], "another caller stored new tokens meanwhile"
        )


def mark_needs_reauth(conn: Connection, reason: str) -> None:
    """Stop calling the provider for this connection and tell the firm to reconnect; only
    if the grant judged is still the current one (a refresh meanwhile means it is fine)."""
    if not connection_rows.set_status(
        conn, "needs_reauth", expected_token_version=int(conn.token_version or 0)
    ):
        logger.info("grant renewed meanwhile; connection left active")
        return
    count("ConnectionsNeedingReauth", provider=str(conn.provider))
    upsert_error(
        tenant_id=conn.tenant_id,
        provider=conn.provider,
        connection_id=conn.connection_id,
        kind="connection",
        record_id=conn.connection_id,
        failure=SyncFailure(REAUTH_CODE[conn.provider], reason),
    )
    logger.warning(
        "connection needs reauthorisation",
        extra={"tenant_id": conn.tenant_id, "connection_id": conn.connection_id, "reason": reason},
    )


class Session(Protocol):
    """What the token service keeps its opened token on (engine.seam.ProviderSession)."""

    connection: Connection
    _token: tuple[str, int, float] | None

    @property
    def tenant_id(self) -> str: ...

    @property
    def provider(self) -> str: ...


class TokenService:
    def __init__(
        self,
        vault: TokenVault,
        oauth_for: Callable[[str], ProviderOAuth],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vault = vault
        self.oauth_for = oauth_for
        self.clock = clock
        self.sleep = sleep

    def _load(self, tenant_id: str, provider: str) -> Connection:
        conn = connection_rows.get(tenant_id, provider)
        if conn is None:
            raise SyncFailure(REAUTH_CODE[provider], "connection is gone")
        if conn.status != "active" or not conn.tokens:
            raise SyncFailure(REAUTH_CODE[provider], f"connection is {conn.status}")
        return conn

    def access_token(
        self, tenant_id: str, provider: str, *, stale_version: int | None = None
    ) -> tuple[str, Connection]:
        """A valid access token and the connection it belongs to.

        `stale_version`: the token_version whose access token the provider just refused
        (401); a token of a later version is returned, refreshing if nobody has yet.
        """
        owner = str(uuid.uuid4())
        deadline = self.clock() + WAIT_SECONDS
        while True:
            conn = self._load(tenant_id, provider)
            tokens = self.vault.open_connection(conn)
            fresh = tokens.expires_at - self.clock() > REFRESH_MARGIN_SECONDS
            if fresh and (stale_version is None or conn.token_version > stale_version):
                return tokens.access_token, conn
            lease = f"refresh#{conn.connection_id}"
            if leases.acquire(lease, owner, LEASE_SECONDS):
                try:
                    return self._refresh(conn, tokens, stale_version)
                finally:
                    leases.release(lease, owner)
            if self.clock() > deadline:
                raise SyncFailure(
                    UNAVAILABLE_CODE[provider], "another token refresh did not finish"
                )
            self.sleep(0.1)

    def _refresh(
        self, conn: Connection, tokens: TokenSet, stale_version: int | None
    ) -> tuple[str, Connection]:
        # Re-read under the lease: the previous holder may have just refreshed.
        current = self._load(conn.tenant_id, conn.provider)
        if current.token_version != conn.token_version:
            fresh_tokens = self.vault.open_connection(current)
            return fresh_tokens.access_token, current
        if stale_version is not None and stale_version < conn.token_version:
            return tokens.access_token, conn
        new = self.refresh_now(conn, tokens)
        return new.access_token, self._load(conn.tenant_id, conn.provider)

    def refresh_now(self, conn: Connection, tokens: TokenSet) -> TokenSet:
        """Refresh and store; the caller holds the lease (or is the scheduler's keepalive)."""
        oauth = self.oauth_for(conn.provider)
        try:
            try:
                new = oauth.refresh(tokens.refresh_token)
            except TokenEndpointUnreachable:
                # The reply may be lost after the provider rotated the token: retry with
                # the same one (Xero returns the same new pair within its grace period).
                logger.warning(
                    "token refresh reply lost, retrying",
                    extra={"connection_id": conn.connection_id},
                )
                new = oauth.refresh(tokens.refresh_token)
        except OAuthFailure as exc:
            mark_needs_reauth(conn, f"{exc.error}: {exc.description}".rstrip(": "))
            raise SyncFailure(REAUTH_CODE[conn.provider], str(exc)) from exc
        except TokenEndpointUnreachable as exc:
            raise SyncFailure(UNAVAILABLE_CODE[conn.provider], str(exc)) from exc
        if not new.refresh_token:
            new = TokenSet(
                new.access_token,
                tokens.refresh_token,
                new.expires_at,
                {**tokens.extra, **new.extra},
            )
        store_tokens(self.vault, conn, new, expected_version=int(conn.token_version))
        logger.info(
            "token refreshed",
            extra={"connection_id": conn.connection_id, "token_version": conn.token_version + 1},
        )
        return new

    def call(self, session: Session, send: Callable[[str], requests.Response]) -> requests.Response:
        """Make an authorised provider call for a session; on 401 refresh once and retry;
        a 401 with a freshly refreshed token means the grant is gone: needs_reauth. The
        token is opened once per session (an invocation), not decrypted for every call."""
        token, version = self._session_token(session)
        reply = send(token)
        if reply.status_code != 401:
            return reply
        token, fresh = self.access_token(session.tenant_id, session.provider, stale_version=version)
        self._remember(session, token, fresh)
        reply = send(token)
        if reply.status_code == 401:
            mark_needs_reauth(fresh, f"HTTP 401 after a token refresh: {reply.text[:300]}")
            raise SyncFailure(REAUTH_CODE[session.provider], reply.text[:500], status=401)
        return reply

    def _session_token(self, session: Session) -> tuple[str, int]:
        cached = session._token
        if cached is not None and cached[2] - self.clock() > REFRESH_MARGIN_SECONDS:
            return cached[0], cached[1]
        conn = session.connection
        if cached is None and conn.status == "active" and conn.tokens:
            # the worker read the connection (consistently) for this invocation: use it
            tokens = self.vault.open_connection(conn)
            if tokens.expires_at - self.clock() > REFRESH_MARGIN_SECONDS:
                session._token = (tokens.access_token, int(conn.token_version), tokens.expires_at)
                return tokens.access_token, int(conn.token_version)
        token, fresh = self.access_token(session.tenant_id, session.provider)
        self._remember(session, token, fresh)
        return token, int(fresh.token_version)

    def _remember(self, session: Session, token: str, conn: Connection) -> None:
        expires = conn.access_expires_at.timestamp() if conn.access_expires_at else self.clock()
        session._token = (token, int(conn.token_version), expires)
        session.connection = conn

    def keepalive(self, conn: Connection) -> bool:
        """Refresh a grant that has not been refreshed for a day (scheduler)."""
        last = conn.refreshed_at or conn.connected_at
        if last is not None and (self.clock() - last.timestamp()) < KEEPALIVE_SECONDS:
            return False
        owner = str(uuid.uuid4())
        lease = f"refresh#{conn.connection_id}"
        if not leases.acquire(lease, owner, LEASE_SECONDS):
            return False
        try:
            current = connection_rows.get(conn.tenant_id, conn.provider)
            if current is None or current.status != "active" or not current.tokens:
                return False
            self.refresh_now(current, self.vault.open_connection(current))
            return True
        finally:
            leases.release(lease, owner)
