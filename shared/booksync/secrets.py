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
    webhook_key: str = ""  # QBO verifier token / Xero webhooks key; QBT has no webhooks

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
    webhook_key = {
        "qbo": secrets.get("qbo_webhook_verifier_token", ""),
        "xero": secrets.get("xero_webhook_key", ""),
    }.get(provider, "")
    return ProviderCredentials(
        client_id=str(ids[f"{provider}_client_id"]),
        client_secret=str(secrets[f"{provider}_client_secret"]),
        webhook_key=str(webhook_key),
    )


def state_signing_key(settings: Settings) -> bytes:
    """The HMAC key that signs OAuth `state` values."""
    key = parameters.get_secret(settings.state_secret_name, max_age=CACHE_SECONDS)
    return str(key).encode()
