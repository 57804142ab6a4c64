"""Drift: where the hub and a provider disagree, found by reading both sides whole, and
closed through the same paths a sync takes (issue 16, "Drift").

Webhooks get lost, a pull's cursor can pass over an edit, a person can fix a record in
the books by hand. The hourly reconcile sends what the hub knows it has not sent; this
reads the provider's every object of a family and compares, so what neither side knows
it missed is found too. Four kinds of drift, per family:

- `differs`: linked, and what the provider holds of the fields it manages is not what
  the hub holds (the fields are named);
- `not_linked`: hub records the connection's settings want that have no link;
- `gone`: links whose provider object is deleted or made inactive while the hub's is not;
- `unlinked`: provider objects no link names (after the import: new there, or missed).

Each `differs` says which side changed since the two were linked. Repair reads nothing
again: the provider objects that changed there (and those gone or new there) are applied as
a pull applies them (`pull.apply_changes`: the later edit wins, an object new there is
matched or imported); content neither side changed since linking (an import linked two
records that disagree, say on an email) is settled by the practice app's record, sent as if
never sent; then every record the provider does not hold at its version is queued as
"save and sync" does (`outbox.reconcile_push`).

Covered: the families that can list every object (`Family.listing`): contacts and staff
at QuickBooks Online (customers, employees) and Xero (contacts, payroll employees). A report
costs one listing of each: its pages, within the rate budget (every call goes through the
session)."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import Any

from booksync.engine.outbox import reconcile_push
from booksync.engine.pull import PullResult, apply_changes, managed_differences
from booksync.engine.queues import Enqueuer
from booksync.engine.seam import Change, Family, ProviderSession
from booksync.errors import InvalidInput
from booksync.providers import registry
from booksync.store import Link, links, utcnow
from booksync.store import records as store

LISTED_PER_CALL = {"qbo": 1000, "xero": 100}  # QBO query MAXRESULTS; Xero Contacts page


@dataclass
class Drift:
    """What a report found at one provider, over every family that can list; each item
    names its hub kind."""

    provider: str
    kinds: list[str] = field(default_factory=list)
    differs: list[dict[str, Any]] = field(default_factory=list)
    not_linked: list[dict[str, Any]] = field(default_factory=list)
    gone: list[dict[str, Any]] = field(default_factory=list)
    unlinked: list[dict[str, Any]] = field(default_factory=list)
    estimated_calls: int = 0  # said before reading: the families' pages
    calls: int = 0  # what the report cost
    # the provider objects behind differs, gone and unlinked: what a repair applies
    changes: list[Change] = field(default_factory=list, repr=False)
    # links of content neither side changed since linking (an import linked them apart):
    # a repair sends the hub's record over the provider's
    restate: list[Link] = field(default_factory=list, repr=False)

    @property
    def empty(self) -> bool:
        return not (self.differs or self.not_linked or self.gone or self.unlinked)

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "kinds": self.kinds,
            "counts": {
                "differs": len(self.differs),
                "not_linked": len(self.not_linked),
                "gone": len(self.gone),
                "unlinked": len(self.unlinked),
            },
            "differs": self.differs,
            "not_linked": self.not_linked,
            "gone": self.gone,
            "unlinked": self.unlinked,
            "estimated_calls": self.estimated_calls,
            "calls": self.calls,
        }


def listing_families(provider: str) -> list[Family]:
    """The provider's families that can list every object (`Family.listing`)."""
    found = [f for f in registry.families(provider) if type(f).listing is not Family.listing]
    if not found:
        raise InvalidInput(f"no family at {provider} can list its objects yet", field="provider")
    return found


def estimate_calls(session: ProviderSession) -> int:
    """What a report will cost: per family, the pages of a listing as large as its links."""
    provider = session.provider
    per_call = LISTED_PER_CALL.get(provider, 100)
    return sum(
        max(
            1,
            ceil(
                (sum(1 for _ in links.links_of(session.tenant_id, provider, f.kind)) + 1) / per_call
            ),
        )
        for f in listing_families(provider)
    )


def find(session: ProviderSession) -> Drift:
    """Read the provider's every object of each family that can list, and the hub's
    records of its kind; compare."""
    report = Drift(session.provider, estimated_calls=estimate_calls(session))
    before = session.calls
    for family in listing_families(session.provider):
        report.kinds.append(family.kind)
        _compare(session, family, report)
    report.calls = session.calls - before
    return report


def _compare(session: ProviderSession, family: Family, report: Drift) -> None:
    conn = session.connection
    provider, tenant = str(conn.provider), str(conn.tenant_id)
    kind = family.kind
    raws = family.listing(session) or []
    now = utcnow()
    by_provider_id: dict[str, Link] = {}
    elsewhere: set[str] = set()  # objects of this type another kind links (a QBO job)
    for link in links.links_of(tenant, provider):
        if links.kind_of(link) == kind:
            by_provider_id[str(link.provider_id)] = link
        elif str(link.provider_key).startswith(f"{family.object_type}#"):
            elsewhere.add(str(link.provider_id))
    hub = {str(r.record_id): r for r in store.all_of_kind(tenant, kind)}
    seen: set[str] = set()
    for raw in raws:
        provider_id = object_id(raw)
        if provider_id in elsewhere:
            continue
        change = Change(family.object_type, provider_id, None, raw, now)
        content = family.from_provider(raw) or {}
        held = by_provider_id.get(provider_id)
        if held is None:
            report.unlinked.append(
                {"kind": kind, "provider_id": provider_id, "name": _name(content)}
            )
            report.changes.append(change)
            continue
        seen.add(provider_id)
        link = held
        hub_id = links.hub_id_of(link)
        record = hub.get(hub_id)
        if record is None:
            continue  # deleted in the hub: its push removes it or says why
        data = dict(record.data or {})
        if content.get("active") is False and data.get("active", True):
            report.gone.append(
                {"kind": kind, "hub_id": hub_id, "provider_id": provider_id, "why": "inactive"}
            )
            report.changes.append(change)
            continue
        fields = managed_differences(kind, family.managed_fields, data, content)
        if fields:
            hub_moved = int(record.version) > int(link.synced_version or 0)
            there_moved = not family.unchanged_since(link.provider_version, raw)
            report.differs.append(
                {
                    "kind": kind,
                    "hub_id": hub_id,
                    "provider_id": provider_id,
                    "fields": fields,
                    "changed_since_linked": [
                        side
                        for side, moved in (("hub", hub_moved), (provider, there_moved))
                        if moved
                    ],
                }
            )
            if there_moved:
                report.changes.append(change)  # the later edit wins, as in a pull
            elif not hub_moved:
                report.restate.append(link)
    for provider_id, link in by_provider_id.items():
        hub_id = links.hub_id_of(link)
        if provider_id not in seen and hub_id in hub:
            report.gone.append(
                {"kind": kind, "hub_id": hub_id, "provider_id": provider_id, "why": "deleted"}
            )
            report.changes.append(Change(family.object_type, provider_id, None, None, now))
    linked_hub_ids = {links.hub_id_of(link) for link in by_provider_id.values()}
    settings = session.settings
    for hub_id, record in sorted(hub.items()):
        data = dict(record.data or {})
        if hub_id not in linked_hub_ids and family.wants(settings, data):
            report.not_linked.append({"kind": kind, "hub_id": hub_id, "name": _name(data)})


def repair(session: ProviderSession, report: Drift, enqueuer: Enqueuer) -> dict[str, Any]:
    """Close the gap: the provider's side applied as a pull would, then every record the
    provider does not hold at its version queued. Returns what was done."""
    applied = PullResult()
    apply_changes(session, report.changes, lambda record, provider: None, applied)
    for link in report.restate:
        links.set_synced_version(link, 0)  # the hub's record goes, as if never sent
    queued = reconcile_push(session.connection, enqueuer)
    return {
        "applied": applied.applied,
        "created": applied.created,
        "echoes": applied.echoes,
        "hub_won": applied.hub_won,
        "queued": queued.kinds,
    }


def object_id(raw: dict[str, Any]) -> str:
    """A listed object's id (QBO Id, Xero ContactID and payroll employeeID, QBT id)."""
    for key in ("Id", "ContactID", "employeeID", "id"):
        if raw.get(key) not in (None, ""):
            return str(raw[key])
    return ""


def _name(data: dict[str, Any]) -> str | None:
    """How a person knows the record: a contact's name, a user's first and last name."""
    if data.get("name"):
        return str(data["name"])
    full = f"{data.get('first_name') or ''} {data.get('last_name') or ''}".strip()
    return full or None
