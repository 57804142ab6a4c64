"""Typed settings read once from the environment; a missing variable fails at start, by name.

The same variables are set by template.yaml in the cloud and by the embedded stack
locally, so nothing here knows where it runs. AWS endpoints and credentials come from
the AWS SDK's own standard variables, never from booksync's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(RuntimeError):
    """The environment lacks a setting booksync cannot run without."""


class Tables(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenants: str = Field(alias="TENANTS_TABLE")
    api_keys: str = Field(alias="API_KEYS_TABLE")
    connections: str = Field(alias="CONNECTIONS_TABLE")
    records: str = Field(alias="RECORDS_TABLE")
    links: str = Field(alias="LINKS_TABLE")
    cursors: str = Field(alias="CURSORS_TABLE")
    sync_errors: str = Field(alias="SYNC_ERRORS_TABLE")
    leases: str = Field(alias="LEASES_TABLE")
    idempotency: str = Field(alias="IDEMPOTENCY_TABLE")


class Queues(BaseModel):
    model_config = ConfigDict(frozen=True)

    qbo_push: str = Field(alias="QBO_PUSH_QUEUE_URL")
    qbo_pull: str = Field(alias="QBO_PULL_QUEUE_URL")
    qbt_push: str = Field(alias="QBT_PUSH_QUEUE_URL")
    qbt_pull: str = Field(alias="QBT_PULL_QUEUE_URL")
    xero_push: str = Field(alias="XERO_PUSH_QUEUE_URL")
    xero_pull: str = Field(alias="XERO_PULL_QUEUE_URL")
    qbo_push_dlq: str = Field(alias="QBO_PUSH_DLQ_URL")
    qbo_pull_dlq: str = Field(alias="QBO_PULL_DLQ_URL")
    qbt_push_dlq: str = Field(alias="QBT_PUSH_DLQ_URL")
    qbt_pull_dlq: str = Field(alias="QBT_PULL_DLQ_URL")
    xero_push_dlq: str = Field(alias="XERO_PUSH_DLQ_URL")
    xero_pull_dlq: str = Field(alias="XERO_PULL_DLQ_URL")

    def url(self, provider: str, direction: str) -> str:
        url: str = getattr(self, f"{provider}_{direction}")
        return url

    def dead_letter_url(self, provider: str, direction: str) -> str:
        url: str = getattr(self, f"{provider}_{direction}_dlq")
        return url


class ProviderEndpoints(BaseModel):
    """Where each provider lives: the only thing that differs between cloud and local."""

    model_config = ConfigDict(frozen=True)

    qbo_environment: str = Field(alias="QBO_ENVIRONMENT")
    qbo_api_base: str = Field(alias="QBO_API_BASE")
    qbo_authorize_url: str = Field(alias="QBO_AUTHORIZE_URL")
    qbo_token_url: str = Field(alias="QBO_TOKEN_URL")
    qbo_revoke_url: str = Field(alias="QBO_REVOKE_URL")
    qbt_api_base: str = Field(alias="QBT_API_BASE")
    xero_api_base: str = Field(alias="XERO_API_BASE")
    xero_authorize_url: str = Field(alias="XERO_AUTHORIZE_URL")
    xero_identity_base: str = Field(alias="XERO_IDENTITY_BASE")


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str = Field(alias="STAGE")
    tables: Tables
    queues: Queues
    providers: ProviderEndpoints
    token_key_id: str = Field(alias="TOKEN_KEY_ID")
    provider_secrets_name: str = Field(alias="PROVIDER_SECRETS_NAME")
    provider_config_parameter: str = Field(alias="PROVIDER_CONFIG_PARAMETER")
    state_secret_name: str = Field(alias="STATE_SECRET_NAME")
    webhook_secrets_name: str = Field(alias="WEBHOOK_SECRETS_NAME")
    # per-key limits of the practice API (api/ratelimit.py): requests a second, burst
    api_key_rate_per_second: float = Field(alias="API_KEY_RATE_PER_SECOND", gt=0)
    api_key_burst: int = Field(alias="API_KEY_BURST", ge=1)
    # where providers send the browser back (the redirect URI registered with them);
    # empty: https on the host API Gateway served the request on
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL")
    # the worker queues' maxReceiveCount: a message failing its last receive leaves a sync
    # error saying it went to the dead-letter queue (engine/worker.py)
    max_receives: int = Field(default=12, alias="MAX_RECEIVE_COUNT", ge=1)


def _env_name(model: type[BaseModel], field: str) -> str:
    alias = model.model_fields[field].alias
    return alias or field.upper()


def settings_from(env: Mapping[str, str]) -> Settings:
    """Build settings from a mapping; raise ConfigError naming every missing variable."""
    missing: list[str] = []

    def section(model: type[BaseModel]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name in model.model_fields:
            if name in ("tables", "queues", "providers"):
                continue
            var = _env_name(model, name)
            value = env.get(var, "").strip()
            if value:
                values[var] = value
            elif model.model_fields[name].is_required():
                missing.append(var)
        return values

    raw: dict[str, object] = dict(section(Settings))
    raw["tables"] = section(Tables)
    raw["queues"] = section(Queues)
    raw["providers"] = section(ProviderEndpoints)
    if missing:
        raise ConfigError(
            "booksync cannot start: missing environment variable(s) "
            + ", ".join(sorted(missing))
            + " (template.yaml sets them for every function)"
        )
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"booksync cannot start: invalid settings: {exc}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once (a Lambda reads them at cold start)."""
    return settings_from(os.environ)
