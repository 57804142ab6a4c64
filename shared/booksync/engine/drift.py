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

Covered: every family of the provider that a sync moves by itself.
- Those that can list every object (`Family.listing`) are compared whole: at QuickBooks
  Online customers, jobs, employees and payments; at Xero contacts, payroll employees and
  payments; at QuickBooks Time users. Families of one object type (QBO customers and jobs)
  share one listing. A report costs one listing of each object type: its pages, within
  the rate budget (every call goes through the session).
- One-way families (invoices, QBT jobcodes) are compared on the hub's side: the records
  the connection wants that have no link, which a repair sends. What a person changed in
  the books on such an object is the hub's to put back on its next send, not drift to
  take in; QBT timesheets are compared on the hub's side over the six months kept in
  step (a listing of them all would cost a page per 200 of the firm's history).
- QBO time activities go only when the firm sends them (engine/send.py): never drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil
from typing import Any

from pydantic import ValidationError

from booksync.engine.outbox import kept_in_step, reconcile_push
from booksync.engine.pull import PullResult, apply_changes, managed_differences
from booksync.engine.queues import Enqueuer
from booksync.engine.seam import Change, Family, ProviderSession
from booksync.errors import InvalidInput
from booksync.providers import registry
from booksync.store import Link, Record, links, utcnow


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
    # provider objects the hub cannot hold (as a pull leaves them), with the reason
    unreadable: list[dict[str, Any]] = field(default_factory=list)
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
            "unreadable": self.unreadable,
            "estimated_calls": self.estimated_calls,
            "calls": self.calls,
        }


@dataclass
class Plan:
    """What a report reads: the families it covers and the connection's links, read
    once (by kind), with what reading the provider will cost."""

    families: list[Family]
    links: dict[str, list[Link]]
    estimated_calls: int


def lists(family: Family) -> bool:
    return type(family).listing is not Family.listing


def covered(provider: str) -> list[Family]:
    """The provider's families drift compares: those that can list, and those pushed by
    themselves (a send the firm asks for is not drift)."""
    found = [f for f in registry.families(provider) if lists(f) or (f.pushes and not f.on_request)]
    if not found:
        raise InvalidInput(f"no family at {provider} is kept in step", field="provider")
    return found


def plan(session: ProviderSession) -> Plan:
    """The links of the connection, read once, and what a report will cost: per object
    type listed, the pages of a listing as large as its links."""
    by_kind: dict[str, list[Link]] = {}
    for link in links.links_of(session.tenant_id, session.provider):
        by_kind.setdefault(links.kind_of(link), []).append(link)
    families = covered(session.provider)
    sizes: dict[str, tuple[int, int]] = {}  # object type -> (links, objects per page)
    for f in families:
        if lists(f):
            held, page = sizes.get(f.object_type, (0, f.listing_page))
            sizes[f.object_type] = (held + len(by_kind.get(f.kind, [])), min(page, f.listing_page))
    estimate = sum(max(1, ceil((held + 1) / page)) for held, page in sizes.values())
    return Plan(families, by_kind, estimate)


def find(session: ProviderSession, planned: Plan | None = None) -> Drift:
    """Read the provider's every object of each object type that can list, and the hub's
    records of each family's kind; compare. `planned`: a plan already made (its links
    are not read again)."""
    planned = planned or plan(session)
    report = Drift(session.provider, estimated_calls=planned.estimated_calls)
    before = session.calls
    listed: dict[str, list[dict[str, Any]]] = {}
    for family in planned.families:
        report.kinds.append(family.kind)
        records = [
            r
            for r in kept_in_step(session.tenant_id, family.kind, family.recent_days)
            if not r.deleted
        ]
        if lists(family):
            if family.object_type not in listed:
                listed[family.object_type] = family.listing(session) or []
            _compare(session, family, planned, listed[family.object_type], records, report)
        _not_linked(session, family, planned, records, report)
    report.calls = session.calls - before
    return report


def _compare(
    session: ProviderSession,
    family: Family,
    planned: Plan,
    raws: list[dict[str, Any]],
    records: list[Record],
    report: Drift,
) -> None:
    kind, now = family.kind, utcnow()
    by_provider_id = {str(link.provider_id): link for link in planned.links.get(kind, [])}
    elsewhere = {  # objects of this type another kind links (a QBO job)
        str(link.provider_id)
        for other, held in planned.links.items()
        if other != kind
        for link in held
        if str(link.provider_key).startswith(f"{family.object_type}#")
    }
    changes = [Change(family.object_type, object_id(raw), None, raw, now) for raw in raws]
    if type(family).resolve is not Family.resolve:
        changes = family.resolve(session, changes)  # a payment's invoices as hub ids
    hub = {str(r.record_id): r for r in records}
    seen: set[str] = set()
    for change in changes:
        provider_id = change.provider_id
        if provider_id in elsewhere:
            continue
        held = by_provider_id.get(provider_id)
        try:
            content = family.from_provider(change.raw) if change.raw is not None else None
        except (InvalidInput, ValueError) as exc:
            # what a pull cannot take in either (a payroll employee without an email): named,
            # not drift a repair could close
            reason = _why_not(exc)
            report.unreadable.append({"kind": kind, "provider_id": provider_id, "why": reason})
            continue
        if held is None:
            if (  # what a pull would take in
                family.adopts
                and content is not None
                and family.takes_in(session.settings, change.raw or {})
            ):
                report.unlinked.append(
                    {"kind": kind, "provider_id": provider_id, "name": _name(content)}
                )
                report.changes.append(change)
            continue
        seen.add(provider_id)
        hub_id = links.hub_id_of(held)
        record = hub.get(hub_id)
        if record is None:
            continue  # deleted in the hub: its push removes it or says why
        data = dict(record.data or {})
        why = _gone(family, change, content or {}, data)
        if why:
            report.gone.append(
                {"kind": kind, "hub_id": hub_id, "provider_id": provider_id, "why": why}
            )
            report.changes.append(change)
            continue
        fields = managed_differences(kind, family.managed_fields, data, content or {})
        if fields:
            hub_moved = int(record.version) > int(held.synced_version or 0)
            there_moved = not family.unchanged_since(held.provider_version, change.raw or {})
            report.differs.append(
                {
                    "kind": kind,
                    "hub_id": hub_id,
                    "provider_id": provider_id,
                    "fields": fields,
                    "changed_since_linked": [
                        side
                        for side, moved in (("hub", hub_moved), (session.provider, there_moved))
                        if moved
                    ],
                }
            )
            if there_moved:
                report.changes.append(change)  # the later edit wins, as in a pull
            elif not hub_moved:
                report.restate.append(held)
    for provider_id, link in by_provider_id.items():
        hub_id = links.hub_id_of(link)
        record = hub.get(hub_id)
        if provider_id not in seen and record is not None:
            if family.retired(dict(record.data or {})):
                continue  # void in the hub too
            report.gone.append(
                {"kind": kind, "hub_id": hub_id, "provider_id": provider_id, "why": "deleted"}
            )
            report.changes.append(Change(family.object_type, provider_id, None, None, now))


def _gone(family: Family, change: Change, content: dict[str, Any], data: dict[str, Any]) -> str:
    """Why a linked object no longer holds the hub's live record: made inactive there, or
    removed (a resolve reads a voided payment so); "" when it does."""
    if change.raw is None:
        return "" if family.retired(data) else "removed"  # voided (QBO), deleted (Xero)
    if content.get("active") is False and data.get("active", True):
        return "inactive"
    return ""


def _not_linked(
    session: ProviderSession,
    family: Family,
    planned: Plan,
    records: list[Record],
    report: Drift,
) -> None:
    """Hub records the connection wants, never retired, with no link: what the outbox
    should have sent."""
    if not family.pushes or family.on_request:
        return
    linked = {links.hub_id_of(link) for link in planned.links.get(family.kind, [])}
    settings = session.settings
    for record in sorted(records, key=lambda r: str(r.record_id)):
        data = dict(record.data or {})
        hub_id = str(record.record_id)
        if hub_id in linked or family.retired(data) or not family.wants(settings, data):
            continue
        report.not_linked.append({"kind": family.kind, "hub_id": hub_id, "name": _name(data)})


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


def _why_not(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(getattr(exc, "detail", None) or exc)


def object_id(raw: dict[str, Any]) -> str:
    """A listed object's id (QBO Id; Xero ContactID, payroll employeeID, a batch's
    BatchPaymentID or a payment's PaymentID; QBT id)."""
    for key in ("Id", "ContactID", "employeeID", "BatchPaymentID", "PaymentID", "id"):
        if raw.get(key) not in (None, ""):
            return str(raw[key])
    return ""


def _name(data: dict[str, Any]) -> str | None:
    """How a person knows the record: a contact's name, a user's first and last name, an
    invoice's number, a payment's reference, else its date."""
    if data.get("name"):
        return str(data["name"])
    full = f"{data.get('first_name') or ''} {data.get('last_name') or ''}".strip()
    found = full or data.get("number") or data.get("reference") or data.get("date")
    return str(found) if found else None
