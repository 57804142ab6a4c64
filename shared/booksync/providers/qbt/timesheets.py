"""QuickBooks Time timesheets <-> hub time entries, both ways, for the last six months.

Raw shape (docs: Timesheets/_timesheets.md.erb; PROVIDERS.md 2.3): `user_id`, `jobcode_id`,
`type` manual (`date`, `duration` in seconds, stored as hours to 2 decimals) or regular
(`start`, `end` with their UTC offset), `notes`, `customfields` {field id: item name},
read-only `locked`, `last_modified`. Writes of 50; deletes by `?ids=` (permanent; kept 180
days in `timesheets_deleted`).

Out: a hub entry becomes a manual timesheet (or a regular one when it has a start and an
end) on the jobcode of its work item, else of its contact, for the QBT user of its user,
with task type and role in the two custom fields "save and sync" set up. QBT has no
idempotency key: a create's intent (user, jobcode, date, duration, notes) finds the
timesheet a lost reply made, among those no link names.

In: the account's changes (providers/qbt/changes.py) bring timesheets and deletions; the
source resolves each timesheet's user and jobcode to hub records through their links. One
whose user or jobcode is not linked (yet) is held, with the reason, and tried again on
every read until its link appears (`held_time`): never dropped.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import Field

from booksync.engine.seam import Change, ProviderSession, Pushed, PushItem
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.hub.kinds.time_entries import KEPT_IN_STEP_DAYS, TimeEntry, kept_in_step
from booksync.providers.qbt import custom_fields, time_off
from booksync.providers.qbt.changes import ReadByEndpoint, stamp
from booksync.providers.qbt.client import MAX_BATCH, PAGE_LIMIT, QbtClient, classify
from booksync.providers.qbt.common import PROVIDER, finish, pushed
from booksync.store import Cursor, cursors, links
from booksync.store import records as hub_records

HELD_FAMILY = "qbt.held_time"
DURATION_SLACK_SECONDS = 36  # a manual duration is kept as hours to 2 decimals
# a lost create is looked for among timesheets QBT stamped since its first try, less this
# (QBT's clock and ours may differ; QBT stamps whole seconds)
LOST_CREATE_CLOCK_MARGIN = timedelta(minutes=10)
MANAGED = (
    "user_id",
    "contact_id",
    "work_item_id",
    "date",
    "duration_minutes",
    "start",
    "end",
    "notes",
    "task_type",
    "role",
    "custom_fields",
)

# ----------------------------------------------------------------------- mapper


def _made_by(ts: dict[str, Any], body: dict[str, Any]) -> bool:
    """Does the timesheet hold what a create of `body` wrote (user, jobcode, notes, and
    its duration, or its start)?"""
    if int(ts.get("user_id") or 0) != int(body["user_id"]):
        return False
    if int(ts.get("jobcode_id") or 0) != int(body["jobcode_id"]):
        return False
    if str(ts.get("notes") or "") != str(body.get("notes") or ""):
        return False
    if body.get("type") == "regular":
        return str(ts.get("start")) == str(body["start"])
    seconds = int(body.get("duration") or 0)
    return abs(int(ts.get("duration") or 0) - seconds) <= DURATION_SLACK_SECONDS


def timesheet_from_entry(
    entry: TimeEntry,
    user_id: int,
    jobcode_id: int,
    field_ids: dict[str, str],
    named: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The timesheet a hub entry becomes (no id: the caller adds it for an update);
    `named`: the other custom fields' ids by name (a value for a field QBT does not
    have is not sent)."""
    body: dict[str, Any] = {"user_id": user_id, "jobcode_id": jobcode_id, "notes": entry.notes}
    if entry.start is not None and entry.end is not None:
        body.update(type="regular", start=entry.start.isoformat(), end=entry.end.isoformat())
    else:
        body.update(
            type="manual", date=entry.date.isoformat(), duration=entry.duration_minutes * 60
        )
    fields = {
        field_ids[key]: value
        for key, value in (("task_type", entry.task_type), ("role", entry.role))
        if value and key in field_ids
    }
    others = named or {}
    fields.update({others[k]: v for k, v in entry.custom_fields.items() if k in others})
    if fields:
        body["customfields"] = fields
    return body


def entry_from_timesheet(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The hub content of a timesheet whose user and jobcode the source resolved (in
    `raw["_hub"]`); None for one still on the clock (it has no duration yet)."""
    hub = raw.get("_hub") or {}
    if raw.get("on_the_clock") or not hub.get("user_id"):
        return None
    seconds = int(raw.get("duration") or 0)
    content: dict[str, Any] = {
        "user_id": hub["user_id"],
        "contact_id": hub.get("contact_id"),
        "work_item_id": hub.get("work_item_id"),
        "date": str(raw.get("date") or "")[:10],
        "duration_minutes": max(1, round(seconds / 60)),
        "notes": str(raw.get("notes") or "")[:2000],
        "task_type": hub.get("task_type") or None,
        "role": hub.get("role") or None,
        "custom_fields": dict(hub.get("custom_fields") or {}),
    }
    if raw.get("type") == "regular" and raw.get("start") and raw.get("end"):
        start, end = stamp(raw["start"]), stamp(raw["end"])
        content.update(
            start=start.isoformat(),
            end=end.isoformat(),
            duration_minutes=int((end - start).total_seconds() // 60),
        )
    return content


def fingerprint(content: dict[str, Any]) -> str:
    """The hash of the fields QBT holds, as a pull reads them back (an echo is equal)."""
    view = TimeEntry.model_validate(content).model_dump(mode="json")
    return content_hash({k: view.get(k) for k in MANAGED})


# ----------------------------------------------------------------------- family


def _entry(content: Any) -> TimeEntry:
    return content if isinstance(content, TimeEntry) else TimeEntry.model_validate(content)


class Timesheets(ReadByEndpoint):
    provider = PROVIDER
    kind = "time_entry"
    object_type = "timesheet"
    max_batch = MAX_BATCH
    managed_fields = MANAGED
    adopts = True
    recent_days = KEPT_IN_STEP_DAYS
    endpoints = ("timesheets", "timesheets_deleted")
    settings = {
        "sync_time": (bool, Field(default=True, description="keep time in step with QBT")),
        # the firm's books are Xero (engine/qbt_from_xero.py, import-from-xero)
        "xero_items": (
            bool,
            Field(
                default=False,
                description="Xero's sold items not tracked as inventory become the values "
                "of a timesheet custom field 'Item'",
            ),
        ),
        "require_item": (
            bool,
            Field(default=False, description="a timesheet must name an Item"),
        ),
        "xero_tracking": (
            bool,
            Field(
                default=False,
                description="each active Xero tracking category becomes a timesheet custom "
                "field with its options as values",
            ),
        ),
    }

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return bool(settings.get("sync_time", True)) and kept_in_step(data)

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return entry_from_timesheet(raw)

    def intent(self, item: PushItem) -> dict[str, Any]:
        entry = _entry(item.content)
        return {
            "user": entry.user_id,
            "date": entry.date.isoformat(),
            "seconds": entry.duration_minutes * 60,
            "notes": entry.notes,
        }

    # -- push

    def push(self, session: ProviderSession, items: list[PushItem]) -> list[Pushed | Exception]:
        client = QbtClient(session)
        field_ids = custom_fields.field_ids(str(session.connection.connection_id))
        named = custom_fields.named_fields(str(session.connection.connection_id))
        results: list[Pushed | Exception | None] = [None] * len(items)
        refs = self._references(session, items)
        creates: list[tuple[int, dict[str, Any]]] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        deletes: list[int] = []
        for index, item in enumerate(items):
            if item.record.deleted:
                deletes.append(index)
                continue
            entry = _entry(item.content)
            if not (entry.contact_id or entry.work_item_id):
                results[index] = SyncFailure(
                    "qbt.time_without_job", "the entry has no client and no job"
                )
                continue
            user = refs.get(("user", entry.user_id))
            place = refs.get(("work_item", entry.work_item_id or "")) or refs.get(
                ("contact", entry.contact_id or "")
            )
            if user is None or place is None:
                # parents go first (user, contact, work item): this is a wait, not a fix
                missing = "user" if user is None else "client or job"
                results[index] = SyncFailure(
                    "qbt.unavailable", f"the {missing} is not in QuickBooks Time yet"
                )
                continue
            body = timesheet_from_entry(entry, int(user), int(place), field_ids, named)
            if item.link is not None:
                updates.append((index, {**body, "id": int(item.link.provider_id)}))
            else:
                creates.append((index, body))
        try:
            found = self._find_lost(session, client, items, creates)
        except SyncFailure as failure:
            return [failure] * len(items)
        if found:
            # the timesheets lost replies made are brought up to date, not made again
            bodies = dict(creates)
            creates = [(i, body) for i, body in creates if i not in found]
            updates += [(i, {**bodies[i], "id": tid}) for i, tid in found.items()]
        self._write(client, "POST", items, creates, results)
        self._write(client, "PUT", items, updates, results)
        self._delete(client, items, deletes, results)
        return finish(results)

    @staticmethod
    def _references(session: ProviderSession, items: list[PushItem]) -> dict[tuple[str, str], str]:
        """(kind, hub id) -> QBT id of every user, contact and work item the items name:
        one batched link read per kind."""
        wanted: dict[str, set[str]] = {"user": set(), "contact": set(), "work_item": set()}
        for item in items:
            if item.record.deleted:
                continue
            entry = _entry(item.content)
            wanted["user"].add(entry.user_id)
            if entry.work_item_id:
                wanted["work_item"].add(entry.work_item_id)
            if entry.contact_id:
                wanted["contact"].add(entry.contact_id)
        out: dict[tuple[str, str], str] = {}
        for kind, ids in wanted.items():
            if ids:
                for hub_id, link in links.get_links(
                    session.tenant_id, PROVIDER, kind, sorted(ids)
                ).items():
                    out[(kind, hub_id)] = str(link.provider_id)
        return out

    def _find_lost(
        self,
        session: ProviderSession,
        client: QbtClient,
        items: list[PushItem],
        creates: list[tuple[int, dict[str, Any]]],
    ) -> dict[int, int]:
        """Creates sent before whose reply was lost: the timesheet each made, found by its
        user, date, duration and notes among those no link names, or linked to the entry
        itself (a poll that met it may have linked it since this push read its links: it
        is still this entry's, not a reason to make another). QBT has no idempotency key."""
        tried = [(i, body) for i, body in creates if items[i].sent_before]
        if not tried:
            return {}
        days = {i: body.get("date") or str(body.get("start", ""))[:10] for i, body in tried}
        first_try = min(str(s.get("at") or "") for i, _ in tried for s in items[i].sent_before)
        # one read for every try: their users, their days' span, and only what changed
        # since the first of them was sent (less a margin for the two clocks), so a
        # dropped batch of fifty spread over two months is one call, not one a day
        params = {
            "user_ids": ",".join(sorted({str(body["user_id"]) for _, body in tried})),
            "start_date": min(days.values()),
            "end_date": max(days.values()),
            "on_the_clock": "both",
        }
        if first_try:
            since = datetime.fromisoformat(first_try) - LOST_CREATE_CLOCK_MARGIN
            params["modified_since"] = since.isoformat(timespec="seconds")
        sheets = client.get_all("timesheets", params)
        linked = links.by_provider_ids(
            session.tenant_id, PROVIDER, [("timesheet", str(t["id"])) for t in sheets]
        )
        found: dict[int, int] = {}
        for index, body in tried:
            own = items[index].record.record_id
            for ts in sheets:
                holder = linked.get(("timesheet", str(ts["id"])))
                if (
                    str(ts.get("date")) != days[index]
                    or int(ts["id"]) in found.values()
                    or (holder is not None and links.hub_id_of(holder) != own)
                ):
                    continue
                if _made_by(ts, body):
                    found[index] = int(ts["id"])
                    break
        return found

    def _write(
        self,
        client: QbtClient,
        method: str,
        items: list[PushItem],
        writes: list[tuple[int, dict[str, Any]]],
        results: list[Pushed | Exception | None],
    ) -> None:
        if not writes:
            return
        answers = client.write(method, "timesheets", [body for _, body in writes])
        for (index, _), answer in zip(writes, answers, strict=True):
            if isinstance(answer, SyncFailure):
                results[index] = answer
                continue
            content = _entry(items[index].content).model_dump(mode="json")
            results[index] = pushed(items[index], answer, fingerprint(content))

    @staticmethod
    def _delete(
        client: QbtClient,
        items: list[PushItem],
        deletes: list[int],
        results: list[Pushed | Exception | None],
    ) -> None:
        """A hub entry deleted: its timesheet too (QBT keeps it in timesheets_deleted)."""
        # (a record deleted before it ever reached QBT is not handed here: engine/push.py)
        sent = {i: str(link.provider_id) for i in deletes if (link := items[i].link) is not None}
        linked = list(sent)
        for start in range(0, len(linked), PAGE_LIMIT):
            part = linked[start : start + PAGE_LIMIT]
            ids = [sent[i] for i in part]
            try:
                body = client.delete("timesheets", ids)
            except SyncFailure as failure:
                for i in part:
                    results[i] = failure
                continue
            for i, tid in zip(part, ids, strict=True):
                answer = body.get(tid) or {}
                code = int(answer.get("_status_code") or 200)
                if code >= 300 and code != 404:  # 404: already gone, which is what we want
                    results[i] = classify(
                        code, {"error": {"message": str(answer.get("_status_extra") or "")}}
                    )
                    continue
                results[i] = Pushed(
                    hub_id=items[i].record.record_id,
                    provider_id=tid,
                    provider_version=None,
                    content_hash="deleted",
                )

    # -- pull

    def deleted_content(self, current: dict[str, Any]) -> dict[str, Any] | None:
        return None  # time deleted in QuickBooks Time is deleted in the hub

    def waiting(self, session: ProviderSession, endpoint: str) -> bool:
        """Held timesheets are tried again on every poll until their links appear."""
        return endpoint == "timesheets" and bool(held_time(str(session.connection.connection_id)))

    def read_endpoint(
        self, session: ProviderSession, client: QbtClient, endpoint: str, since: str | None
    ) -> tuple[list[Change], str | None]:
        params: dict[str, Any] = {}
        first = date.today() - timedelta(days=KEPT_IN_STEP_DAYS)
        if since:
            params["modified_since"] = since
        elif endpoint == "timesheets_deleted":  # the first read: deletions of six months
            params["modified_since"] = f"{first.isoformat()}T00:00:00+00:00"
        else:  # the first read: only what is kept in step (the last six months)
            params["start_date"] = first.isoformat()
        if endpoint == "timesheets_deleted":
            return self._deleted(session, client, params)
        rows = client.get_all("timesheets", {**params, "on_the_clock": "no"})
        changes = self._resolved(session, client, rows, with_held=True)
        return changes, _newest(rows)

    def _deleted(
        self, session: ProviderSession, client: QbtClient, params: dict[str, Any]
    ) -> tuple[list[Change], str | None]:
        rows = client.get_all("timesheets_deleted", params)
        # the ids say nothing of the jobcode: time off is what is linked as time off
        # (one batched key read), the rest time, linked or held
        off = links.by_provider_ids(
            session.tenant_id, PROVIDER, {(time_off.OBJECT_TYPE, str(r["id"])) for r in rows}
        )
        return [
            Change(
                object_type=time_off.OBJECT_TYPE
                if (time_off.OBJECT_TYPE, str(r["id"])) in off
                else self.object_type,
                provider_id=str(r["id"]),
                provider_version=None,
                raw=None,
                changed_at=stamp(r.get("last_modified") or datetime.now(UTC).isoformat()),
            )
            for r in rows
        ], _newest(rows)

    def _resolved(
        self,
        session: ProviderSession,
        client: QbtClient,
        rows: list[dict[str, Any]],
        *,
        with_held: bool,
    ) -> list[Change]:
        """Timesheets with their user and jobcode resolved to hub records; the others held
        (with the reason) and the held ones of earlier reads tried again."""
        conn_id = str(session.connection.connection_id)
        held = held_time(conn_id)
        if with_held and held:
            again = {str(r["id"]) for r in rows}
            retry_ids = [tid for tid in held if tid not in again]
            for start in range(0, len(retry_ids), PAGE_LIMIT):
                part = retry_ids[start : start + PAGE_LIMIT]
                rows = rows + client.get_all("timesheets", {"ids": ",".join(part)})
        keys = {("user", str(r.get("user_id"))) for r in rows} | {
            ("jobcode", str(r.get("jobcode_id"))) for r in rows
        }
        found = links.by_provider_ids(session.tenant_id, PROVIDER, keys)
        work_ids = [
            links.hub_id_of(link)
            for (ot, _), link in found.items()
            if ot == "jobcode" and links.kind_of(link) == "work_item"
        ]
        works = hub_records.get_many(session.tenant_id, [("work_item", w) for w in work_ids])
        # a linked user's time on a jobcode no hub record links may be time off
        unplaced = {
            str(r.get("jobcode_id"))
            for r in rows
            if ("user", str(r.get("user_id"))) in found
            and ("jobcode", str(r.get("jobcode_id"))) not in found
        }
        codes = time_off.time_off_codes(session, client, unplaced) if unplaced else {}
        away = [r for r in rows if str(r.get("jobcode_id")) in codes]
        field_ids = custom_fields.field_ids(conn_id)
        by_field = {fid: key for key, fid in field_ids.items()}
        by_name = {fid: name for name, fid in custom_fields.named_fields(conn_id).items()}
        changes: list[Change] = []
        for raw in rows:
            tid = str(raw["id"])
            if str(raw.get("jobcode_id")) in codes:
                held.pop(tid, None)  # time off (below)
                continue
            user = found.get(("user", str(raw.get("user_id"))))
            place = found.get(("jobcode", str(raw.get("jobcode_id"))))
            if user is None or place is None:
                what = "user" if user is None else "jobcode"
                held[tid] = (
                    f"the QuickBooks Time {what} "
                    f"{raw.get('user_id') if user is None else raw.get('jobcode_id')} is not "
                    "linked to a booksync record yet; the time lands when it is"
                )
                continue
            held.pop(tid, None)
            hub: dict[str, Any] = {"user_id": links.hub_id_of(user)}
            if links.kind_of(place) == "work_item":
                work = works.get(f"work_item#{links.hub_id_of(place)}")
                hub["work_item_id"] = links.hub_id_of(place)
                hub["contact_id"] = str(work.data.get("contact_id")) if work is not None else None
            else:
                hub["contact_id"] = links.hub_id_of(place)
            for fid, value in (raw.get("customfields") or {}).items():
                if str(fid) in by_field and value:
                    hub[by_field[str(fid)]] = str(value)
                elif str(fid) in by_name and value:
                    hub.setdefault("custom_fields", {})[by_name[str(fid)]] = str(value)
            modified = str(raw.get("last_modified") or "")
            changes.append(
                Change(
                    object_type="timesheet",
                    provider_id=tid,
                    provider_version=modified or None,
                    raw={**raw, "_hub": hub},
                    changed_at=stamp(modified) if modified else datetime.now(UTC),
                )
            )
        cursors.save(Cursor(conn_id, HELD_FAMILY, position=json.dumps(held, sort_keys=True)))
        users = {uid: link for (ot, uid), link in found.items() if ot == "user"}
        return changes + time_off.changes_of(session, client, away, users, codes)


def _newest(rows: list[dict[str, Any]]) -> str | None:
    stamps = [str(r["last_modified"]) for r in rows if r.get("last_modified")]
    return max(stamps, key=stamp) if stamps else None


def held_time(connection_id: str) -> dict[str, str]:
    """QBT timesheet id -> why it is held (its user or jobcode not linked yet)."""
    row = cursors.get(connection_id, HELD_FAMILY)
    return dict(json.loads(row.position)) if row is not None and row.position else {}


TIMESHEETS = Timesheets()
