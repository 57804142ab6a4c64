"""What a handler builds once per cold start: settings, bound tables, AWS clients, and the
services made from them (token store, connection manager, provider OAuth, sessions)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from booksync import store
from booksync.aws import AwsClients, make_clients
from booksync.connections.manager import ConnectionManager
from booksync.connections.tokens import TokenService, TokenVault
from booksync.engine.budget import Budget
from booksync.engine.queues import Enqueuer
from booksync.engine.seam import ProviderSession
from booksync.errors import VISIBLE_HOLDS, SyncFailure
from booksync.providers import registry
from booksync.providers.oauth import ProviderOAuth
from booksync.secrets import credentials, state_signing_key
from booksync.settings import Settings, get_settings
from booksync.store import Connection
from booksync.store.sync_errors import upsert_error

# An API request (the function times out at 29 s) waits for its connection's rate budget,
# and sits out a short hold (a 429 heard by a worker), until this long after its session
# was made, instead of refusing after the 2 s a caller with no deadline waits: a firm's
# import-from-xero met a Xero connection still busy with its first pull and got a 409.
REQUEST_SECONDS = 20.0


@dataclass
class Runtime:
    settings: Settings
    clients: AwsClients
    # the API's: a session made with no deadline gets one this many seconds ahead
    request_seconds: float | None = None
    _oauth: dict[str, ProviderOAuth] = field(default_factory=dict)

    @property
    def enqueuer(self) -> Enqueuer:
        return Enqueuer(self.clients.sqs, self.settings.queues)

    def oauth_for(self, provider: str) -> ProviderOAuth:
        if provider not in self._oauth:
            self._oauth[provider] = ProviderOAuth(
                provider, credentials(self.settings, provider), self.settings.providers
            )
        return self._oauth[provider]

    @property
    def vault(self) -> TokenVault:
        return TokenVault(self.clients.kms, self.settings.token_key_id)

    @property
    def tokens(self) -> TokenService:
        return TokenService(self.vault, self.oauth_for)

    @property
    def connections(self) -> ConnectionManager:
        return ConnectionManager(
            signing_key=state_signing_key(self.settings),
            vault=self.vault,
            oauth_for=self.oauth_for,
            enqueuer=self.enqueuer,
        )

    def api_base(self, provider: str) -> str:
        p = self.settings.providers
        bases = {"qbo": p.qbo_api_base, "qbt": p.qbt_api_base, "xero": p.xero_api_base}
        return bases[provider]

    def session(self, connection: Connection, deadline: float | None = None) -> ProviderSession:
        """Authorised, rate-budgeted HTTP to one connection's provider account; with a
        `deadline` (a worker's), it paces itself to the budget until then; with none, an
        API runtime's session takes the request's (`request_seconds` from now)."""
        if deadline is None and self.request_seconds:
            deadline = time.time() + self.request_seconds
        budget = Budget(str(connection.provider), str(connection.connection_id), deadline=deadline)

        def hold(seconds: float, failure: SyncFailure) -> float:
            held = budget.hold(seconds, failure.code, failure.provider_message, failure.wait_named)
            if failure.spec.code in VISIBLE_HOLDS:  # the firm should know why nothing moves
                upsert_error(
                    tenant_id=str(connection.tenant_id),
                    provider=str(connection.provider),
                    connection_id=str(connection.connection_id),
                    kind="connection",
                    record_id=str(connection.connection_id),
                    failure=failure,
                )
            return held

        return ProviderSession(
            connection,
            self.tokens,
            defaults=registry.effective_settings(str(connection.provider), {}),
            api_base=self.api_base(str(connection.provider)),
            before_call=budget.take,
            hold=hold,
        )


def boot(
    settings: Settings | None = None,
    clients: AwsClients | None = None,
    request_seconds: float | None = None,
) -> Runtime:
    """Read settings (failing by name if any is missing), bind tables, make clients.
    `request_seconds`: the API's (REQUEST_SECONDS), how long a request may wait on budgets."""
    settings = settings or get_settings()
    store.bind(settings.tables)
    store.open_clients()
    return Runtime(
        settings=settings, clients=clients or make_clients(), request_seconds=request_seconds
    )
