"""Tenants and their practice API keys. A key is shown once and stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from booksync.errors import NotFound, Unauthorized
from booksync.store.models import ApiKey, Tenant, utcnow

KEY_PREFIX = "bks_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_tenant(name: str) -> Tenant:
    name = name.strip()
    if not name:
        raise ValueError("a tenant needs a name")
    tenant = Tenant(str(uuid.uuid4()), name=name)
    tenant.save()
    return tenant


@dataclass(frozen=True)
class NewApiKey:
    key: str  # the only time the secret exists outside the caller's hands
    key_id: str
    tenant_id: str


def create_api_key(tenant_id: str) -> NewApiKey:
    try:
        Tenant.get(tenant_id)
    except Tenant.DoesNotExist as exc:
        raise NotFound(f"no tenant {tenant_id}") from exc
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    ApiKey(
        hash_key(key), tenant_id=tenant_id, key_id=key_id, created_at=utcnow().isoformat()
    ).save()
    return NewApiKey(key=key, key_id=key_id, tenant_id=tenant_id)


def revoke_api_key(tenant_id: str, key_id: str) -> None:
    for row in ApiKey.by_tenant.query(tenant_id):
        if row.key_id == key_id:
            row.update(actions=[ApiKey.revoked_at.set(utcnow())])
            return
    raise NotFound(f"tenant {tenant_id} has no key {key_id}")


def tenant_for_key(authorization: str | None) -> str:
    """The tenant behind an `Authorization: Bearer <key>` header, or Unauthorized."""
    if not authorization:
        raise Unauthorized("send Authorization: Bearer <api key>")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send Authorization: Bearer <api key>")
    try:
        row = ApiKey.get(hash_key(key.strip()))
    except ApiKey.DoesNotExist as exc:
        raise Unauthorized("unknown API key") from exc
    if row.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    return row.tenant_id
