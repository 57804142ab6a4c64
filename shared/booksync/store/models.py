"""PynamoDB models of every table in template.yaml (tests check the keys match).

Table names come from settings at start (`bind_tables`), so the same models serve any
stage. Hash/range keys are composite strings documented on each model; this module is
the only place that knows them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import botocore.session
from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from booksync.settings import Tables


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Base(Model):
    """Shared Meta: table names are bound at start from settings."""

    settings_attr: ClassVar[str] = ""

    class Meta:
        table_name = "unbound"
        region = None


class Tenant(_Base):
    """A firm using booksync."""

    settings_attr = "tenants"

    class Meta(_Base.Meta):
        pass

    tenant_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UTCDateTimeAttribute(default=utcnow)


class ApiKeyByTenant(GlobalSecondaryIndex["ApiKey"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_tenant"
        projection = AllProjection()

    tenant_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ApiKey(_Base):
    """A practice API key; only its SHA-256 is stored."""

    settings_attr = "api_keys"

    class Meta(_Base.Meta):
        pass

    key_hash = UnicodeAttribute(hash_key=True)
    tenant_id = UnicodeAttribute()
    key_id = UnicodeAttribute()  # short public prefix, shown in listings
    created_at = UnicodeAttribute()  # ISO timestamp; a string so the index can sort on it
    revoked_at = UTCDateTimeAttribute(null=True)
    # read < write < admin; keys made before scopes existed have none and are admin
    scope = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)  # what the firm calls it ("practice app", "reports")
    expires_at = UTCDateTimeAttribute(null=True)  # none: until revoked
    last_used_at = UTCDateTimeAttribute(null=True)  # updated at most once a minute
    by_tenant = ApiKeyByTenant()


class CompanyClaim(_Base):
    """Which tenant holds a provider company: one item per company in the Tenants table
    (claim_key = "company#<provider>#<company id>"), written in the same transaction as
    the connection on the condition that nobody else holds it, so two firms connecting
    the same company at once cannot both succeed."""

    settings_attr = "tenants"

    class Meta(_Base.Meta):
        pass

    claim_key = UnicodeAttribute(hash_key=True, attr_name="tenant_id")
    owner_tenant_id = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute(default=utcnow)


class ConnectionByCompany(GlobalSecondaryIndex["Connection"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_company"
        projection = AllProjection()

    company_key = UnicodeAttribute(hash_key=True)


class Connection(_Base):
    """One per tenant and provider: company id, encrypted tokens, status, settings."""

    settings_attr = "connections"

    class Meta(_Base.Meta):
        pass

    tenant_id = UnicodeAttribute(hash_key=True)
    provider = UnicodeAttribute(range_key=True)
    connection_id = UnicodeAttribute()
    company_key = UnicodeAttribute(null=True)  # "<provider>#<company id>", for webhooks
    company_id = UnicodeAttribute(null=True)
    company_name = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="disconnected")  # active | needs_reauth | disconnected
    tokens = UnicodeAttribute(null=True)  # KMS ciphertext, base64
    token_version = NumberAttribute(default=0)
    access_expires_at = UTCDateTimeAttribute(null=True)
    refreshed_at = UTCDateTimeAttribute(null=True)
    settings = JSONAttribute(default=dict)
    connected_at = UTCDateTimeAttribute(null=True)
    last_sync_at = UTCDateTimeAttribute(null=True)  # when the last pull finished
    # when the last completed pull began: a webhook notice sent before it is covered
    pull_started_at = UTCDateTimeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    by_company = ConnectionByCompany()


class RecordsByRef(GlobalSecondaryIndex["Record"]):  # type: ignore[no-untyped-call]
    """Sparse: records of a kind whose declaration names an indexed field, by that field's
    value (ref_key = "<kind>#<value>"): "contacts of this type", "work items of this
    contact", answered by key instead of by reading the tenant's partition."""

    class Meta:
        index_name = "by_ref"
        projection = KeysOnlyProjection()

    tenant_id = UnicodeAttribute(hash_key=True)
    ref_key = UnicodeAttribute(range_key=True)


class RecordsByUpdated(GlobalSecondaryIndex["Record"]):  # type: ignore[no-untyped-call]
    """Records by last change: the hourly reconcile reads what changed since its last run."""

    class Meta:
        index_name = "by_updated"
        projection = KeysOnlyProjection()

    tenant_id = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class RecordsByDate(GlobalSecondaryIndex["Record"]):  # type: ignore[no-untyped-call]
    """Sparse: records of a dated kind by their date (date_key = "<kind>#<yyyy-mm-dd>"):
    "time entries of last week" by key, however many years of time the firm keeps."""

    class Meta:
        index_name = "by_date"
        projection = KeysOnlyProjection()

    tenant_id = UnicodeAttribute(hash_key=True)
    date_key = UnicodeAttribute(range_key=True)


class Record(_Base):
    """A hub record. record_key = "<kind>#<id>"."""

    settings_attr = "records"

    class Meta(_Base.Meta):
        pass

    tenant_id = UnicodeAttribute(hash_key=True)
    record_key = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    record_id = UnicodeAttribute()
    version = NumberAttribute(default=1)
    origin = UnicodeAttribute(default="practice")  # practice | qbo | qbt | xero
    data = JSONAttribute(default=dict)
    deleted = NumberAttribute(default=0)  # 1: deleted in the hub (kept for links and history)
    # audit: the last changes, newest last: {version, origin, at, previous: {field: old}}
    history = JSONAttribute(default=list)
    created_at = UTCDateTimeAttribute(default=utcnow)
    updated_at = UTCDateTimeAttribute(default=utcnow)
    ref_key = UnicodeAttribute(null=True)  # see RecordsByRef
    date_key = UnicodeAttribute(null=True)  # see RecordsByDate
    by_ref = RecordsByRef()
    by_updated = RecordsByUpdated()
    by_date = RecordsByDate()

    @staticmethod
    def key(kind: str, record_id: str) -> str:
        return f"{kind}#{record_id}"


class Link(_Base):
    """Hub record <-> provider object. link_key = "<tenant>#<provider>",
    hub_key = "<kind>#<hub id>", provider_key = "<object type>#<provider id>" (the
    provider's own id space: a QBO Customer, a QBT jobcode, a Xero Contact)."""

    settings_attr = "links"

    class Meta(_Base.Meta):
        pass

    link_key = UnicodeAttribute(hash_key=True)
    hub_key = UnicodeAttribute(range_key=True)
    provider_key = UnicodeAttribute()
    provider_id = UnicodeAttribute()
    provider_version = UnicodeAttribute(null=True)  # SyncToken, UpdatedDateUTC, last_modified
    content_hash = UnicodeAttribute(null=True)
    synced_version = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(default=utcnow)


class LinkIndex(_Base):
    """The second item of every link, in the same table and written in the same
    transaction: the link found by provider id with a key read (a pull page of 1,000
    changes is ten BatchGetItem calls, whatever the firm's size). link_key =
    "<tenant>#<provider>#ids", hub_key = "<object type>#<provider id>", target = the
    link's hub_key."""

    settings_attr = "links"

    class Meta(_Base.Meta):
        pass

    link_key = UnicodeAttribute(hash_key=True)
    hub_key = UnicodeAttribute(range_key=True)
    target = UnicodeAttribute()


class AuditEntry(_Base):
    """One operator or admin action: who (an API key id, or "operator-cli"), what, when, for
    which firm. Kept in the Links table under its own key prefix, as LinkIndex is (a
    partition no link query reads, and that table is never scanned): audit_key =
    "<tenant>#audit", at_key = "<ISO time>#<random>", so a firm's trail is one key read,
    newest first."""

    settings_attr = "links"

    class Meta(_Base.Meta):
        pass

    audit_key = UnicodeAttribute(hash_key=True, attr_name="link_key")
    at_key = UnicodeAttribute(range_key=True, attr_name="hub_key")
    tenant_id = UnicodeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()  # "dlq.redrive", "api_key.create", "link.remove", ...
    at = UTCDateTimeAttribute(default=utcnow)
    details = JSONAttribute(default=dict)


class Cursor(_Base):
    """Where a connection's last pull of an entity family stopped."""

    settings_attr = "cursors"

    class Meta(_Base.Meta):
        pass

    connection_id = UnicodeAttribute(hash_key=True)
    family = UnicodeAttribute(range_key=True)
    position = UnicodeAttribute(null=True)  # changedSince / If-Modified-Since / modified_since
    runs = NumberAttribute(default=0)
    last_run_at = UTCDateTimeAttribute(null=True)
    # when the last pull that read this source to its end began: a notice about it sent
    # before then is already covered
    started_at = UTCDateTimeAttribute(null=True)


class SyncErrorRow(_Base):
    """One row per failing (connection, record). error_key = "<provider>#<kind>#<record id>"."""

    settings_attr = "sync_errors"

    class Meta(_Base.Meta):
        pass

    tenant_id = UnicodeAttribute(hash_key=True)
    error_key = UnicodeAttribute(range_key=True)
    provider = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    record_kind = UnicodeAttribute(null=True)
    record_id = UnicodeAttribute(null=True)
    code = UnicodeAttribute()
    title = UnicodeAttribute()
    fix = UnicodeAttribute()
    provider_message = UnicodeAttribute(default="")
    status = UnicodeAttribute(default="open")  # open | retrying | dismissed | resolved
    attempts = NumberAttribute(default=1)
    first_seen = UTCDateTimeAttribute(default=utcnow)
    last_seen = UTCDateTimeAttribute(default=utcnow)
    message = JSONAttribute(null=True)  # the queue message to replay on retry


class Lease(_Base):
    """Short-lived coordination: OAuth state, refresh lease, rate bucket, delivery dedupe."""

    settings_attr = "leases"

    class Meta(_Base.Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute(null=True)
    value = JSONAttribute(null=True)
    version = NumberAttribute(default=0)
    expires_at = NumberAttribute()  # epoch seconds: DynamoDB TTL


ALL_MODELS: tuple[type[_Base], ...] = (
    Tenant,
    ApiKey,
    CompanyClaim,
    Connection,
    Record,
    Link,
    LinkIndex,
    AuditEntry,
    Cursor,
    SyncErrorRow,
    Lease,
)


def bind_tables(tables: Tables) -> None:
    """Point every model at its table; call once at start with the settings' names."""
    for model in ALL_MODELS:
        name = getattr(tables, model.settings_attr)
        if model.Meta.table_name != name:
            model.Meta.table_name = name
            model._connection = None  # PynamoDB caches the table name in its connection


def open_clients() -> None:
    """Make the models' DynamoDB client now, at cold start: one client for every model.

    PynamoDB makes a botocore session and a client per model on the model's first request
    (about 0.1 s of CPU each), and each client learns DynamoDB's request and answer shapes
    for itself on its first call of each operation, so a new Lambda instance's first
    messages paid that once per table (profiled: the largest cost of a new instance's
    first QBT push invocation after waiting for replies); each client also kept its own
    pool of HTTP connections. Models whose connection
    settings agree (all of ours) share the first one's client: the shapes are learnt once
    per instance, the connections pooled once. The client is PynamoDB's own, as before."""
    session = botocore.session.get_session()
    shared: dict[tuple[Any, ...], Any] = {}
    for model in ALL_MODELS:
        connection = model._get_connection().connection
        connection._local.session = session  # PynamoDB keeps it per thread; this is ours
        same = (
            connection.region,
            connection.host,
            connection._connect_timeout_seconds,
            connection._read_timeout_seconds,
            connection._max_retry_attempts_exception,
            connection._max_pool_connections,
            str(connection._retry_configuration),
            str(connection._extra_headers),
        )
        if same in shared:
            connection._client = shared[same]  # PynamoDB's own attribute, as the session
        else:
            shared[same] = connection.client


def as_dict(model: Model) -> dict[str, Any]:
    return {k: v for k, v in model.attribute_values.items()}
