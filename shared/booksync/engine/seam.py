"""The seam between the sync engine and each provider: adapters, one per (provider, kind).

An adapter has three parts (STYLE.md, "one file per sync"): its provider client (wire
protocol only: providers/<p>/client.py), pure mappers hub <-> provider
(providers/<p>/mapping.py), and the push/pull functions here declared. The engine
(engine.py, sync.py) owns what is common: loading records and links, idempotency keys,
batching, echo suppression, conflicts, errors, cursors. A new entity is a new adapter and
a line in the registry, not a new engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import requests

from booksync.connections.tokens import TokenService
from booksync.errors import SyncFailure
from booksync.store.models import Connection, Link, Record

TIMEOUT = (3.05, 30)


@dataclass
class ProviderSession:
    """Authorised HTTP to one connection's provider account.

    Every call goes through the token service (refresh on expiry, one retry on 401,
    needs_reauth after) and the connection's rate budget. Clients build URLs and parse
    answers; they never see tokens."""

    connection: Connection
    tokens: TokenService
    http: requests.Session = field(default_factory=requests.Session)
    before_call: Callable[[int], None] = lambda cost: None  # the rate budget's take(cost)
    calls: int = 0  # provider calls made through this session (a tracked figure)

    @property
    def tenant_id(self) -> str:
        return self.connection.tenant_id

    @property
    def provider(self) -> str:
        return self.connection.provider

    @property
    def company_id(self) -> str:
        return self.connection.company_id or ""

    def request(self, method: str, url: str, *, cost: int = 1, **kwargs: Any) -> requests.Response:
        """`cost`: how many calls the provider counts this as (a QBO batch: its items)."""
        headers = dict(kwargs.pop("headers", None) or {})
        kwargs.setdefault("timeout", TIMEOUT)

        def send(token: str, _conn: Connection) -> requests.Response:
            self.before_call(cost)
            self.calls += 1
            try:
                return self.http.request(
                    method, url, headers={**headers, "Authorization": f"Bearer {token}"}, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                # no answer: the provider may or may not have done it; retried with the
                # same idempotency key (or looked up before re-creating)
                raise SyncFailure(
                    f"{self.provider}.unavailable", f"{type(exc).__name__}: {exc}"
                ) from exc

        return self.tokens.call(self.tenant_id, self.provider, send)


@dataclass(frozen=True)
class PushItem:
    """One hub record to send: its latest content and its link (None: never sent)."""

    record: Record
    content: Any  # the hub model (hub.Contact, hub.User, ...)
    link: Link | None
    idempotency_key: str  # from (connection, hub id, hub version, operation); <= 36 chars
    # a create of this record was sent before and its answer never recorded (lost reply,
    # crash before the link): an object at the provider that holds exactly this content
    # is then our own, to be linked rather than reported as a clash
    attempted_before: bool = False


@dataclass(frozen=True)
class Pushed:
    """The provider accepted the record: what the link must now say."""

    hub_id: str
    provider_id: str
    provider_version: str | None
    content_hash: str  # hash of the hub content that was sent


@dataclass(frozen=True)
class Change:
    """An object that changed at the provider, already mapped to hub content."""

    kind: str
    provider_id: str
    provider_version: str | None
    content: dict[str, Any] | None  # hub-shaped (hub model dump); None: deleted at the provider
    changed_at: datetime
    parent_provider_id: str | None = None  # e.g. a QBO sub-customer's ParentRef


class PushAdapter(Protocol):
    provider: str
    kind: str
    max_batch: int  # QBO 30, Xero 50, QBT 50

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        """Create or update each item, batched; one result per item, in order.
        Exceptions are booksync.errors.SyncFailure for classified provider errors."""
        ...


class PullAdapter(Protocol):
    provider: str

    def changes(self, session: ProviderSession, cursor: str | None) -> tuple[list[Change], str]:
        """What changed since `cursor` (None: everything), and the new cursor."""
        ...
