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
from typing import Any

import requests

from booksync.errors import SyncFailure
from booksync.observability import logger
from booksync.providers.oauth import OAuthFailure, ProviderOAuth, TokenEndpointUnreachable, TokenSet
from booksync.store import leases
from booksync.store.models import Connection, utcnow
from booksync.store.sync_errors import upsert_error

REFRESH_MARGIN_SECONDS = 120  # refresh this close to expiry
KEEPALIVE_SECONDS = 24 * 3600  # refresh an idle grant daily so no idle limit is reached
LEASE_SECONDS = 30
WAIT_SECONDS = 20

REAUTH_CODE = {
    "qbo": "qbo.reauth_required",
    "qbt": "qbt.reauth_required",
    "xero": "xero.token_expired",
}
UNAVAILABLE_CODE = {"qbo": "qbo.unavailable", "qbt": "qbt.unavailable", "xero": "xero.unavailable"}


class TokenVault:
    """Seals a token set with KMS, bound to its tenant and provider (encryption context)."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id

    def seal(self, tenant_id: str, provider: str, tokens: TokenSet) -> str:
        blob = self._kms.encrypt(
            KeyId=self._key_id,
            Plaintext=json.dumps(tokens.to_json()).encode(),
            EncryptionContext={"tenant_id": tenant_id, "provider": provider},
        )["CiphertextBlob"]
        return base64.b64encode(blob).decode()

    def open(self, tenant_id: str, provider: str, sealed: str) -> TokenSet:
        plain = self._kms.decrypt(
            CiphertextBlob=base64.b64decode(sealed),
            EncryptionContext={"tenant_id": tenant_id, "provider": provider},
        )["Plaintext"]
        return TokenSet.from_json(json.loads(plain))


def store_tokens(
    vault: TokenVault, conn: Connection, tokens: TokenSet, *, expected_version: int
) -> None:
    """Write a new token set only if nobody else has since (token_version check)."""
    conn.update(
        actions=[
            Connection.tokens.set(vault.seal(conn.tenant_id, conn.provider, tokens)),
            Connection.token_version.set(expected_version + 1),
            Connection.access_expires_at.set(datetime.fromtimestamp(tokens.expires_at, UTC)),
            Connection.refreshed_at.set(utcnow()),
            Connection.updated_at.set(utcnow()),
        ],
        condition=Connection.token_version == expected_version,
    )


def mark_needs_reauth(conn: Connection, reason: str) -> None:
    """Stop calling the provider for this connection and tell the firm to reconnect."""
    conn.update(
        actions=[Connection.status.set("needs_reauth"), Connection.updated_at.set(utcnow())]
    )
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
        conn = Connection.get(tenant_id, provider, consistent_read=True)
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
            tokens = self.vault.open(tenant_id, provider, conn.tokens)
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
        current = Connection.get(conn.tenant_id, conn.provider, consistent_read=True)
        if current.token_version != conn.token_version:
            fresh_tokens = self.vault.open(conn.tenant_id, conn.provider, current.tokens)
            return fresh_tokens.access_token, current
        if stale_version is not None and stale_version < conn.token_version:
            return tokens.access_token, conn
        new = self.refresh_now(conn, tokens)
        return new.access_token, Connection.get(conn.tenant_id, conn.provider, consistent_read=True)

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

    def call(
        self,
        tenant_id: str,
        provider: str,
        request: Callable[[str, Connection], requests.Response],
    ) -> requests.Response:
        """Make an authorised provider call; on 401 refresh once and retry; a 401 with a
        freshly refreshed token means the grant is gone: needs_reauth."""
        token, conn = self.access_token(tenant_id, provider)
        reply = request(token, conn)
        if reply.status_code != 401:
            return reply
        token, fresh = self.access_token(tenant_id, provider, stale_version=int(conn.token_version))
        reply = request(token, fresh)
        if reply.status_code == 401:
            mark_needs_reauth(fresh, f"HTTP 401 after a token refresh: {reply.text[:300]}")
            raise SyncFailure(REAUTH_CODE[provider], reply.text[:500], status=401)
        return reply

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
            current = Connection.get(conn.tenant_id, conn.provider, consistent_read=True)
            if current.status != "active" or not current.tokens:
                return False
            self.refresh_now(
                current, self.vault.open(conn.tenant_id, conn.provider, current.tokens)
            )
            return True
        finally:
            leases.release(lease, owner)
