"""The queue message schema: versioned, validated, the one shape every worker reads.

Messages carry ids only, never record content or tokens: a worker re-reads the record,
so a delayed message never writes stale data. FIFO group: a pull's is its connection; a
push's is its connection and a shard of the record's group key (a client and its jobs
share one), so independent records of one firm go in parallel, up to the provider's
concurrency, while two changes of one record keep their order. The de-duplication id
makes a repeated send harmless.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Provider = Literal["qbo", "qbt", "xero"]
PROVIDERS: tuple[Provider, ...] = ("qbo", "qbt", "xero")
SCHEMA_VERSION = 1


class MessageInvalid(ValueError):
    """A body that is not a booksync message of a known version."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    tenant_id: str = Field(min_length=1, max_length=64)
    connection_id: str = Field(min_length=1, max_length=64)
    provider: Provider

    def group_id(self) -> str:
        return self.connection_id

    def dedup_id(self) -> str:
        raw = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:64]


class _Push(_Message):
    kind: str = Field(min_length=1, max_length=32)
    shard: str = Field(default="", max_length=8)  # "": the connection's own group
    # the firm asked for this send (e.g. "send time to QBO"): a family that creates only
    # on request (seam.Family.on_request) creates only for such a message
    explicit: bool = False

    def group_id(self) -> str:
        return f"{self.connection_id}#{self.shard}" if self.shard else self.connection_id


class PushRecord(_Push):
    """Send one hub record (at a version) to the provider."""

    type: Literal["push"] = "push"
    record_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)
    # > 0 when an operator retries a failed sync: a new idempotency key, because QBO
    # replays the first answer (the old error) for a repeated requestid
    retry: int = Field(default=0, ge=0)


class RecordRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    record_id: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1)


MAX_BUNDLE = 50  # the largest provider write (Xero, QBT); QBO's is 30


class PushRecords(_Push):
    """Send several hub records of one kind: what bulk work queues ("save and sync", an
    import's new contacts), so one message fills a provider batch (QBO 30, Xero and QBT
    50) where one message per record would stop at SQS's ten messages per batch."""

    type: Literal["push_many"] = "push_many"
    records: tuple[RecordRef, ...] = Field(min_length=1, max_length=MAX_BUNDLE)

    def each(self) -> list[PushRecord]:
        """One PushRecord per record: what the push step and sync error rows work on."""
        return [
            PushRecord(
                tenant_id=self.tenant_id,
                connection_id=self.connection_id,
                provider=self.provider,
                kind=self.kind,
                shard=self.shard,
                explicit=self.explicit,
                record_id=ref.record_id,
                version=ref.version,
            )
            for ref in self.records
        ]


def push_messages(
    tenant_id: str,
    connection_id: str,
    provider: Provider,
    kind: str,
    records: list[tuple[str, int]],
    bundle_size: int,
    shard: str = "",
    explicit: bool = False,
) -> list[PushRecord | PushRecords]:
    """The messages that push (record id, version) pairs of one shard: bundles of
    `bundle_size`, and a plain PushRecord for a bundle of one."""
    size = max(1, min(bundle_size, MAX_BUNDLE))
    out: list[PushRecord | PushRecords] = []
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        if len(chunk) == 1:
            out.append(
                PushRecord(
                    tenant_id=tenant_id,
                    connection_id=connection_id,
                    provider=provider,
                    kind=kind,
                    shard=shard,
                    explicit=explicit,
                    record_id=chunk[0][0],
                    version=chunk[0][1],
                )
            )
        else:
            out.append(
                PushRecords(
                    tenant_id=tenant_id,
                    connection_id=connection_id,
                    provider=provider,
                    kind=kind,
                    shard=shard,
                    explicit=explicit,
                    records=tuple(RecordRef(record_id=rid, version=v) for rid, v in chunk),
                )
            )
    return out


class Pull(_Message):
    """Pull what changed at the provider since the connection's cursor."""

    type: Literal["pull"] = "pull"
    # continue: the rest of a backlog a pull could not read in one invocation
    reason: Literal["webhook", "reconcile", "manual", "continue"] = "reconcile"
    # set by the sender: the webhook delivery or the schedule tick this pull answers,
    # so a repeated delivery of the same notice de-duplicates in the FIFO queue
    trigger: str = Field(default="", max_length=128)
    # a continuation goes on at the source where its pull stopped (the ones before it
    # were read to the end), and remembers when the first pull of the chain began: the
    # chain is marked pulled from then once its last source is read
    resume: str = Field(default="", max_length=64)
    began: datetime | None = None
    # a webhook's topics (Xero: CONTACT, INVOICE): only the sources they may concern are
    # read (seam.Source.topics); empty: every source
    topics: tuple[str, ...] = Field(default=(), max_length=8)


Message = PushRecord | PushRecords | Pull
QueueMessage = Annotated[Message, Field(discriminator="type")]


class _Envelope(BaseModel):
    message: QueueMessage


def direction_of(message: Message) -> str:
    return "pull" if isinstance(message, Pull) else "push"


def encode(message: Message) -> str:
    return message.model_dump_json()


def decode(body: str | bytes | dict[str, Any]) -> Message:
    """Parse and validate a message body; MessageInvalid says what is wrong."""
    try:
        raw = body if isinstance(body, dict) else json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MessageInvalid(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise MessageInvalid("not a JSON object")
    if raw.get("v") != SCHEMA_VERSION:
        raise MessageInvalid(f"unknown schema version {raw.get('v')!r}")
    try:
        return _Envelope.model_validate({"message": raw}).message
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise MessageInvalid(f"{where}: {first['msg']}") from exc


def ids_of(body: str) -> tuple[str | None, str | None]:
    """(tenant id, connection id) of a message body, as far as it can be read: a message
    `decode` refuses still says whose it is (its error row, a dead letter's owner)."""
    try:
        raw = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(raw, dict):
        return None, None
    tenant, connection = raw.get("tenant_id"), raw.get("connection_id")
    return (
        tenant if isinstance(tenant, str) and tenant else None,
        connection if isinstance(connection, str) else None,
    )
