"""Tenants, their practice API keys, and which tenant holds a provider company.

A key is shown once and stored only as its SHA-256. Each key has a scope (read < write <
admin; keys made before scopes existed count as admin), an optional expiry and the time
it was last used. A tenant's keys stop working when the tenant is deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from booksync.errors import InvalidInput, NotFound, Unauthorized
from booksync.store.models import ApiKey, CompanyClaim, Connection, Tenant, utcnow

KEY_PREFIX = "bks_"
SCOPES = ("read", "write", "admin")  # each includes the ones before it
LEGACY_SCOPE = "admin"  # keys made before scopes existed
LAST_USED_EVERY = timedelta(minutes=1)  # at most one write a minute per key


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def scope_rank(scope: str) -> int:
    return SCOPES.index(scope)


# ---------------------------------------------------------------- tenants


def create_tenant(name: str) -> Tenant:
    name = name.strip()
    if not name:
        raise ValueError("a tenant needs a name")
    tenant = Tenant(str(uuid.uuid4()), name=name)
    tenant.save()
    return tenant


def get_tenant(tenant_id: str) -> Tenant | None:
    if tenant_id.startswith("company#"):  # a claim item shares the table, never a tenant
        return None
    try:
        return Tenant.get(tenant_id)
    except Tenant.DoesNotExist:
        return None


def delete_tenant(tenant_id: str) -> int:
    """Delete the tenant: every key is revoked first (a key of a deleted tenant is refused
    even without this, see `authenticate`). Its records and connections are kept."""
    if get_tenant(tenant_id) is None:
        raise NotFound(f"no tenant {tenant_id}")
    revoked = 0
    now = utcnow()
    for row in ApiKey.by_tenant.query(tenant_id):
        if row.revoked_at is None:
            row.update(actions=[ApiKey.revoked_at.set(now)])
            revoked += 1
    Tenant(tenant_id).delete()
    return revoked


# ---------------------------------------------------------------- API keys


@dataclass(frozen=True)
class NewApiKey:
    key: str  # the only time the secret exists outside the caller's hands
    key_id: str
    tenant_id: str
    scope: str = LEGACY_SCOPE
    expires_at: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Caller:
    """Who is calling the practice API: the tenant and the key's scope."""

    tenant_id: str
    key_id: str
    scope: str

    def allows(self, scope: str) -> bool:
        return scope_rank(self.scope) >= scope_rank(scope)


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    return scope


def create_api_key(
    tenant_id: str,
    scope: str = LEGACY_SCOPE,
    *,
    name: str | None = None,
    expires_at: datetime | None = None,
) -> NewApiKey:
    _check_scope(scope)
    if get_tenant(tenant_id) is None:
        raise NotFound(f"no tenant {tenant_id}")
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    ApiKey(
        hash_key(key),
        tenant_id=tenant_id,
        key_id=key_id,
        created_at=utcnow().isoformat(),
        scope=scope,
        name=name,
        expires_at=expires_at,
    ).save()
    return NewApiKey(
        key=key,
        key_id=key_id,
        tenant_id=tenant_id,
        scope=scope,
        expires_at=expires_at.isoformat() if expires_at else None,
        name=name,
    )


def describe_key(row: ApiKey) -> dict[str, Any]:
    """A key as listings show it: never the key nor its hash."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "key_id": row.key_id,
        "name": row.name,
        "scope": row.scope or LEGACY_SCOPE,
        "created_at": row.created_at,
        "expires_at": iso(row.expires_at),
        "last_used_at": iso(row.last_used_at),
        "revoked_at": iso(row.revoked_at),
    }


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, tenant_id: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4))
        key = json.loads(raw)
        assert isinstance(key, dict)
        assert key["tenant_id"] == {"S": tenant_id}
        assert set(key) == {"tenant_id", "created_at", "key_hash"}
    except (ValueError, AssertionError, KeyError, TypeError) as exc:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor") from exc
    return key


def list_api_keys(
    tenant_id: str, limit: int = 50, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the tenant's keys, oldest first, and the next page's cursor."""
    start = _decode_cursor(cursor, tenant_id) if cursor else None
    query = ApiKey.by_tenant.query(tenant_id, limit=limit, last_evaluated_key=start)
    items = [describe_key(row) for row in query]
    last = query.last_evaluated_key
    return items, (_encode_cursor(last) if last and len(items) >= limit else None)


def revoke_api_key(tenant_id: str, key_id: str) -> dict[str, Any]:
    """Revoke one of the tenant's keys (again is fine); NotFound for another tenant's."""
    for row in ApiKey.by_tenant.query(tenant_id, filter_condition=ApiKey.key_id == key_id):
        if row.revoked_at is None:
            row.update(actions=[ApiKey.revoked_at.set(utcnow())])
        return describe_key(row)
    raise NotFound(f"tenant {tenant_id} has no key {key_id}")


def authenticate(authorization: str | None) -> Caller:
    """The caller behind an `Authorization: Bearer <key>` header, or Unauthorized: an
    unknown, revoked or expired key, or a key of a tenant that no longer exists."""
    if not authorization:
        raise Unauthorized("send Authorization: Bearer <api key>")
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(key) > 256:
        raise Unauthorized("send Authorization: Bearer <api key>")
    try:
        row = ApiKey.get(hash_key(key))
    except ApiKey.DoesNotExist as exc:
        raise Unauthorized("unknown API key") from exc
    now = utcnow()
    if row.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("this API key has expired")
    if get_tenant(row.tenant_id) is None:
        raise Unauthorized("this API key's firm no longer exists")
    _touch(row, now)
    return Caller(str(row.tenant_id), str(row.key_id), str(row.scope or LEGACY_SCOPE))


def _touch(row: ApiKey, now: datetime) -> None:
    """Record the use; at most once a minute, and only one of racing callers writes."""
    last = row.last_used_at
    if last is not None and now - last < LAST_USED_EVERY:
        return
    condition = (
        ApiKey.last_used_at.does_not_exist() if last is None else (ApiKey.last_used_at == last)  # type: ignore[comparison-overlap]
    )
    try:
        row.update(actions=[ApiKey.last_used_at.set(now)], condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def tenant_for_key(authorization: str | None) -> str:
    """The tenant behind an `Authorization: Bearer <key>` header, or Unauthorized."""
    return authenticate(authorization).tenant_id


# ---------------------------------------------------------------- company claims


def claim_key(company_key: str) -> str:
    return f"company#{company_key}"


def company_holder(company_key: str) -> str | None:
    """The tenant holding a provider company ("<provider>#<company id>"), if any."""
    try:
        return str(CompanyClaim.get(claim_key(company_key), consistent_read=True).owner_tenant_id)
    except DoesNotExist:
        return None


class CompanyTaken(Exception):
    """Another tenant holds the company (or took it a moment ago)."""


def save_with_claim(conn: Connection, released: str | None = None) -> None:
    """Save a connection and claim its company for its tenant in one transaction, on the
    condition that no other tenant holds the company; `released`: a company key the
    connection held before, given back in the same transaction. CompanyTaken otherwise."""
    tenant_id = str(conn.tenant_id)
    claim = CompanyClaim(
        claim_key(str(conn.company_key)),
        owner_tenant_id=tenant_id,
        connection_id=str(conn.connection_id),
    )
    connection = Connection._get_connection().connection
    try:
        with TransactWrite(connection=connection) as tx:
            tx.save(
                claim,
                condition=CompanyClaim.claim_key.does_not_exist()
                | (CompanyClaim.owner_tenant_id == tenant_id),
            )
            tx.save(conn)
            if released and released != conn.company_key:
                tx.delete(
                    CompanyClaim(claim_key(released)),
                    condition=CompanyClaim.owner_tenant_id == tenant_id,
                )
    except TransactWriteError as exc:
        reasons = [
            getattr(r, "code", None) for r in (getattr(exc, "cancellation_reasons", None) or [])
        ]
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise CompanyTaken(str(conn.company_key)) from exc
        if reasons and len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
            # the old claim is not ours any more: save without giving it back
            save_with_claim(conn, None)
            return
        raise


def release_company(tenant_id: str, company_key: str | None) -> None:
    """Give a company back (disconnect): only if this tenant holds it."""
    if not company_key:
        return
    try:
        CompanyClaim(claim_key(company_key)).delete(
            condition=CompanyClaim.owner_tenant_id == tenant_id
        )
    except Exception as exc:
        if "ConditionalCheckFailed" not in str(exc):
            raise
