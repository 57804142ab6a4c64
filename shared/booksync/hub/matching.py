"""Matching provider contacts and staff to hub records: exact, partial (for review) or none.

Pure and linear: each side is indexed once by exact name key, normalized name key and
email, and each provider contact only looks at the hub contacts in its own index buckets.
There is no pairwise string distance, so 5,000 x 5,000 classifies in well under a second.

Rules (the import issue):
- exact: name and email equal, ignoring case and spacing. Both emails must be present:
  a contact without an email is never matched exactly, because two different people can
  share a name and only the email tells them apart. Such a contact whose name agrees is
  a partial match ("same name, no email to confirm"), so a person decides.
- partial: only the name or only the email agrees, or the names differ only in
  punctuation, a legal suffix (Inc, Ltd, Pty Ltd...) or word order.
- none: nothing agrees; the importer creates the contact in the hub.
- linked: the provider id is already linked; it is reported and takes no part in matching,
  and hub contacts already linked are never candidates.

Sub-customers (QBO jobs, client:job) are matched only among the hub contacts under the same
parent: a job called "2024 accounts" under one client is not a duplicate of the job with
the same name under another. Their parent must therefore be linked or matched exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["linked", "exact", "partial", "none"]

# Trailing words that name a legal form, not a business; stripped for the normalized key.
LEGAL_SUFFIXES = frozenset(
    {
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "llp",
        "lp",
        "pty",
        "pte",
        "co",
        "company",
        "corp",
        "corporation",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sarl",
        "srl",
        "bv",
        "nv",
        "oy",
        "ab",
        "kk",
    }
)
MAX_CANDIDATES = 10  # a review shows at most this many candidates, strongest first

SAME_NAME_AND_EMAIL = "same name and email"
SAME_NAME_DIFFERENT_EMAIL = "same name, different email"
SAME_NAME_NO_EMAIL = "same name, no email to confirm"
SAME_EMAIL = "same email"
DIFFER_PUNCTUATION = "names differ only in punctuation"
DIFFER_SUFFIX = "names differ only in a legal suffix (Inc, Ltd, ...)"
DIFFER_WORD_ORDER = "names differ only in word order"
SEVERAL_EXACT = "several hub contacts have this name and email"
ALREADY_MATCHED = "already matched to another provider contact in this import"
SAME_DISPLAY_NAME = "same display name"
SAME_FIRST_AND_LAST_NAME = "same first and last name"

_DROPPED = re.compile(r"[.'\u2019`]")  # J.P. = JP, O'Brien = OBrien
_SEPARATORS = re.compile(r"[^\w]+|_")


# ------------------------------------------------------------------------------ keys


def exact_key(name: str) -> str:
    """The name ignoring case and spacing: what "equal" means for an exact match."""
    return "".join(name.casefold().split())


def email_key(email: str | None) -> str | None:
    value = (email or "").strip().casefold()
    return value or None


def _tokens(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name.casefold())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = _DROPPED.sub("", folded.replace("&", " and ").replace("+", " and "))
    return [t for t in _SEPARATORS.split(folded) if t]


def _strip_legal(tokens: list[str]) -> list[str]:
    kept = list(tokens)
    if len(kept) > 1 and kept[0] == "the":
        kept = kept[1:]
    while len(kept) > 1 and kept[-1] in LEGAL_SUFFIXES:
        kept.pop()
    return kept


def normalize_name(name: str) -> str:
    """The name without case, spacing, punctuation, accents, a leading "The" or trailing
    legal suffixes, with '&' read as 'and' and its words sorted (so word order does not
    count): "Smith & Jones Pty. Ltd." and "jones and smith" give the same key."""
    return " ".join(sorted(_strip_legal(_tokens(name))))


def _why_names_agree(provider_name: str, hub_name: str) -> str:
    """Which difference separates two names with the same normalized key."""
    provider_tokens, hub_tokens = _tokens(provider_name), _tokens(hub_name)
    if provider_tokens == hub_tokens:
        return DIFFER_PUNCTUATION
    if _strip_legal(provider_tokens) == _strip_legal(hub_tokens):
        return DIFFER_SUFFIX
    return DIFFER_WORD_ORDER


# ---------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Party:
    """A contact as matching sees it. `parent_id` is the parent on the party's own side:
    a provider id for provider contacts (QBO ParentRef), a hub id for hub contacts."""

    id: str
    name: str
    email: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True)
class Candidate:
    hub_id: str
    name: str
    email: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MatchResult:
    provider_id: str
    status: Status
    hub_id: str | None = None  # linked or exact: the hub contact
    candidates: tuple[Candidate, ...] = ()  # partial: strongest first
    reason: str = ""  # exact: why (e.g. "same email" for staff)


@dataclass
class MatchStats:
    """How much work a classification did: hub entries looked at through the indexes."""

    comparisons: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


# -------------------------------------------------------------------------- contacts


class _HubIndex:
    def __init__(self, hub: Iterable[Party], excluded: set[str]) -> None:
        self.by_exact: dict[tuple[str | None, str], list[Party]] = defaultdict(list)
        self.by_normal: dict[tuple[str | None, str], list[Party]] = defaultdict(list)
        self.by_email: dict[tuple[str | None, str], list[Party]] = defaultdict(list)
        for party in hub:
            if party.id in excluded:
                continue
            scope = party.parent_id
            self.by_exact[(scope, exact_key(party.name))].append(party)
            self.by_normal[(scope, normalize_name(party.name))].append(party)
            email = email_key(party.email)
            if email:
                self.by_email[(scope, email)].append(party)

    def around(self, scope: str | None, party: Party) -> list[Party]:
        """Every hub party sharing a key with `party`, each once, in a stable order."""
        seen: dict[str, Party] = {}
        buckets = [
            self.by_exact.get((scope, exact_key(party.name)), []),
            self.by_normal.get((scope, normalize_name(party.name)), []),
        ]
        email = email_key(party.email)
        if email:
            buckets.append(self.by_email.get((scope, email), []))
        for bucket in buckets:
            for hub in bucket:
                seen.setdefault(hub.id, hub)
        return list(seen.values())


def _reasons(provider: Party, hub: Party) -> tuple[bool, list[str]]:
    """(is it an exact match, why the two agree)."""
    same_exact = exact_key(provider.name) == exact_key(hub.name)
    p_email, h_email = email_key(provider.email), email_key(hub.email)
    same_email = p_email is not None and p_email == h_email
    if same_exact and same_email:
        return True, [SAME_NAME_AND_EMAIL]
    reasons: list[str] = []
    if same_exact:
        both = p_email is not None and h_email is not None
        reasons.append(SAME_NAME_DIFFERENT_EMAIL if both else SAME_NAME_NO_EMAIL)
    elif normalize_name(provider.name) == normalize_name(hub.name):
        reasons.append(_why_names_agree(provider.name, hub.name))
    if same_email:
        reasons.append(SAME_EMAIL)
    return False, reasons


def _strength(candidate: Candidate) -> tuple[int, str]:
    order = {
        SAME_NAME_AND_EMAIL: 0,
        SAME_EMAIL: 1,
        SAME_NAME_DIFFERENT_EMAIL: 2,
        SAME_NAME_NO_EMAIL: 2,
        DIFFER_PUNCTUATION: 3,
        DIFFER_SUFFIX: 3,
        DIFFER_WORD_ORDER: 4,
    }
    best = min((order.get(r, 5) for r in candidate.reasons), default=9)
    return (best - len(candidate.reasons), candidate.hub_id)


def _depth_order(provider: Sequence[Party]) -> list[int]:
    """Indexes of `provider` with every parent before its children (input order otherwise)."""
    by_id = {p.id: p for p in provider}
    depth_of: dict[str, int] = {}

    def depth(party: Party) -> int:
        chain: list[Party] = []
        current: Party | None = party
        while current is not None and current.id not in depth_of and len(chain) <= len(by_id):
            chain.append(current)
            current = by_id.get(current.parent_id) if current.parent_id else None
        base = depth_of.get(current.id, 0) if current is not None else -1
        for item in reversed(chain):
            base += 1
            depth_of[item.id] = base
        return depth_of[party.id]

    return sorted(range(len(provider)), key=lambda i: depth(provider[i]))


def classify(
    provider_contacts: Sequence[Party],
    hub_contacts: Iterable[Party],
    linked: Mapping[str, str] | None = None,
    stats: MatchStats | None = None,
) -> list[MatchResult]:
    """One result per provider contact, in the input order.

    `linked` maps provider ids already linked to their hub ids. A hub contact is claimed
    by at most one exact match; a second provider contact agreeing with it exactly is
    sent to review (ALREADY_MATCHED)."""
    linked = linked or {}
    stats = stats if stats is not None else MatchStats()
    index = _HubIndex(hub_contacts, excluded=set(linked.values()))
    claimed: set[str] = set()
    hub_of: dict[str, str] = dict(linked)  # provider id -> hub id, for sub-customer scopes
    results: dict[int, MatchResult] = {}

    for i in _depth_order(provider_contacts):
        party = provider_contacts[i]
        if party.id in linked:
            results[i] = MatchResult(party.id, "linked", hub_id=linked[party.id])
            continue
        scope: str | None = None
        if party.parent_id:
            scope = hub_of.get(party.parent_id)
            if scope is None:  # parent new or in review: nothing to match under yet
                results[i] = MatchResult(party.id, "none")
                continue
        exact: list[Party] = []
        candidates: list[Candidate] = []
        for hub in index.around(scope, party):
            stats.comparisons += 1
            is_exact, reasons = _reasons(party, hub)
            if is_exact and hub.id not in claimed:
                exact.append(hub)
            elif is_exact:
                reasons = [SAME_NAME_AND_EMAIL, ALREADY_MATCHED]
            if reasons:
                candidates.append(Candidate(hub.id, hub.name, hub.email, tuple(reasons)))
        if len(exact) == 1:
            claimed.add(exact[0].id)
            hub_of[party.id] = exact[0].id
            results[i] = MatchResult(
                party.id, "exact", hub_id=exact[0].id, reason=SAME_NAME_AND_EMAIL
            )
        elif candidates:
            if len(exact) > 1:
                candidates = [
                    Candidate(c.hub_id, c.name, c.email, (*c.reasons, SEVERAL_EXACT))
                    if c.reasons == (SAME_NAME_AND_EMAIL,)
                    else c
                    for c in candidates
                ]
            ranked = tuple(sorted(candidates, key=_strength)[:MAX_CANDIDATES])
            results[i] = MatchResult(party.id, "partial", candidates=ranked)
        else:
            results[i] = MatchResult(party.id, "none")

    ordered = [results[i] for i in range(len(provider_contacts))]
    for result in ordered:
        stats.by_status[result.status] = stats.by_status.get(result.status, 0) + 1
    return ordered


# ----------------------------------------------------------------------------- staff


@dataclass(frozen=True)
class StaffMember:
    """A member of staff on either side: a hub user, a QBO employee, a Xero payroll employee."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    display_name: str = ""  # QBO Employee.DisplayName; empty: first and last name

    @property
    def shown_name(self) -> str:
        return self.display_name or f"{self.first_name} {self.last_name}".strip()


def _staff_candidate(hub: StaffMember, reasons: Sequence[str]) -> Candidate:
    return Candidate(hub.id, hub.shown_name, hub.email, tuple(reasons))


def _pick(
    party: StaffMember, found: list[StaffMember], reason: str, claimed: set[str]
) -> MatchResult | None:
    """Exact when exactly one unclaimed hub user was found; review when several were."""
    free = [h for h in found if h.id not in claimed]
    if len(free) == 1:
        claimed.add(free[0].id)
        return MatchResult(party.id, "exact", hub_id=free[0].id, reason=reason)
    if found:
        candidates = tuple(_staff_candidate(h, [reason]) for h in found[:MAX_CANDIDATES])
        return MatchResult(party.id, "partial", candidates=candidates)
    return None


def classify_staff(
    provider: str,
    provider_staff: Sequence[StaffMember],
    hub_users: Iterable[StaffMember],
    linked: Mapping[str, str] | None = None,
    stats: MatchStats | None = None,
) -> list[MatchResult]:
    """Staff matching, one result per provider employee in input order.

    - qbo: by email first; with no email match, by display name (ignoring case and
      spacing; a name that differs only in punctuation or word order goes to review).
    - xero (payroll employees): exact when first name, last name and email all agree;
      only the email, or only the first and last name, agreeing goes to review.
    """
    if provider not in ("qbo", "xero"):
        raise ValueError(f"staff matching is defined for qbo and xero, not {provider!r}")
    linked = linked or {}
    stats = stats if stats is not None else MatchStats()
    excluded = set(linked.values())
    hubs = [h for h in hub_users if h.id not in excluded]
    by_email: dict[str, list[StaffMember]] = defaultdict(list)
    by_name: dict[str, list[StaffMember]] = defaultdict(list)
    by_normal: dict[str, list[StaffMember]] = defaultdict(list)
    by_first_last: dict[tuple[str, str], list[StaffMember]] = defaultdict(list)
    for hub in hubs:
        email = email_key(hub.email)
        if email:
            by_email[email].append(hub)
        by_name[exact_key(hub.shown_name)].append(hub)
        by_normal[normalize_name(hub.shown_name)].append(hub)
        by_first_last[(exact_key(hub.first_name), exact_key(hub.last_name))].append(hub)

    claimed: set[str] = set()
    results: list[MatchResult] = []
    for party in provider_staff:
        if party.id in linked:
            results.append(MatchResult(party.id, "linked", hub_id=linked[party.id]))
            continue
        email = email_key(party.email)
        same_email = by_email.get(email, []) if email else []
        stats.comparisons += len(same_email)
        if provider == "qbo":
            result = _pick(party, same_email, SAME_EMAIL, claimed)
            if result is None:
                same_name = by_name.get(exact_key(party.shown_name), [])
                stats.comparisons += len(same_name)
                result = _pick(party, same_name, SAME_DISPLAY_NAME, claimed)
            if result is None:
                close = by_normal.get(normalize_name(party.shown_name), [])
                stats.comparisons += len(close)
                reasons = [_why_names_agree(party.shown_name, h.shown_name) for h in close]
                result = MatchResult(
                    party.id,
                    "partial" if close else "none",
                    candidates=tuple(
                        _staff_candidate(h, [r]) for h, r in zip(close, reasons, strict=True)
                    )[:MAX_CANDIDATES],
                )
        else:
            first_last = (exact_key(party.first_name), exact_key(party.last_name))
            same_names = by_first_last.get(first_last, []) if any(first_last) else []
            stats.comparisons += len(same_names)
            all_three = [h for h in same_names if email and email_key(h.email) == email]
            result = _pick(party, all_three, "same first name, last name and email", claimed)
            if result is None:
                found: dict[str, Candidate] = {}
                for hub in same_names:
                    found[hub.id] = _staff_candidate(hub, [SAME_FIRST_AND_LAST_NAME])
                for hub in same_email:
                    prior = found.get(hub.id)
                    why = (*prior.reasons, SAME_EMAIL) if prior else (SAME_EMAIL,)
                    found[hub.id] = _staff_candidate(hub, why)
                result = MatchResult(
                    party.id,
                    "partial" if found else "none",
                    candidates=tuple(found.values())[:MAX_CANDIDATES],
                )
        results.append(result)
    for result in results:
        stats.by_status[result.status] = stats.by_status.get(result.status, 0) + 1
    return results
