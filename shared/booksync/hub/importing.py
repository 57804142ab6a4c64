"""Importing a provider's contacts into the hub: link the exact matches, create the rest,
send the doubtful ones to a person (duplicates), and preview all of it without writing.

A provider plugs in through its contact family (providers/registry.py `importer_family`:
`import_list` and its mapper); everything here is provider-neutral. Import never writes
to the provider: hub contacts it does not know are only reported ("would be sent" by the
normal push, or not).

Idempotent: provider ids already linked are skipped; a created hub contact gets an id
derived from (provider, company, provider id), so a crash between creating the record
and writing its link is repaired by the next run instead of creating a second record;
a possible duplicate is one row per provider id, and a person's "ignore" sticks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from booksync.engine.seam import Change, ProviderSession
from booksync.errors import InvalidInput, NotFound
from booksync.hub.content import content_hash
from booksync.hub.entity import hub_id_for
from booksync.hub.matching import Candidate, MatchResult, MatchStats, Party, classify
from booksync.observability import logger
from booksync.providers.registry import effective_settings, importer_family, wants
from booksync.store import Connection, Record, leases, links, utcnow
from booksync.store import connections as connection_rows
from booksync.store import records as store

KIND = "contact"
DUPLICATE_KIND = "duplicate"
IMPORT_PROVIDERS = ("qbo", "xero")

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
    # not taken in by itself (Family.takes_in: a Xero contact never invoiced, when the
    # firm imports customers only): linked to a hub contact it matches exactly, else left
    # to be added on request
    offered: bool = False

    @classmethod
    def from_dump(
        cls,
        provider_id: str,
        dump: dict[str, Any],
        *,
        parent_provider_id: str | None = None,
        provider_version: str | None = None,
        offered: bool = False,
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
            offered=offered,
        )


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
    """Every live hub contact of the tenant, by id (a whole-firm read: imports only)."""
    return {str(r.record_id): r for r in store.all_of_kind(tenant_id, KIND)}


def linked_ids(tenant_id: str, provider: str) -> dict[str, str]:
    """provider id -> hub id of every contact link of the connection."""
    return {
        str(link.provider_id): links.hub_id_of(link)
        for link in links.links_of(tenant_id, provider, KIND)
    }


def connection_settings(tenant_id: str, provider: str) -> tuple[str, dict[str, Any]]:
    """(company id, the connection's settings over the defaults); no connection: ("", defaults)."""
    conn = connection_rows.get(tenant_id, provider)
    if conn is None:
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
    return store.key(DUPLICATE_KIND, f"{provider}#{_local_id(provider_id, kind)}")


def duplicates_of(
    tenant_id: str, provider: str | None = None, kind: str | None = None
) -> list[Record]:
    """Review rows, of one provider and of one kind (contact, user) when given."""
    prefix = f"{DUPLICATE_KIND}#{provider}#" if provider else f"{DUPLICATE_KIND}#"
    rows = store.scan_kind(tenant_id, DUPLICATE_KIND, start_after=None, live_only=False)
    return [
        r
        for r in rows
        if str(r.record_key).startswith(prefix)
        and (kind is None or (r.data or {}).get("kind", KIND) == kind)
    ]


def get_duplicate(tenant_id: str, public_id: str) -> Record:
    provider, _, local_id = public_id.partition(":")
    if provider not in IMPORT_PROVIDERS or not local_id:
        raise NotFound(f"no possible duplicate {public_id}")
    row = store.get(tenant_id, DUPLICATE_KIND, f"{provider}#{local_id}")
    if row is None:
        raise NotFound(f"no possible duplicate {public_id}")
    return row


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
        if existing.data != data:
            store.replace_if_version(existing, data, now)
        return
    store.put(
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
        )
    )


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


OwnCreates = Callable[[dict[str, list[str]]], dict[str, str]]


def plan(
    tenant_id: str,
    provider: str,
    items: Sequence[ProviderContact],
    company_id: str = "",
    own_creates: OwnCreates | None = None,
) -> Plan:
    """What an import would do with each provider contact; reads, never writes.

    `own_creates`: given the partial matches (provider id -> candidate hub ids), which of
    them are objects booksync's own pushes created for one of the candidates (a pull that
    met them before their link): those are linked, not reviewed."""
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
    if own_creates is not None:
        partial = {
            pid: [c.hub_id for c in r.candidates]
            for pid, r in results.items()
            if r.status == "partial"
        }
        claimed = {r.hub_id for r in results.values() if r.status in ("linked", "exact")}
        for pid, hub_id in (own_creates(partial) if partial else {}).items():
            if hub_id not in claimed:
                claimed.add(hub_id)
                results[pid] = MatchResult(pid, "exact", hub_id=hub_id, reason="created by sync")
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
    offered: int = 0  # not taken in unless the firm asks (ProviderContact.offered)
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
            "offered": self.offered,
            "failed": self.failed,
        }


def object_type(provider: str) -> str:
    """The provider's id space of the contacts an import links (QBO Customer, Xero Contact)."""
    family = importer_family(provider)
    if family is None:
        raise NotFound(f"booksync imports contacts from qbo and xero, not {provider!r}")
    return family.object_type


def _new_link(provider: str, record: Record, item: ProviderContact) -> links.NewLink:
    """The link a match or a creation writes."""
    return links.NewLink(
        kind=KIND,
        hub_id=str(record.record_id),
        object_type=object_type(provider),
        provider_id=item.provider_id,
        provider_version=item.provider_version,
        content_hash=link_hash(record.data or {}),
        synced_version=int(record.version),
    )


def _link(tenant_id: str, provider: str, record: Record, item: ProviderContact) -> None:
    links.save_links(tenant_id, provider, [(_new_link(provider, record, item), None)])


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
    own_creates: OwnCreates | None = None,
) -> ImportResult:
    """Link exact matches, create the unmatched in the hub (parents first), open a
    possible duplicate for each partial match. Writes nothing to the provider.

    Content the hub refuses (hub.Contact validation) is reported in `failed` and the
    import goes on; anything else (DynamoDB) raises: re-running resumes safely."""
    the_plan = plan(tenant_id, provider, source_items, company_id, own_creates)
    run = _Run(tenant_id, provider, the_plan, import_contact_type, save_record)
    for decision in the_plan.decisions:
        run.carry_out(decision)
    run.flush()
    return run.result


# what each plan action adds to the result, when it needs no work here
_COUNTED = {
    "already_linked": "already_linked",
    "ignored": "ignored",
    "skip_inactive": "skipped_inactive",
    "wait_for_parent": "waiting_for_parent",
}
LINKS_PER_WRITE = 50  # links (two items each) written per transaction


@dataclass
class _Run:
    """One import carrying out its plan. Links go out in transactions of 50: a crash
    before one is written loses no work, since the next run matches the same pairs again
    and finds the records it created by their derived ids."""

    tenant_id: str
    provider: str
    plan: Plan
    import_contact_type: str
    save_record: SaveRecord
    result: ImportResult = field(init=False)
    pending: list[tuple[links.NewLink, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.result = ImportResult(self.provider)

    def carry_out(self, decision: Decision) -> None:
        item = decision.item
        if item.offered and decision.action in ("create", "review"):
            self.result.offered += 1  # only an exact match links it
            return
        if decision.action in _COUNTED:
            name = _COUNTED[decision.action]
            setattr(self.result, name, getattr(self.result, name) + 1)
        elif decision.action == "link" and decision.hub_id:
            self._link(self.plan.hub[decision.hub_id], item)
            self.result.linked += 1
        elif decision.action == "create" and decision.hub_id:
            self._create(decision)
        elif decision.action == "review":
            row = self.plan.duplicates.get(item.provider_id)
            save_duplicate(self.tenant_id, self.provider, item, decision.candidates, row)
            self.result.review += 1

    def _create(self, decision: Decision) -> None:
        item = decision.item
        if item.parent_provider_id in {f["provider_id"] for f in self.result.failed}:
            self.result.waiting_for_parent += 1  # its parent was refused just now
            return
        content = _new_content(item, self.import_contact_type, decision.parent_hub_id)
        try:
            record = self.save_record(
                self.tenant_id, KIND, decision.hub_id, content, origin=self.provider
            )
        except InvalidInput as exc:
            self.result.failed.append(
                {"provider_id": item.provider_id, "name": item.name, "error": exc.detail}
            )
            return
        self._link(record, item)
        self.result.created += 1
        self.result.created_records.append(record)

    def _link(self, record: Record, item: ProviderContact) -> None:
        self.pending.append((_new_link(self.provider, record, item), None))
        if len(self.pending) >= LINKS_PER_WRITE:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            links.save_links(self.tenant_id, self.provider, self.pending)
            self.pending = []


# ------------------------------------------------------------------------ adoption


def adopt_contacts(
    conn: Connection, changes: list[Change], save_record: SaveRecord
) -> list[Record]:
    """The hub kind's `adopt` (hub/kinds/contacts.py): provider contacts with no link,
    met in a pull, are imported the way a full import would (link, review or create).
    Returns the hub records it created (the outbox sends them to the other providers)."""
    mine = _linked_own_creates(conn, changes)
    _, settings = connection_settings(conn.tenant_id, conn.provider)
    family = importer_family(str(conn.provider))
    items = [
        ProviderContact.from_dump(
            c.provider_id,
            c.content or {},
            parent_provider_id=c.parent_provider_id,
            provider_version=c.provider_version,
            offered=family is not None
            and c.raw is not None
            and not family.takes_in(settings, c.raw),
        )
        for c in changes
        if c.content is not None and c.provider_id not in mine
    ]
    if not items:
        return []
    result = run_import(
        conn.tenant_id,
        conn.provider,
        items,
        str(settings.get("import_contact_type") or "Client"),
        save_record,
        company_id=conn.company_id or "",
        own_creates=_own_creates(conn, {c.provider_id: c.raw for c in changes if c.raw}),
    )
    return result.created_records


def _linked_own_creates(conn: Connection, changes: list[Change]) -> set[str]:
    """Link the objects a push of ours created, met before the push linked them, found by
    key: the record each names (the push kept its id under what the object shows, e.g. its
    DisplayName), its create intents, and the family's `made_by`. Returns their provider
    ids. What is left goes through the import's matching, which reads the whole firm: a
    bulk sync's pulls meet hundreds of our own creates, and must not read the firm for
    each (issue 10: a record's cost must not grow with the firm's size)."""
    family = importer_family(str(conn.provider))
    conn_id = str(conn.connection_id)
    if family is None:
        return set()
    hub_of: dict[str, str] = {}
    looked: dict[str, Change] = {}
    for c in changes:
        shown = family.hub_id_shown(c.raw) if c.raw else None
        lookup = family.lookup_of(c.raw) if c.raw and not shown else None
        if shown:
            hub_of[c.provider_id] = shown
        elif lookup:
            looked[leases.intent_lookup_key(conn_id, KIND, lookup)] = c
    for key, row in leases.read_many(list(looked)).items() if looked else ():
        if row.get("hub_id"):
            hub_of[looked[key].provider_id] = str(row["hub_id"])
    if not hub_of:
        return set()
    intents = leases.read_many([leases.intent_key(conn_id, KIND, h) for h in hub_of.values()])
    held = links.get_links(str(conn.tenant_id), str(conn.provider), KIND, sorted(hub_of.values()))
    stored = store.get_keys(str(conn.tenant_id), [f"{KIND}#{h}" for h in hub_of.values()])
    by_id = {c.provider_id: c for c in changes}
    found: set[str] = set()
    for provider_id, hub_id in hub_of.items():
        change = by_id[provider_id]
        record = stored.get(f"{KIND}#{hub_id}")
        if record is None or record.deleted or change.raw is None:
            continue
        link = held.get(hub_id)
        if link is not None:  # the push linked it meanwhile, or the record has another
            if str(link.provider_id) == provider_id:
                found.add(provider_id)
            continue
        sent = (intents.get(leases.intent_key(conn_id, KIND, hub_id)) or {}).get("sent") or ()
        if not any(family.made_by(s, change.raw) for s in sent):
            continue
        links.save_link(
            str(conn.tenant_id),
            str(conn.provider),
            KIND,
            hub_id,
            change.object_type,
            provider_id,
            provider_version=change.provider_version,
            content_hash=None,
            synced_version=int(record.version),
        )
        found.add(provider_id)
    if found:
        logger.info(
            "provider contacts that are the hub's own creates linked by key",
            extra={"connection_id": conn_id, "n": len(found)},
        )
    return found


def _own_creates(conn: Connection, raws: dict[str, dict[str, Any]]) -> OwnCreates:
    """Which provider contacts a push of ours created for one of their candidates: the
    candidates' create intents (one batched read), each asked of the contact family
    (`made_by`). A contact two candidates could have made, or one candidate's intent that
    two contacts fit, stays with the review."""
    family = importer_family(str(conn.provider))

    def find(partial: dict[str, list[str]]) -> dict[str, str]:
        if family is None:
            return {}
        key = {
            hub_id: leases.intent_key(str(conn.connection_id), KIND, hub_id)
            for hubs in partial.values()
            for hub_id in hubs
        }
        rows = leases.read_many(list(key.values()))
        made: dict[str, list[str]] = {}
        for pid, hubs in partial.items():
            raw = raws.get(pid)
            for hub_id in hubs:
                sent = (rows.get(key[hub_id]) or {}).get("sent") or ()
                if raw is not None and any(family.made_by(s, raw) for s in sent):
                    made.setdefault(pid, []).append(hub_id)
        fits = Counter(h for hubs in made.values() for h in hubs)
        return {pid: hubs[0] for pid, hubs in made.items() if len(hubs) == 1 and fits[hubs[0]] == 1}

    return find


def provider_contacts(session: ProviderSession) -> list[ProviderContact]:
    """Every contact at the provider, as the importer reads them (QBO customers, Xero
    contacts), through the provider's contact family."""
    family = importer_family(session.provider)
    if family is None:
        raise InvalidInput(
            f"import reads contacts from qbo and xero, not {session.provider}", field="provider"
        )
    out = []
    for raw in family.import_list(session):  # type: ignore[attr-defined]
        content = family.from_provider(raw) or {}
        parent = (raw.get("ParentRef") or {}).get("value") if isinstance(raw, dict) else None
        out.append(
            ProviderContact.from_dump(
                str(raw.get("Id") or raw.get("ContactID")),
                content,
                parent_provider_id=str(parent) if parent else None,
                provider_version=str(raw.get("SyncToken") or raw.get("UpdatedDateUTC") or ""),
                offered=not family.takes_in(session.settings, raw),
            )
        )
    return out
