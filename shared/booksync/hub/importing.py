"""Importing a provider's contacts into the hub: link the exact matches, create the rest,
send the doubtful ones to a person (duplicates), and preview all of it without writing.

A provider plugs in through `ImportSource` (a `list(session)` of `ProviderContact`s);
everything here is provider-neutral. Import never writes to the provider: hub contacts it
does not know are only reported ("would be sent" by the normal push, or not).

Idempotent: provider ids already linked are skipped; a created hub contact gets an id
derived from (provider, company, provider id), so a crash between creating the record
and writing its link is repaired by the next run instead of creating a second record;
a possible duplicate is one row per provider id, and a person's "ignore" sticks.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pynamodb.exceptions import UpdateError

from booksync.engine.seam import Change, ProviderSession
from booksync.errors import Conflict, InvalidInput, NotFound
from booksync.hub.content import content_hash
from booksync.hub.matching import Candidate, MatchStats, Party, classify
from booksync.hub.routing import effective_settings, wants
from booksync.store import links
from booksync.store.models import Connection, Link, Record, utcnow

KIND = "contact"
DUPLICATE_KIND = "duplicate"
IMPORT_PROVIDERS = ("qbo", "xero")
HUB_ID_NAMESPACE = uuid.UUID("6f1c2a52-1d8e-5b7a-9a43-0c1e3f5d7b21")

Action = Literal[
    "link",  # exact match: the link is written
    "create",  # no match: created in the hub, then linked
    "review",  # possible duplicate: a person decides
    "already_linked",
    "ignored",  # a person chose to ignore this possible duplicate
    "skip_inactive",  # inactive (deleted) at the provider and no exact match
    "wait_for_parent",  # sub-customer whose parent is in review or ignored
]
HubAction = Literal["link", "review", "send", "not_sent"]
DuplicateStatus = Literal["open", "resolved", "ignored"]


# --------------------------------------------------------------------------- plug-in


@dataclass(frozen=True)
class ProviderContact:
    """One provider contact (QBO Customer, Xero Contact) as the importer needs it.

    `content` is the hub.Contact dump of the provider object (the provider's mapper);
    the importer adds contact_type and parent_id when it creates the hub record."""

    provider_id: str
    name: str
    email: str | None = None
    parent_provider_id: str | None = None  # QBO sub-customer: ParentRef.value
    active: bool = True  # QBO Active, Xero ContactStatus == ACTIVE
    content: dict[str, Any] = field(default_factory=dict)
    provider_version: str | None = None  # QBO SyncToken, Xero UpdatedDateUTC

    @classmethod
    def from_dump(
        cls,
        provider_id: str,
        dump: dict[str, Any],
        *,
        parent_provider_id: str | None = None,
        provider_version: str | None = None,
    ) -> ProviderContact:
        """From a hub.Contact dump made by the provider's mapper."""
        emails = dump.get("emails") or []
        email = emails[0].get("address") if emails and isinstance(emails[0], dict) else None
        return cls(
            provider_id=provider_id,
            name=str(dump.get("name", "")),
            email=email,
            parent_provider_id=parent_provider_id,
            active=bool(dump.get("active", True)),
            content=dict(dump),
            provider_version=provider_version,
        )


class ImportSource(Protocol):
    """What a provider gives the importer: every contact of the connected company.

    QBO: `list_customers` with paged queries (sub-customers included, inactive ones too
    where the client asks for them) mapped to hub.Contact dumps; Xero: `list_contacts`."""

    provider: str

    def list(self, session: ProviderSession) -> list[ProviderContact]: ...


class SaveRecord(Protocol):
    """records.save_record."""

    def __call__(
        self,
        tenant_id: str,
        kind: str,
        record_id: str | None,
        data: dict[str, Any],
        *,
        origin: str,
        expected_version: int | None = None,
    ) -> Record: ...


def hub_id_for(provider: str, company_id: str, kind: str, provider_id: str) -> str:
    """The hub id of a record created from a provider object: stable, so a replay after
    a crash finds the record it made instead of making another."""
    return str(uuid.uuid5(HUB_ID_NAMESPACE, f"{provider}|{company_id}|{kind}|{provider_id}"))


def link_hash(data: dict[str, Any]) -> str:
    """The hash a link keeps of the hub content it reflects."""
    return content_hash(data)


# ----------------------------------------------------------------------------- reads


def email_of(data: dict[str, Any]) -> str | None:
    emails = data.get("emails") or []
    if emails and isinstance(emails[0], dict) and emails[0].get("address"):
        return str(emails[0]["address"])
    email = data.get("email")  # the first practice API shape
    return str(email) if email else None


def hub_contacts(tenant_id: str) -> dict[str, Record]:
    """Every live hub contact of the tenant, by id."""
    live = (Record.deleted == 0) | Record.deleted.does_not_exist()
    query = Record.query(tenant_id, Record.record_key.startswith(f"{KIND}#"), filter_condition=live)
    return {r.record_id: r for r in query}


def linked_ids(tenant_id: str, provider: str) -> dict[str, str]:
    """provider id -> hub id of every contact link of the connection."""
    return {
        link.provider_id: link.hub_key.split("#", 1)[1]
        for link in links.links_of(tenant_id, provider, KIND)
    }


def connection_settings(tenant_id: str, provider: str) -> tuple[str, dict[str, Any]]:
    """(company id, the connection's settings over the defaults); no connection: ("", defaults)."""
    try:
        conn = Connection.get(tenant_id, provider)
    except Connection.DoesNotExist:
        return "", effective_settings(provider, None)
    return conn.company_id or "", effective_settings(provider, conn.settings or {})


# ------------------------------------------------------------------------ duplicates


def _local_id(provider_id: str, kind: str) -> str:
    """A contact's provider id as is (the ids public before staff were reviewed too);
    another kind's prefixed, since QBO numbers customers and employees separately."""
    return provider_id if kind == KIND else f"{kind}:{provider_id}"


def duplicate_id(provider: str, provider_id: str, kind: str = KIND) -> str:
    """The public id of a possible duplicate: "<provider>:<provider id>" for a contact,
    "<provider>:user:<provider id>" for a member of staff."""
    return f"{provider}:{_local_id(provider_id, kind)}"


def _duplicate_key(provider: str, provider_id: str, kind: str = KIND) -> str:
    return Record.key(DUPLICATE_KIND, f"{provider}#{_local_id(provider_id, kind)}")


def duplicates_of(
    tenant_id: str, provider: str | None = None, kind: str | None = None
) -> list[Record]:
    """Review rows, of one provider and of one kind (contact, user) when given."""
    prefix = f"{DUPLICATE_KIND}#{provider}#" if provider else f"{DUPLICATE_KIND}#"
    rows = Record.query(tenant_id, Record.record_key.startswith(prefix))
    return [r for r in rows if kind is None or (r.data or {}).get("kind", KIND) == kind]


def get_duplicate(tenant_id: str, public_id: str) -> Record:
    provider, _, local_id = public_id.partition(":")
    if provider not in IMPORT_PROVIDERS or not local_id:
        raise NotFound(f"no possible duplicate {public_id}")
    key = Record.key(DUPLICATE_KIND, f"{provider}#{local_id}")
    try:
        return Record.get(tenant_id, key, consistent_read=True)
    except Record.DoesNotExist as exc:
        raise NotFound(f"no possible duplicate {public_id}") from exc


def _candidate_view(candidate: Candidate) -> dict[str, Any]:
    return {
        "hub_id": candidate.hub_id,
        "name": candidate.name,
        "email": candidate.email,
        "reasons": list(candidate.reasons),
    }


def save_duplicate(
    tenant_id: str,
    provider: str,
    item: ProviderContact,
    candidates: Sequence[Candidate],
    existing: Record | None,
    kind: str = KIND,
) -> None:
    """Open (or refresh) the review row of `item`; `existing`: its row as read by the plan.
    A row a person ignored never reaches here (the plan leaves the item out)."""
    now = utcnow()
    data = {
        "kind": kind,
        "provider": provider,
        "provider_id": item.provider_id,
        "name": item.name,
        "email": item.email,
        "parent_provider_id": item.parent_provider_id,
        "provider_version": item.provider_version,
        "content": item.content,
        "candidates": [_candidate_view(c) for c in candidates],
        "status": "open",
        "resolution": None,
    }
    if existing is not None:
        if existing.data == data:
            return
        existing.update(
            actions=[
                Record.data.set(data),
                Record.version.set(int(existing.version) + 1),
                Record.updated_at.set(now),
            ]
        )
        return
    Record(
        tenant_id,
        _duplicate_key(provider, item.provider_id, kind),
        kind=DUPLICATE_KIND,
        record_id=f"{provider}#{_local_id(item.provider_id, kind)}",
        version=1,
        origin=provider,
        data=data,
        deleted=0,
        created_at=now,
        updated_at=now,
    ).save()


def duplicate_view(row: Record) -> dict[str, Any]:
    data = row.data or {}
    kind = data.get("kind", KIND)
    return {
        "id": duplicate_id(data["provider"], data["provider_id"], kind),
        "kind": kind,
        "provider": data["provider"],
        ("provider_contact" if kind == KIND else "provider_user"): {
            "id": data["provider_id"],
            "name": data.get("name"),
            "email": data.get("email"),
            "parent_id": data.get("parent_provider_id"),
        },
        "candidates": data.get("candidates", []),
        "status": data.get("status", "open"),
        "resolution": data.get("resolution"),
        "version": int(row.version),
        "first_seen": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


# ----------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Decision:
    item: ProviderContact
    action: Action
    hub_id: str | None = None  # link: the hub contact; create: the id it will get
    parent_hub_id: str | None = None  # create: the hub parent of a sub-customer
    candidates: tuple[Candidate, ...] = ()


@dataclass
class Plan:
    decisions: list[Decision]  # parents before children
    hub: dict[str, Record]
    linked: dict[str, str]
    duplicates: dict[str, Record]  # provider id -> its review row, any status
    stats: MatchStats


def _party(record: Record) -> Party:
    data = record.data or {}
    return Party(record.record_id, str(data.get("name", "")), email_of(data), data.get("parent_id"))


def plan(
    tenant_id: str, provider: str, items: Sequence[ProviderContact], company_id: str = ""
) -> Plan:
    """What an import would do with each provider contact; reads, never writes."""
    hub = hub_contacts(tenant_id)
    linked = linked_ids(tenant_id, provider)
    duplicates = {row.data["provider_id"]: row for row in duplicates_of(tenant_id, provider, KIND)}
    ignored = {pid for pid, row in duplicates.items() if row.data.get("status") == "ignored"}
    # a record created by an earlier run that died before its link: adopt it as is
    recovered = {
        item.provider_id: hub_id
        for item in items
        if item.provider_id not in linked
        and (hub_id := hub_id_for(provider, company_id, KIND, item.provider_id)) in hub
        and hub_id not in linked.values()
    }
    stats = MatchStats()
    parties = [
        Party(i.provider_id, i.name, i.email, i.parent_provider_id)
        for i in items
        if i.provider_id not in ignored
    ]
    results = {
        r.provider_id: r
        for r in classify(
            parties, (_party(r) for r in hub.values()), {**linked, **recovered}, stats
        )
    }
    by_id = {i.provider_id: i for i in items}
    hub_of: dict[str, str] = {}
    decisions: dict[str, Decision] = {}

    def decide(item: ProviderContact) -> Decision:
        result = results.get(item.provider_id)
        if result is None:
            return Decision(item, "ignored")
        if result.status == "linked" and item.provider_id in linked:
            return Decision(item, "already_linked", hub_id=result.hub_id)
        if result.status in ("linked", "exact"):  # linked here: recovered
            return Decision(item, "link", hub_id=result.hub_id)
        if not item.active:
            return Decision(item, "skip_inactive")
        if result.status == "partial":
            return Decision(item, "review", candidates=result.candidates)
        parent_hub_id = None
        if item.parent_provider_id:
            parent_hub_id = hub_of.get(item.parent_provider_id) or linked.get(
                item.parent_provider_id
            )
            if parent_hub_id is None:
                return Decision(item, "wait_for_parent")
        new_id = hub_id_for(provider, company_id, KIND, item.provider_id)
        return Decision(item, "create", hub_id=new_id, parent_hub_id=parent_hub_id)

    for item in _parents_first(items, by_id):
        decision = decide(item)
        decisions[item.provider_id] = decision
        if decision.action in ("link", "create", "already_linked") and decision.hub_id:
            hub_of[item.provider_id] = decision.hub_id
    return Plan(list(decisions.values()), hub, linked, duplicates, stats)


def _parents_first(
    items: Sequence[ProviderContact], by_id: dict[str, ProviderContact]
) -> list[ProviderContact]:
    depth: dict[str, int] = {}

    def depth_of(item: ProviderContact) -> int:
        seen: list[str] = []
        current: ProviderContact | None = item
        while current is not None and current.provider_id not in depth:
            if current.provider_id in seen:  # a cycle: treat the loop as top level
                break
            seen.append(current.provider_id)
            parent = current.parent_provider_id
            current = by_id.get(parent) if parent else None
        base = (
            depth[current.provider_id]
            if current is not None and current.provider_id in depth
            else -1
        )
        for provider_id in reversed(seen):
            base += 1
            depth[provider_id] = base
        return depth[item.provider_id]

    return sorted(items, key=depth_of)


# --------------------------------------------------------------------------- preview


@dataclass
class Preview:
    provider: str
    counts: dict[str, int]
    hub_counts: dict[str, int]
    items: list[dict[str, Any]]
    hub_items: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "provider_side": {"counts": self.counts, "items": self.items},
            "hub_side": {"counts": self.hub_counts, "items": self.hub_items},
        }


def _count(values: Iterable[str], keys: Sequence[str]) -> dict[str, int]:
    counts = dict.fromkeys(keys, 0)
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


PROVIDER_ACTIONS: tuple[Action, ...] = (
    "link",
    "create",
    "review",
    "already_linked",
    "ignored",
    "skip_inactive",
    "wait_for_parent",
)
HUB_ACTIONS: tuple[HubAction, ...] = ("link", "review", "send", "not_sent")


def preview(
    tenant_id: str,
    provider: str,
    source_items: Sequence[ProviderContact],
    *,
    company_id: str | None = None,
    settings: dict[str, Any] | None = None,
) -> Preview:
    """The import as a dry run, both sides; nothing is written.

    Hub side: each unlinked hub contact is matched (link), a candidate of a review, or
    not in the provider: then it "would be sent" when its contact type is one the
    connection sends (settings.contact_types), otherwise "not sent (contact type not
    chosen)"."""
    stored_company, stored_settings = connection_settings(tenant_id, provider)
    settings = effective_settings(provider, settings) if settings else stored_settings
    the_plan = plan(
        tenant_id, provider, source_items, stored_company if company_id is None else company_id
    )
    items = [
        {
            "provider_id": d.item.provider_id,
            "name": d.item.name,
            "email": d.item.email,
            "parent_provider_id": d.item.parent_provider_id,
            "action": d.action,
            "hub_id": d.hub_id if d.action != "create" else None,
            "candidates": [_candidate_view(c) for c in d.candidates],
        }
        for d in the_plan.decisions
    ]
    matched = {d.hub_id for d in the_plan.decisions if d.action == "link"}
    in_review = {c.hub_id for d in the_plan.decisions for c in d.candidates}
    already = set(the_plan.linked.values())
    enabled = bool(settings.get("sync_enabled", True))
    hub_items: list[dict[str, Any]] = []
    for hub_id, record in sorted(the_plan.hub.items()):
        if hub_id in already:
            continue
        data = record.data or {}
        action: HubAction
        why = ""
        if hub_id in matched:
            action = "link"
        elif hub_id in in_review:
            action = "review"
        elif wants(provider, settings, KIND, data):
            action = "send"
            why = "would be sent"
        else:
            action = "not_sent"
            why = "not sent (contact type not chosen)" if enabled else "not sent (sync is off)"
        hub_items.append(
            {
                "hub_id": hub_id,
                "name": data.get("name"),
                "email": email_of(data),
                "contact_type": data.get("contact_type"),
                "action": action,
                "why": why,
            }
        )
    return Preview(
        provider=provider,
        counts=_count((d.action for d in the_plan.decisions), PROVIDER_ACTIONS),
        hub_counts=_count((h["action"] for h in hub_items), HUB_ACTIONS),
        items=items,
        hub_items=hub_items,
    )


# ---------------------------------------------------------------------------- import


@dataclass
class ImportResult:
    provider: str
    linked: int = 0
    created: int = 0
    review: int = 0
    already_linked: int = 0
    ignored: int = 0
    skipped_inactive: int = 0
    waiting_for_parent: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # content the hub refused
    created_records: list[Record] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "linked": self.linked,
            "created": self.created,
            "review": self.review,
            "already_linked": self.already_linked,
            "ignored": self.ignored,
            "skipped_inactive": self.skipped_inactive,
            "waiting_for_parent": self.waiting_for_parent,
            "failed": self.failed,
        }


def _link_row(tenant_id: str, provider: str, record: Record, item: ProviderContact) -> Link:
    """The link a match or a creation writes; the same row links.save_link writes, built
    here so an import can write its links in batches."""
    return Link(
        links.link_key(tenant_id, provider),
        f"{KIND}#{record.record_id}",
        provider_key=f"{KIND}#{item.provider_id}",
        provider_id=item.provider_id,
        provider_version=item.provider_version,
        content_hash=link_hash(record.data or {}),
        synced_version=int(record.version),
        updated_at=utcnow(),
    )


def _link(tenant_id: str, provider: str, record: Record, item: ProviderContact) -> None:
    links.save_link(
        tenant_id,
        provider,
        KIND,
        record.record_id,
        item.provider_id,
        provider_version=item.provider_version,
        content_hash=link_hash(record.data or {}),
        synced_version=int(record.version),
    )


def _new_content(
    item: ProviderContact, contact_type: str, parent_hub_id: str | None
) -> dict[str, Any]:
    content: dict[str, Any] = dict(item.content) if item.content else {"name": item.name}
    if not item.content and item.email:
        content["emails"] = [{"address": item.email}]
    content["contact_type"] = contact_type
    content["parent_id"] = parent_hub_id
    return content


def create_from(
    tenant_id: str,
    provider: str,
    item: ProviderContact,
    *,
    hub_id: str,
    parent_hub_id: str | None,
    import_contact_type: str,
    save_record: SaveRecord,
) -> Record:
    """Create the hub contact of `item` (origin: the provider) and link it."""
    record = save_record(
        tenant_id,
        KIND,
        hub_id,
        _new_content(item, import_contact_type, parent_hub_id),
        origin=provider,
    )
    _link(tenant_id, provider, record, item)
    return record


def run_import(
    tenant_id: str,
    provider: str,
    source_items: Sequence[ProviderContact],
    import_contact_type: str,
    save_record: SaveRecord,
    *,
    company_id: str = "",
) -> ImportResult:
    """Link exact matches, create the unmatched in the hub (parents first), open a
    possible duplicate for each partial match. Writes nothing to the provider.

    Content the hub refuses (hub.Contact validation) is reported in `failed` and the
    import goes on; anything else (DynamoDB) raises: re-running resumes safely."""
    the_plan = plan(tenant_id, provider, source_items, company_id)
    result = ImportResult(provider)
    # Links go out in batches of 25. A crash before a batch is written loses no work: the
    # next run matches the same pairs again, and finds created records by their derived id.
    with Link.batch_write() as batch:
        for decision in the_plan.decisions:
            _carry_out(
                tenant_id,
                provider,
                decision,
                the_plan,
                result,
                batch,
                import_contact_type,
                save_record,
            )
    return result


def _carry_out(
    tenant_id: str,
    provider: str,
    decision: Decision,
    the_plan: Plan,
    result: ImportResult,
    batch: Any,
    import_contact_type: str,
    save_record: SaveRecord,
) -> None:
    item = decision.item
    if decision.action == "link" and decision.hub_id:
        batch.save(_link_row(tenant_id, provider, the_plan.hub[decision.hub_id], item))
        result.linked += 1
    elif decision.action == "create" and decision.hub_id:
        if item.parent_provider_id in {f["provider_id"] for f in result.failed}:
            result.waiting_for_parent += 1  # its parent was refused just now
            return
        content = _new_content(item, import_contact_type, decision.parent_hub_id)
        try:
            record = save_record(tenant_id, KIND, decision.hub_id, content, origin=provider)
        except InvalidInput as exc:
            result.failed.append(
                {"provider_id": item.provider_id, "name": item.name, "error": exc.detail}
            )
            return
        batch.save(_link_row(tenant_id, provider, record, item))
        result.created += 1
        result.created_records.append(record)
    elif decision.action == "review":
        row = the_plan.duplicates.get(item.provider_id)
        save_duplicate(tenant_id, provider, item, decision.candidates, row)
        result.review += 1
    elif decision.action == "already_linked":
        result.already_linked += 1
    elif decision.action == "ignored":
        result.ignored += 1
    elif decision.action == "skip_inactive":
        result.skipped_inactive += 1
    elif decision.action == "wait_for_parent":
        result.waiting_for_parent += 1


# ---------------------------------------------------------------------------- review


def resolve_duplicate(
    tenant_id: str,
    public_id: str,
    action: Literal["link", "import_as_new", "ignore"],
    *,
    save_record: SaveRecord,
    hub_id: str | None = None,
) -> Record:
    """A person's answer to a possible duplicate; returns the updated duplicate row.

    link: to one of its candidates (live, not linked to another object of the provider);
    import_as_new: create it in the hub with the import contact type (a sub-customer's
    parent must be linked first); ignore: leave it out of this and later imports.
    A resolved duplicate cannot be resolved again (409); an ignored one can."""
    row = get_duplicate(tenant_id, public_id)
    data = dict(row.data or {})
    if data.get("kind", KIND) != KIND:
        from booksync.hub.staff import resolve_staff_duplicate

        return resolve_staff_duplicate(row, action, save_record=save_record, hub_id=hub_id)
    provider, provider_id = data["provider"], data["provider_id"]
    if data.get("status") == "resolved":
        raise Conflict(f"possible duplicate {public_id} is already resolved")
    if links.find_by_provider_id(tenant_id, provider, KIND, provider_id) is not None:
        raise Conflict(f"{provider} contact {provider_id} is already linked")
    item = ProviderContact(
        provider_id=provider_id,
        name=data.get("name") or "",
        email=data.get("email"),
        parent_provider_id=data.get("parent_provider_id"),
        content=data.get("content") or {},
        provider_version=data.get("provider_version"),
    )
    resolution: dict[str, Any] = {"action": action, "at": utcnow().isoformat()}
    if action == "link":
        if hub_id not in {c["hub_id"] for c in data.get("candidates", [])}:
            raise InvalidInput("hub_id is not one of this duplicate's candidates", field="hub_id")
        record = _live_contact(tenant_id, hub_id)
        if links.get_link(tenant_id, provider, KIND, record.record_id) is not None:
            raise Conflict(f"hub contact {hub_id} is already linked to another {provider} contact")
        resolution["hub_id"] = record.record_id
        claim_duplicate(row, data, resolution, status="resolved")
        _link(tenant_id, provider, record, item)
    elif action == "import_as_new":
        company_id, settings = connection_settings(tenant_id, provider)
        parent_hub_id = None
        if item.parent_provider_id:
            parent = links.find_by_provider_id(tenant_id, provider, KIND, item.parent_provider_id)
            if parent is None:
                raise Conflict(
                    f"the parent {provider} contact {item.parent_provider_id} is not in the hub "
                    "yet: resolve or import the parent first"
                )
            parent_hub_id = parent.hub_key.split("#", 1)[1]
        resolution["hub_id"] = hub_id_for(provider, company_id, KIND, provider_id)
        claim_duplicate(row, data, resolution, status="resolved")
        create_from(
            tenant_id,
            provider,
            item,
            hub_id=resolution["hub_id"],
            parent_hub_id=parent_hub_id,
            import_contact_type=str(settings.get("import_contact_type") or "Client"),
            save_record=save_record,
        )
    else:
        claim_duplicate(row, data, resolution, status="ignored")
    return row


def _live_contact(tenant_id: str, hub_id: str | None) -> Record:
    try:
        record = Record.get(tenant_id, Record.key(KIND, hub_id or ""), consistent_read=True)
    except Record.DoesNotExist:
        record = None
    if record is None or record.deleted:
        raise NotFound(f"no contact {hub_id}")
    return record


def claim_duplicate(
    row: Record, data: dict[str, Any], resolution: dict[str, Any], status: str
) -> None:
    """Mark the row resolved/ignored if nobody else did since it was read (else 409)."""
    version = int(row.version)
    try:
        row.update(
            actions=[
                Record.data.set({**data, "status": status, "resolution": resolution}),
                Record.version.set(version + 1),
                Record.updated_at.set(utcnow()),
            ],
            condition=Record.version == version,
            add_version_condition=False,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("someone resolved this possible duplicate at the same time") from exc
        raise


# ------------------------------------------------------------------------ pull seam


def adopt(conn: Connection, change: Change, *, save_record: SaveRecord) -> Record | None:
    """sync.PullDeps.on_new_object: a provider contact with no link met during a pull is
    imported the way a full import would (link, create or review). Returns the hub record
    it created, or None (linked to an existing one, sent to review, or not a contact)."""
    if change.kind != KIND or change.content is None:
        return None
    item = ProviderContact.from_dump(
        change.provider_id,
        change.content,
        parent_provider_id=change.parent_provider_id,
        provider_version=change.provider_version,
    )
    _, settings = connection_settings(conn.tenant_id, conn.provider)
    result = run_import(
        conn.tenant_id,
        conn.provider,
        [item],
        str(settings.get("import_contact_type") or "Client"),
        save_record,
        company_id=conn.company_id or "",
    )
    return result.created_records[0] if result.created_records else None


SourceFn = Callable[[str, str], list[ProviderContact]]


# ----------------------------------------------------------------------------- links


def _encode_links_cursor(provider: str, hub_key: str) -> str:
    raw = json.dumps({"p": provider, "k": hub_key}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_links_cursor(cursor: str | None, providers: Sequence[str]) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor") from exc
    if (
        not isinstance(value, dict)
        or value.get("p") not in providers
        or not isinstance(value.get("k"), str)
    ):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return str(value["p"]), str(value["k"])


def list_links(
    tenant_id: str,
    providers: Sequence[str],
    kind: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the tenant's links (provider by provider, then hub key order), each with
    the hub record's name, and the cursor of the next page (None: the last page)."""
    start = _decode_links_cursor(cursor, providers)
    first = providers.index(start[0]) if start else 0
    found: list[tuple[str, Link]] = []
    for provider in providers[first:]:
        after = start[1] if start and start[0] == provider else None
        query = Link.query(
            links.link_key(tenant_id, provider),
            Link.hub_key.startswith(f"{kind}#") if kind else None,
            last_evaluated_key=(
                {
                    "link_key": {"S": links.link_key(tenant_id, provider)},
                    "hub_key": {"S": after},
                }
                if after
                else None
            ),
            page_size=limit + 1,
        )
        for link in query:
            found.append((provider, link))
            if len(found) > limit:
                break
        if len(found) > limit:
            break
    page = found[:limit]
    next_cursor = (
        _encode_links_cursor(page[-1][0], page[-1][1].hub_key) if len(found) > limit else None
    )
    keys = [(tenant_id, link.hub_key) for _, link in page]
    names = {r.record_key: (r.data or {}).get("name") for r in Record.batch_get(keys)}
    return [
        {
            "provider": provider,
            "kind": link.hub_key.split("#", 1)[0],
            "hub_id": link.hub_key.split("#", 1)[1],
            "provider_id": link.provider_id,
            "name": names.get(link.hub_key),
            "provider_version": link.provider_version,
            "synced_version": int(link.synced_version),
            "updated_at": link.updated_at.isoformat(),
        }
        for provider, link in page
    ], next_cursor
