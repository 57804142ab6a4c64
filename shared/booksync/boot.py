"""What a handler builds once per cold start: settings, bound tables, AWS clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from booksync.aws import AwsClients, make_clients
from booksync.engine import WorkContext
from booksync.models import bind_tables
from booksync.queues import Enqueuer
from booksync.settings import Settings, get_settings


@dataclass
class Runtime:
    settings: Settings
    clients: AwsClients

    @property
    def enqueuer(self) -> Enqueuer:
        return Enqueuer(self.clients.sqs, self.settings.queues)

    def work_context(self, provider: str, direction: str) -> WorkContext:
        return WorkContext(
            provider=provider,
            direction=direction,
            sqs=self.clients.sqs,
            queue_url=self.settings.queues.url(provider, direction),
            now=lambda: datetime.now(UTC),
        )


def boot(settings: Settings | None = None, clients: AwsClients | None = None) -> Runtime:
    """Read settings (failing by name if any is missing), bind tables, make clients."""
    settings = settings or get_settings()
    bind_tables(settings.tables)
    return Runtime(settings=settings, clients=clients or make_clients())
