"""The Xero adapters the engine calls: contacts hub -> Xero (batched, idempotent), and
contacts plus Payroll UK employees Xero -> hub (from the cursor), and the importer's list.

Creates go out with PUT and updates with POST, each one call for up to 50 contacts with
`summarizeErrors=false`. Not one POST for both: a POSTed contact without ContactID whose
Name is an active contact's *updates that contact* (PROVIDERS.md 3.3, "POST with an
existing name updates that contact"), which would fold a new hub contact into a namesake
and stamp our hub id on it; PUT creates only, so a clash is the sync error
`xero.duplicate_name` the firm can resolve.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from booksync.engine.seam import Change, ProviderSession, Pushed, PushItem
from booksync.errors import Kind, SyncFailure
from booksync.hub.content import Contact, content_hash
from booksync.observability import logger
from booksync.providers.xero.client import (
    XeroClient,
    element_failure,
    one_second_before,
    parse_date,
)
from booksync.providers.xero.mapping import (
    contact_from_xero,
    user_from_payroll_employee,
    xero_contact_from,
)

MAX_BATCH = 50  # Xero advises <= 50 elements per write (PROVIDERS.md 3.2)


def _default_api_base() -> str:
    from booksync.settings import get_settings

    return get_settings().providers.xero_api_base


def batch_idempotency_key(method: str, item_keys: list[str]) -> str:
    """One Xero Idempotency-Key (<= 128 chars) for a batch: a hash of its items' keys in
    order. Order matters: Xero replays the first answer, whose elements must line up
    with the items of the repeated call."""
    raw = "\n".join(["xero", "Contacts", method, *item_keys])
    return hashlib.sha256(raw.encode()).hexdigest()


def xero_view_hash(body: dict[str, Any]) -> str:
    """Hash of the hub content as Xero holds it once written (what a pull maps back), so
    our own write coming back from Xero is recognised as an echo."""
    return content_hash(contact_from_xero(body))


class ContactPush:
    """Hub contacts -> Xero contacts; the hub id goes into ContactNumber."""

    provider = "xero"
    kind = "contact"
    max_batch = MAX_BATCH

    def __init__(self, api_base: str | None = None) -> None:
        self.api_base = api_base or _default_api_base()

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        if len(items) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} contacts per push")
        client = XeroClient(session, self.api_base)
        results: list[Pushed | Exception | None] = [None] * len(items)
        ours = self._already_created(client, [item for item in items if item.link is None])
        if isinstance(ours, SyncFailure):
            return [ours] * len(items)
        creates = [
            i
            for i, item in enumerate(items)
            if item.link is None and item.record.record_id not in ours
        ]
        updates = [i for i in range(len(items)) if i not in creates]
        adopted = {i: ours[items[i].record.record_id] for i in updates if items[i].link is None}
        for method, indexes, send in (
            ("PUT", creates, client.put_contacts),
            ("POST", updates, client.post_contacts),
        ):
            if indexes:
                self._send(method, [items[i] for i in indexes], send, indexes, results, adopted)
        return [r if r is not None else SyncFailure("internal.unexpected") for r in results]

    def _send(
        self,
        method: str,
        batch: list[PushItem],
        send: Callable[[list[dict[str, Any]], str], list[dict[str, Any]]],
        indexes: list[int],
        results: list[Pushed | Exception | None],
        adopted: dict[int, str],
    ) -> None:
        bodies: list[dict[str, Any]] = []
        for i, item in zip(indexes, batch, strict=True):
            body = xero_contact_from(_contact(item.content), item.record.record_id)
            contact_id = item.link.provider_id if item.link is not None else adopted.get(i)
            if contact_id is not None:
                body = {"ContactID": contact_id, **body}
            bodies.append(body)
        key = batch_idempotency_key(method, [item.idempotency_key for item in batch])
        try:
            answers = send(bodies, key)
        except SyncFailure as failure:  # the whole call: throttled, unavailable, ...
            for i in indexes:
                results[i] = failure
            return
        for i, item, body, answer in zip(indexes, batch, bodies, answers, strict=True):
            results[i] = self._result(item, body, answer)

    @staticmethod
    def _already_created(
        client: XeroClient, unlinked: list[PushItem]
    ) -> dict[str, str] | SyncFailure:
        """Unlinked records Xero already holds (hub id -> ContactID): a create whose reply
        was lost, found by the hub id booksync writes into ContactNumber. Looking before
        creating keeps a retry from making a second contact whatever its idempotency key."""
        names = {item.record.record_id: _contact(item.content).name.casefold() for item in unlinked}
        try:
            found = client.contacts_numbered(list(names))
        except SyncFailure as failure:
            return failure
        # ours only if it also holds our name: a number someone typed in Xero is not a claim
        return {
            str(c["ContactNumber"]): str(c["ContactID"])
            for c in found
            if names.get(str(c.get("ContactNumber"))) == str(c.get("Name", "")).casefold()
        }

    @staticmethod
    def _result(item: PushItem, body: dict[str, Any], answer: dict[str, Any]) -> Pushed | Exception:
        failure = element_failure(answer)
        if failure is not None:
            return failure
        hub_id = item.record.record_id
        if answer.get("ContactNumber") not in (None, hub_id) or not answer.get("ContactID"):
            return SyncFailure(
                "xero.unavailable", f"Xero's answer does not line up with contact {hub_id}"
            )
        stamp = answer.get("UpdatedDateUTC")
        return Pushed(
            hub_id=hub_id,
            provider_id=str(answer["ContactID"]),
            provider_version=parse_date(stamp).isoformat() if stamp else None,
            content_hash=xero_view_hash(body),
        )


def _contact(content: Any) -> Contact:
    return content if isinstance(content, Contact) else Contact.model_validate(content)


# ---------------------------------------------------------------------------------- pull


@dataclass(frozen=True)
class PullCursor:
    """Where the last pull stopped, per family: Xero's own UpdatedDateUTC of the newest
    object seen, less a second (If-Modified-Since is to the second and has gaps), never
    our clock. Stored as JSON."""

    contacts: datetime | None = None
    employees: datetime | None = None

    @classmethod
    def parse(cls, text: str | None) -> PullCursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            moment = parse_date(text)  # a bare timestamp covers both families
            return cls(moment, moment)
        return cls(
            parse_date(data["contacts"]) if data.get("contacts") else None,
            parse_date(data["employees"]) if data.get("employees") else None,
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "contacts": self.contacts.isoformat() if self.contacts else None,
                "employees": self.employees.isoformat() if self.employees else None,
            },
            sort_keys=True,
        )


class XeroPull:
    """Xero -> hub: contacts changed since the cursor (archived ones included, as inactive)
    and Payroll UK employees as hub users."""

    provider = "xero"

    def __init__(
        self, api_base: str | None = None, *, payroll: bool = True, page_size: int = 1000
    ) -> None:
        self.api_base = api_base or _default_api_base()
        self.payroll = payroll
        self.page_size = page_size

    def changes(self, session: ProviderSession, cursor: str | None) -> tuple[list[Change], str]:
        client = XeroClient(session, self.api_base, page_size=self.page_size)
        since = PullCursor.parse(cursor)
        changes: list[Change] = []
        latest_contact = since.contacts
        for raw in client.contacts(modified_since=since.contacts, include_archived=True):
            stamp = parse_date(str(raw["UpdatedDateUTC"]))
            latest_contact = _later(latest_contact, one_second_before(stamp))
            try:
                content = contact_from_xero(raw)
            except ValidationError as exc:
                _skip("contact", str(raw.get("ContactID")), exc)
                continue
            changes.append(
                Change(
                    kind="contact",
                    provider_id=str(raw["ContactID"]),
                    provider_version=stamp.isoformat(),
                    content=content,
                    changed_at=stamp,
                )
            )
        latest_employee = since.employees
        if self.payroll:
            try:
                users, latest_employee = self._employees(client, since.employees)
            except SyncFailure as failure:
                # an organisation without Payroll UK (403, 404): contacts still sync. A 401
                # is not caught: the token service has already judged the grant.
                if failure.kind is not Kind.NEEDS_FIX and failure.code != "xero.not_authorised":
                    raise
                logger.warning(
                    "xero payroll employees not readable; users skipped",
                    extra={"code": failure.code, "provider_message": failure.provider_message},
                )
                users = []
            changes.extend(users)
        return changes, PullCursor(latest_contact, latest_employee).dump()

    def _employees(
        self, client: XeroClient, since: datetime | None
    ) -> tuple[list[Change], datetime | None]:
        """Payroll UK has no If-Modified-Since: read all, keep what changed since."""
        out: list[Change] = []
        latest = since
        for raw in client.employees():
            stamp = parse_date(str(raw.get("updatedDateUTC") or raw.get("createdDateUTC")))
            if since is not None and stamp.replace(microsecond=0) <= since:
                continue
            latest = _later(latest, one_second_before(stamp))
            try:
                content = user_from_payroll_employee(raw)
            except ValidationError as exc:
                _skip("user", str(raw.get("employeeID")), exc)
                continue
            out.append(
                Change(
                    kind="user",
                    provider_id=str(raw["employeeID"]),
                    provider_version=stamp.isoformat(),
                    content=content,
                    changed_at=stamp,
                )
            )
        return out, latest


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _skip(kind: str, provider_id: str, exc: ValidationError) -> None:
    logger.warning(
        "xero object cannot be a hub record; skipped",
        extra={
            "kind": kind,
            "provider_id": provider_id,
            "fields": sorted({".".join(map(str, e["loc"])) for e in exc.errors()}),
        },
    )


def list_contacts(session: ProviderSession, api_base: str | None = None) -> list[dict[str, Any]]:
    """Every Xero contact as Xero returns it, archived ones included (ContactStatus
    ARCHIVED), for the importer's matching."""
    client = XeroClient(session, api_base or _default_api_base())
    return list(client.contacts(include_archived=True))
