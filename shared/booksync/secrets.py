"""Provider credentials: client ids from SSM, secrets and webhook keys from Secrets
Manager, both read through Powertools parameters (cached for five minutes per process).

Never log what this module returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.utilities import parameters

from booksync.settings import Settings

CACHE_SECONDS = 300


@dataclass(frozen=True)
class ProviderCredentials:
    client_id: str
    client_secret: str = ""

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return f"ProviderCredentials(client_id={self.client_id!r}, client_secret=***)"


def credentials(settings: Settings, provider: str) -> ProviderCredentials:
    ids = parameters.get_parameter(
        settings.provider_config_parameter, transform="json", max_age=CACHE_SECONDS
    )
    secrets = parameters.get_secret(
        settings.provider_secrets_name, transform="json", max_age=CACHE_SECONDS
    )
    if not isinstance(ids, dict) or not isinstance(secrets, dict):
        raise TypeError("provider config and secrets must be JSON objects")
    return ProviderCredentials(
        client_id=str(ids[f"{provider}_client_id"]),
        client_secret=str(secrets[f"{provider}_client_secret"]),
    )


def webhook_keys(settings: Settings, provider: str) -> tuple[str, ...]:
    """The keys a provider's webhook deliveries may be signed with: the current one, and
    during a rotation the one being replaced. A secret of its own (template.yaml's
    WebhookSecrets), so the webhooks function reads no client secret."""
    keys = parameters.get_secret(
        settings.webhook_secrets_name, transform="json", max_age=CACHE_SECONDS
    )
    if not isinstance(keys, dict):
        raise TypeError("webhook keys must be a JSON object")
    found = keys.get(provider) or []
    if isinstance(found, str):
        found = [found]
    return tuple(str(k) for k in found if k)


def state_signing_key(settings: Settings) -> bytes:
    """The HMAC key that signs OAuth `state` values."""
    key = parameters.get_secret(settings.state_secret_name, max_age=CACHE_SECONDS)
    return str(key).encode()
