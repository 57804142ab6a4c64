"""Provider webhook intake: verify the signature on the raw body, find each notified
company's connection, and queue one pull per connection. Nothing here calls a provider
or reads tokens; the pull worker does the fetching.

Wire facts (../shared/PROVIDERS.md 1.6 and 3.6):
- QBO: `intuit-signature` = base64(HMAC-SHA256(verifier token, raw body))
  (developer.intuit.com "Managing webhooks notifications"; python-quickbooks
  `validate_webhook_signature`). Two bodies: the legacy `{"eventNotifications": [...]}`
  object, and the CloudEvents JSON array (blogs.intuit.com 2025-11-12) whose
  `intuitaccountid` is the realm. One POST may carry several realms.
- Xero: `x-xero-signature` = base64(HMAC-SHA256(webhook key, raw body)); answer 200 with
  an empty body and no cookies, 401 to a bad signature, including the intent-to-receive
  check (an empty `events` list) (developer.xero.com webhooks/configuring-your-server).

Both providers retry a delivery they think failed (QBO every 6 h for days, Xero for 24 h),
so a delivery is remembered for 8 days by provider and body hash (Powertools idempotency); a
repeat inside SQS's 5-minute window is also stopped by the pull's de-duplication id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from booksync.engine.messages import Pull
from booksync.engine.queues import Enqueuer
from booksync.errors import Conflict, InvalidInput, NotFound, Unauthorized
from booksync.observability import logger
from booksync.providers import registry
from booksync.secrets import webhook_keys
from booksync.settings import Settings
from booksync.store import connections as connection_rows

SIGNATURE_HEADERS = {"qbo": "intuit-signature", "xero": "x-xero-signature"}
PROVIDERS = tuple(SIGNATURE_HEADERS)
# a delivery is remembered past the providers' retries: QBO retries every 6 hours for days
# (developer.intuit.com webhooks best practices; the simulator: a week), Xero for 24 hours
REMEMBER_SECONDS = 8 * 24 * 3600
IDEMPOTENCY_PREFIX = "booksync.webhooks.delivery"
LAMBDA_MAX_MS = 900_000  # a Lambda never runs longer than 15 minutes
# Deliveries are a few KB (QBO: entity ids only; Xero: at most a few hundred events). A
# body past this is refused before its signature is computed, so nobody makes the
# function hash megabytes (API Gateway's own cap is 10 MB).
MAX_BODY_BYTES = 256 * 1024


class SignatureInvalid(Unauthorized):
    """Missing or wrong signature, or no key to check it with."""


class DeliveryInvalid(InvalidInput):
    """A correctly signed body that is not a notification we understand."""


class DeliveryInProgress(Conflict):
    """The same delivery is being handled right now; the provider will retry it."""


class UnknownProvider(NotFound):
    """No webhook endpoint for this provider."""


class BodyTooLarge(InvalidInput):
    """A body over MAX_BODY_BYTES: refused before any signature is computed."""

    status = 413
    title = "Payload too large"
    type_suffix = "payload-too-large"


def check_size(length: int) -> None:
    if length > MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"a webhook body is at most {MAX_BODY_BYTES} bytes; this one is {length}",
            field="body",
        )


# ---------------------------------------------------------------- signature


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The exact bytes the provider signed, from an API Gateway event's body."""
    if not body:
        return b""
    # base64 is 4/3 of the bytes it carries: too long already, whatever it decodes to
    check_size(len(body) * 3 // 4 if is_base64_encoded else len(body))
    if is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DeliveryInvalid("body is marked base64 but is not base64") from exc
    return body.encode("utf-8")


def sign(key: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key, body)): how both QBO and Xero sign a delivery."""
    digest = hmac.new(key.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(key: str, body: bytes, signature: str | None) -> bool:
    """Constant-time check; no key or no signature is never valid."""
    if not key or not signature:
        return False
    return hmac.compare_digest(sign(key, body).encode("ascii"), signature.strip().encode("utf-8"))


def signed_by_any(keys: tuple[str, ...], body: bytes, signature: str | None) -> bool:
    """Valid under one of the keys (during a rotation: the new one and the old one). Every
    key is checked, so the time taken does not say which one matched."""
    results = [signature_valid(key, body, signature) for key in keys]
    return any(results)


# ---------------------------------------------------------------- body shapes


class _QboEntity(BaseModel):
    name: str
    id: str
    operation: str


class _QboDataChange(BaseModel):
    entities: list[_QboEntity]


class _QboNotification(BaseModel):
    realmId: str = Field(min_length=1)
    dataChangeEvent: _QboDataChange


class _QboLegacy(BaseModel):
    eventNotifications: list[_QboNotification]


class _QboCloudEvent(BaseModel):
    specversion: str
    id: str
    type: str
    intuitaccountid: str = Field(min_length=1)  # the realm id


class _XeroEvent(BaseModel):
    tenantId: str = Field(min_length=1)
    eventCategory: str
    eventType: str
    resourceId: str


class _XeroDelivery(BaseModel):
    events: list[_XeroEvent]
    firstEventSequence: int | None = None
    lastEventSequence: int | None = None
    entropy: str | None = None


_CLOUD_EVENTS: TypeAdapter[list[_QboCloudEvent]] = TypeAdapter(list[_QboCloudEvent])


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _invalid(exc: ValidationError) -> DeliveryInvalid:
    first = exc.errors()[0]
    where = _where(tuple(first["loc"]))
    return DeliveryInvalid(f"{where}: {first['msg']}", field=where)


def _count(companies: dict[str, int], company_id: str) -> None:
    companies[company_id] = companies.get(company_id, 0) + 1


# company id -> events booksync reads; company id -> the events' topics (Xero names them;
# QBO's CDC reads everything at once, so its topics are empty)
_Parsed = tuple[dict[str, int], dict[str, list[str]]]


def qbo_companies(payload: Any) -> _Parsed:
    """Realm id -> number of entity events booksync reads, from either QBO body format.
    A realm whose events all name entities no family reads (a TimeActivity booksync wrote)
    is left out: its pull would read nothing booksync holds, and spend an item of the
    realm's 500 a minute. An event whose entity cannot be told still counts."""
    read = registry.read_object_types("qbo")
    companies: dict[str, int] = {}
    try:
        if isinstance(payload, list):
            for event in _CLOUD_EVENTS.validate_python(payload):
                parts = event.type.split(".")  # qbo.<entity>.<operation>.v1
                if len(parts) >= 3 and parts[0] == "qbo" and parts[1].casefold() not in read:
                    continue
                _count(companies, event.intuitaccountid)
            return companies, {}
        if isinstance(payload, dict) and "eventNotifications" in payload:
            for note in _QboLegacy.model_validate(payload).eventNotifications:
                entities = note.dataChangeEvent.entities
                mine = [e for e in entities if e.name.casefold() in read]
                if entities and not mine:
                    continue
                companies[note.realmId] = companies.get(note.realmId, 0) + len(mine)
            return companies, {}
    except ValidationError as exc:
        raise _invalid(exc) from exc
    raise DeliveryInvalid(
        "expected an object with eventNotifications or a CloudEvents array", field="body"
    )


def xero_companies(payload: Any) -> _Parsed:
    """Xero tenantId -> number of events (the intent-to-receive check has none), and
    tenantId -> the events' categories (CONTACT, INVOICE): its pull reads only the sources
    they may concern (seam.Source.topics)."""
    try:
        delivery = _XeroDelivery.model_validate(payload)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    companies: dict[str, int] = {}
    topics: dict[str, set[str]] = {}
    for event in delivery.events:
        _count(companies, event.tenantId)
        topics.setdefault(event.tenantId, set()).add(event.eventCategory.upper()[:32])
    return companies, {company: sorted(named)[:8] for company, named in topics.items()}


COMPANIES: dict[str, Callable[[Any], _Parsed]] = {
    "qbo": qbo_companies,
    "xero": xero_companies,
}


@dataclass(frozen=True)
class Delivery:
    """A verified, parsed delivery: who it is for and what identifies it."""

    provider: str
    sha256: str
    companies: dict[str, int]
    topics: dict[str, list[str]] = field(default_factory=dict)  # company -> topics (Xero)


def parse(provider: str, body: bytes) -> Delivery:
    """Parse a verified body; DeliveryInvalid says what is wrong and where."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DeliveryInvalid(f"body is not JSON: {exc}", field="body") from exc
    companies, topics = COMPANIES[provider](payload)
    return Delivery(
        provider=provider,
        sha256=hashlib.sha256(body).hexdigest(),
        companies=companies,
        topics=topics,
    )


# ---------------------------------------------------------------- routing


@dataclass
class Routed:
    """What a delivery led to; stored with the idempotency record and returned on replay."""

    enqueued: list[str] = field(default_factory=list)  # connection ids
    unknown: list[str] = field(default_factory=list)  # company ids with no connection
    inactive: dict[str, str] = field(default_factory=dict)  # connection id -> status
    replayed: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Routed:
        data = data or {}
        return cls(
            enqueued=list(data.get("enqueued", [])),
            unknown=list(data.get("unknown", [])),
            inactive=dict(data.get("inactive", {})),
            replayed=bool(data.get("replayed", False)),
        )


def trigger_for(delivery: Delivery, company_id: str) -> str:
    """The pull's trigger: the same delivery for the same company gives the same message,
    so SQS drops a repeat within its de-duplication window."""
    return f"webhook:{delivery.sha256[:40]}:{company_id}"[:128]


def route(delivery: Delivery, enqueuer: Enqueuer) -> Routed:
    """One pull per active connection of every company named in the delivery."""
    routed = Routed()
    for company_id in sorted(delivery.companies):
        where = {"provider": delivery.provider, "company_id": company_id}
        found = False
        for conn in connection_rows.with_company(f"{delivery.provider}#{company_id}"):
            found = True
            ids = {**where, "tenant_id": conn.tenant_id, "connection_id": conn.connection_id}
            if conn.status != "active":
                routed.inactive[conn.connection_id] = conn.status
                logger.info(
                    "webhook for an inactive connection; no pull",
                    extra={**ids, "status": conn.status},
                )
                continue
            enqueuer.send(
                Pull(
                    tenant_id=conn.tenant_id,
                    connection_id=conn.connection_id,
                    provider=conn.provider,  # type: ignore[arg-type]
                    reason="webhook",
                    trigger=trigger_for(delivery, company_id),
                    topics=tuple(delivery.topics.get(company_id, ())),
                )
            )
            routed.enqueued.append(conn.connection_id)
            logger.info(
                "webhook pull queued", extra={**ids, "events": delivery.companies[company_id]}
            )
        if not found:
            routed.unknown.append(company_id)
            logger.warning("webhook for a company with no connection", extra=where)
    return routed


def _route_once(*, delivery: dict[str, Any], enqueuer: Enqueuer) -> dict[str, Any]:
    parsed = Delivery(
        provider=delivery["provider"],
        sha256=delivery["sha256"],
        companies=dict(delivery["companies"]),
        topics=dict(delivery.get("topics") or {}),
    )
    return asdict(route(parsed, enqueuer))


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**(response or {}), "replayed": True}


def idempotency_store(settings: Settings, dynamodb: Any = None) -> DynamoDBPersistenceLayer:
    """Deliveries seen, in template.yaml's IdempotencyTable (key `id`, TTL `expiration`)."""
    return DynamoDBPersistenceLayer(
        table_name=settings.tables.idempotency,
        key_attr="id",
        expiry_attr="expiration",
        boto3_client=dynamodb,
    )


class _Deadline:
    """The invocation's remaining time, as the idempotency record's in-progress expiry.
    Capped at Lambda's limit: a context claiming more (a test double) would overflow
    Powertools' timedelta."""

    def __init__(self, lambda_context: Any) -> None:
        self._context = lambda_context

    def get_remaining_time_in_millis(self) -> int:
        return min(int(self._context.get_remaining_time_in_millis()), LAMBDA_MAX_MS)


class WebhookIntake:
    """Verify, parse, de-duplicate and route one delivery. Built once per cold start."""

    def __init__(
        self,
        enqueuer: Enqueuer,
        webhook_keys: Callable[[str], tuple[str, ...]],
        store: BasePersistenceLayer,
    ) -> None:
        self._enqueuer = enqueuer
        self._webhook_keys = webhook_keys
        self._config = IdempotencyConfig(
            event_key_jmespath="[provider, sha256]",
            expires_after_seconds=REMEMBER_SECONDS,
            response_hook=_mark_replayed,
        )
        self._once: Callable[..., dict[str, Any]] = idempotent_function(
            _route_once,
            data_keyword_argument="delivery",
            persistence_store=store,
            config=self._config,
            key_prefix=IDEMPOTENCY_PREFIX,
        )

    @classmethod
    def for_settings(cls, settings: Settings, enqueuer: Enqueuer) -> WebhookIntake:
        return cls(
            enqueuer=enqueuer,
            webhook_keys=lambda provider: webhook_keys(settings, provider),
            store=idempotency_store(settings),
        )

    def receive(
        self,
        provider: str,
        body: bytes,
        signature: str | None,
        lambda_context: Any = None,
    ) -> Routed:
        """Raise BodyTooLarge (413, before the signature is checked), SignatureInvalid
        (401), DeliveryInvalid (400) or DeliveryInProgress (409); otherwise say what was
        queued."""
        if provider not in PROVIDERS:
            raise UnknownProvider(f"no webhook endpoint for {provider!r}")
        check_size(len(body))
        keys = self._webhook_keys(provider)
        if not keys:
            logger.error("no webhook key configured", extra={"provider": provider})
        if not signed_by_any(keys, body, signature):
            logger.warning(
                "webhook rejected: bad or missing signature",
                extra={"provider": provider, "signed": bool(signature)},
            )
            raise SignatureInvalid(f"the {SIGNATURE_HEADERS[provider]} header does not match")
        try:
            delivery = parse(provider, body)
        except DeliveryInvalid as exc:
            logger.warning("webhook body rejected", extra={"provider": provider, "why": exc.detail})
            raise
        if not delivery.companies:
            # Xero's intent-to-receive check, or an empty notification: nothing to pull
            logger.info("webhook with no events booksync reads", extra={"provider": provider})
            return Routed()
        if lambda_context is not None:
            # an invocation that dies mid-way frees the delivery for the provider's retry
            self._config.register_lambda_context(cast(Any, _Deadline(lambda_context)))
        try:
            result = self._once(delivery=asdict(delivery), enqueuer=self._enqueuer)
        except IdempotencyAlreadyInProgressError as exc:
            raise DeliveryInProgress("this delivery is being handled; retry later") from exc
        routed = Routed.from_dict(result)
        if routed.replayed:
            logger.info(
                "repeated webhook delivery; already handled",
                extra={"provider": provider, "companies": sorted(delivery.companies)},
            )
        return routed
