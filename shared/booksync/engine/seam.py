"""The seam between the sync engine and the providers: what one entity family at one
provider declares, and the shapes that cross between them.

A family (`Family`) is one file in providers/<p>/: the provider's raw shape, the pure
mapper raw <-> hub, which hub fields the provider may change, what identifies an object
for idempotency and for finding a create whose reply was lost, how it pages and where
its cursor is (its `Source`), and the connection settings that route records to it.
providers/registry.py lists the families, one line each; the engine (engine/push.py,
engine/pull.py) owns everything they have in common: records, links, idempotency keys,
batching, intents, echoes, conflicts, errors and cursors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import requests

from booksync.errors import SyncFailure
from booksync.observability import count

if TYPE_CHECKING:
    from booksync.store import Connection, Link, Record

TIMEOUT = (3.05, 30)
# A read (GET) that meets a 5xx or a cut connection is tried again after these waits
# before it fails its message: reads change nothing, so repeating one is safe, and a
# message that needs a dozen reads (a lost create's look-ups, a send's checks) would
# otherwise go back to its queue for one blip out of them. Writes are never repeated
# here (their idempotency key or look-up decides, on the message's own retry); a read
# that timed out is not repeated either (it already spent its 30 s).
READ_RETRY_WAITS = (0.5, 2.0)
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


class TokenCaller(Protocol):
    """connections.tokens.TokenService: makes a call with the session's access token."""

    def call(
        self, session: ProviderSession, send: Callable[[str], requests.Response]
    ) -> requests.Response: ...


@dataclass
class ProviderSession:
    """Authorised HTTP to one connection's provider account.

    Every call goes through the token service (refresh on expiry, one retry on 401,
    needs_reauth after) and the connection's rate budget. The access token is opened
    once and kept for the session (a worker invocation), not decrypted per call. Clients
    build URLs and parse answers; they never see tokens."""

    connection: Connection
    tokens: TokenCaller
    api_base: str = ""  # the provider's API base URL (settings: cloud or local)
    http: requests.Session = field(default_factory=requests.Session)
    before_call: Callable[[int], None] = lambda cost: None  # the rate budget's take(cost)
    # the provider asked for a long wait (a day limit nearly spent, a throttle's window):
    # every worker of this connection waits it out (engine/budget.py Budget.hold)
    # answers the seconds held (a throttle with no named wait may be held for less)
    hold: Callable[[float, SyncFailure], float] = lambda seconds, failure: seconds
    calls: int = 0  # provider calls made through this session (a tracked figure)
    # writes that may have changed something at the provider: each non-GET request that
    # left booksync and was not refused with a 429 (a throttled request is not carried
    # out); the push takes back a create's intent when none of its chunk's did
    writes_out: int = 0
    # the provider's settings schema defaults (providers/registry.py), under the saved ones
    defaults: dict[str, Any] = field(default_factory=dict)
    # what a family found (or made) at the provider for this session (a worker invocation)
    # and may use again in it: e.g. the services QBO holds for the invoices' work types,
    # looked up once for every chunk of the invocation rather than once per chunk (each
    # look-up takes a turn of the rate budget). Settings the firm maps come first.
    memo: dict[str, Any] = field(default_factory=dict)
    _token: tuple[str, int, float] | None = None  # (access token, token version, expires at)

    @property
    def tenant_id(self) -> str:
        return str(self.connection.tenant_id)

    @property
    def provider(self) -> str:
        return str(self.connection.provider)

    @property
    def company_id(self) -> str:
        return str(self.connection.company_id or "")

    @property
    def settings(self) -> dict[str, Any]:
        """The connection's effective settings: as saved, over the schema's defaults (a
        connection saved before a setting existed reads as the settings page shows it)."""
        return {**self.defaults, **(self.connection.settings or {})}

    def request(self, method: str, url: str, *, cost: int = 1, **kwargs: Any) -> requests.Response:
        """`cost`: how many calls the provider counts this as (a QBO batch: its items)."""
        headers = dict(kwargs.pop("headers", None) or {})
        kwargs.setdefault("timeout", TIMEOUT)

        def send(token: str) -> requests.Response:
            writes = method.upper() != "GET"
            waits = [] if writes else list(READ_RETRY_WAITS)
            while True:
                self.before_call(cost)
                self.calls += 1
                try:
                    reply = self.http.request(
                        method,
                        url,
                        headers={**headers, "Authorization": f"Bearer {token}"},
                        **kwargs,
                    )
                except (requests.ConnectionError, requests.Timeout) as exc:
                    if waits and not isinstance(exc, requests.Timeout):
                        time.sleep(waits.pop(0))
                        continue
                    # no answer: the provider may or may not have done it; retried with
                    # the same idempotency key (or looked up before re-creating)
                    self.writes_out += writes
                    raise SyncFailure(
                        f"{self.provider}.unavailable", f"{type(exc).__name__}: {exc}"
                    ) from exc
                if reply.status_code == 429:
                    count("ThrottlesReceived", provider=self.provider)
                else:
                    self.writes_out += writes
                if waits and reply.status_code in TRANSIENT_STATUSES:
                    time.sleep(waits.pop(0))
                    continue
                return reply

        return self.tokens.call(self, send)


@dataclass(frozen=True)
class PushItem:
    """One hub record to send: its latest content and its link (None: never sent)."""

    record: Record
    content: Any  # the hub content model (a hub.content.Contact, ...)
    link: Link | None
    idempotency_key: str  # from (connection, hub id, operation, operator retry); <= 36 chars
    # creates of this record sent before whose outcome never reached a link (a lost
    # reply, a crash before the link): what each wrote (the family's `intent`), oldest
    # first, so the family can find an object one of them made, however the record
    # changed since
    sent_before: tuple[dict[str, Any], ...] = ()

    @property
    def attempted_before(self) -> bool:
        return bool(self.sent_before)


@dataclass(frozen=True)
class Pushed:
    """The provider accepted the record: what the link must now say."""

    hub_id: str
    provider_id: str
    provider_version: str | None
    content_hash: str  # hash of the hub content as the provider now holds it
    # the object was found (an earlier create whose reply was lost) holding older content:
    # the link is written, and the record is sent again as an update
    behind: bool = False


@dataclass(frozen=True)
class Change:
    """An object that changed at the provider, as the provider gave it."""

    object_type: str  # the provider's id space ("Customer", "jobcode", "Contact")
    provider_id: str
    provider_version: str | None
    raw: dict[str, Any] | None  # None: deleted at the provider
    changed_at: datetime
    parent_provider_id: str | None = None  # e.g. a QBO sub-customer's ParentRef
    # filled by the engine once the link or the adopting family is known: the hub kind and
    # the content mapped to it
    kind: str = ""
    content: dict[str, Any] | None = None


@dataclass
class Page:
    """What one read of a source gave: changes, where to go on from, and whether the
    source has more right now (the engine reads again within its time)."""

    changes: list[Change]
    cursor: str
    more: bool = False


class Source(Protocol):
    """How a provider pages changes of one or more families, and the name of its cursor.

    A source may also say which webhook topics name its changes, as `topics` (Xero: the
    events' eventCategory): a webhook pull then reads only the sources its notices name,
    and a source no webhook names (`()`) is read by schedules and by hand. Without it,
    every notice may concern the source (QBO's CDC, QBT's poll)."""

    name: str

    def read(self, session: ProviderSession, cursor: str | None) -> Page: ...


@dataclass
class Checked:
    """A family's verdict on records the firm asks to send (`Family.refusals`)."""

    # record id -> why it cannot be sent (a SyncFailure of a catalogued code)
    refused: dict[str, SyncFailure] = field(default_factory=dict)
    # (kind, id) of records to send first for the others to go (a missing customer)
    parents: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class BillingGap:
    """Something an invoice family needs before invoices can go (billing-setup)."""

    what: str  # work_type | tax_rate | income_account | payment_account | ...
    name: str  # the work type, the hub tax rate ("GST+PST"), the setting
    detail: str  # what is missing, in the provider's terms
    fix: str  # what to do: the setting to fill in, with the provider's choices


class Family:
    """One entity family at one provider. Subclass it in providers/<p>/<family>.py and
    add one instance to providers/registry.py. Defaults: pushed only, no pull."""

    provider: str = ""
    kind: str = ""  # the hub kind
    object_type: str = ""  # the provider's id space (links are keyed by it)
    max_batch: int = 1  # records per provider write
    # hub fields the provider may change (a pull takes only these); () : never pulled
    managed_fields: tuple[str, ...] = ()
    # objects of `object_type` with no link, met in a pull, become records of this kind
    # (through the hub kind's `adopt`): one family per object type says so
    adopts: bool = False
    pushes: bool = True
    # a create goes only when the firm asks (a message marked `explicit`): QBO time
    # activities are sent once, by the firm's act; updates of what was sent flow as usual
    on_request: bool = False
    # only records dated within this many days are kept in step (the kind must be
    # `dated`): a full reconcile reads those by the date index, not the firm's history
    recent_days: int | None = None
    # objects per page of `listing` (what drift says a report will cost)
    listing_page: int = 100
    # connection settings this family reads: name -> (type, pydantic Field); they join the
    # provider's settings schema (providers/registry.py)
    settings: dict[str, tuple[Any, Any]] = {}
    # builds the source that reads this family's changes, given every family of the
    # provider that names the same factory (QBO's CDC reads several entities at once)
    source: Callable[[Sequence[Family]], Source] | None = None

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        """Should a connection with these (effective) settings receive this record?"""
        return True

    def retired(self, data: dict[str, Any]) -> bool:
        """Content that needs no provider object (a void payment): like a deleted record,
        never sent when it has no link, and removed at the provider when it has one."""
        return False

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        """Create or update each item, batched; one result per item, in order.
        Exceptions are booksync.errors.SyncFailure for classified provider errors."""
        raise NotImplementedError(f"{self.provider} {self.kind} is not pushed")

    def intent(self, item: PushItem) -> dict[str, Any]:
        """What a create of `item` is about to write, kept until its link exists: handed
        back as `sent_before` if the create has to be tried again."""
        return {}

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        """Every object of the family at the provider, raw (drift reads it whole: see
        engine/drift.py); families of one object type list the same objects. A family
        that cannot list, or need not (one way: the hub's word stands), leaves this as
        it is."""
        return None

    def unchanged_since(self, version: str | None, raw: dict[str, Any]) -> bool:
        """Is `raw` still at `version` (a link's provider_version)? Drift tells a missed edit
        at the provider from content linked apart. False when it cannot tell."""
        return False

    def intent_lookup(self, intent: dict[str, Any]) -> str | None:
        """What of a create's intent the object it makes shows (QBO: the DisplayName; Xero:
        the hub id in ContactNumber): the push keeps the record's id under it, so a pull
        that meets the object before its link finds the record by key (`lookup_of`), not
        by reading the whole firm. None: not kept."""
        return None

    def lookup_of(self, raw: dict[str, Any]) -> str | None:
        """`intent_lookup`'s value as a provider object shows it."""
        return None

    def hub_id_shown(self, raw: dict[str, Any]) -> str | None:
        """The hub id a provider object carries when booksync wrote it there (Xero's
        ContactNumber): a pull finds the record that made it with no lookup row at all."""
        return None

    def made_by(self, intent: dict[str, Any], raw: dict[str, Any]) -> bool:
        """Whether the provider object `raw` is the one a create with this `intent` (and
        its "at", when it was sent) wrote: a pull that meets our own create before its
        link links it instead of asking a person about a possible duplicate."""
        return False

    def takes_in(self, settings: dict[str, Any], raw: dict[str, Any]) -> bool:
        """Does an object of this family that matches no hub record become one by itself
        (import, pull)? One that does not is still linked to a record it matches exactly,
        and is added when the firm asks (a Xero contact never invoiced, for a firm that
        imports customers only). Default: yes."""
        return True

    def refusals(self, session: ProviderSession, records: list[Record]) -> Checked:
        """Before a send the firm asks for (engine/send.py): which of these unsent records
        cannot go, and why, in terms a bookkeeper understands. Default: all can."""
        return Checked()

    def resolve(self, session: ProviderSession, changes: list[Change]) -> list[Change]:
        """Before a page's changes of `object_type` are mapped: the hub ids their
        references name (a payment's invoices and customer), read in one batch and put
        where `from_provider` finds them (e.g. raw["_hub"]); may turn a change into a
        deletion (a voided payment). Returns the changes in the same order."""
        return changes

    def billing_gaps(
        self, session: ProviderSession, work_types: set[str], tax_rates: set[str]
    ) -> list[BillingGap]:
        """An invoice family: what is missing before the firm's invoices can go (work
        types with no service, hub tax rates with no provider code, no income account),
        given the work types and tax rates ("GST" or "GST+PST") its invoices use."""
        return []

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        """The hub content of a provider object (None: it cannot be a hub record). May
        raise ValueError (pydantic's ValidationError) for content the hub cannot hold."""
        raise NotImplementedError(f"{self.provider} {self.kind} is not pulled")

    def deleted_content(self, current: dict[str, Any]) -> dict[str, Any] | None:
        """The hub content once the provider deleted (archived) the object; None: the hub
        record is deleted too (time deleted in QuickBooks Time)."""
        return {**current, "active": False}
