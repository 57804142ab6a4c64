"""Time entries through the practice API and the real workers, against the QBO and QBT
simulators: the hub's rules, QuickBooks Time both ways, and time sent once to QuickBooks
Online (issue 12). Each test is a new firm connected to fresh QBO and QBT companies."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from booksync.engine.messages import Pull
from booksync.store import SyncErrorRow, links
from booksync.store.tenants import create_api_key, create_tenant
from local.pollers import sqs_event
from tests.conftest import Outbox, _stack_env, lambda_context, load_event, load_handler
from tests.integration.oauth_dance import Dance
from tests.integration.test_api import call

TODAY = date.today()
MONDAY = TODAY - timedelta(days=TODAY.weekday() + 7)  # last week's Monday
PUSH_QUEUES = {"qbo": "QboPushQueue", "qbt": "QbtPushQueue"}


@pytest.fixture(scope="module")
def stack_env(sims):
    # (QBO's 10 requests a second would slow these tests, not test them: bench/ does)
    limits = f"{sims['qbo'].url}/_sim/ratelimits"
    with pytest.MonkeyPatch.context() as mp:
        for handle in sims.values():
            requests.post(f"{handle.url}/_sim/reset", timeout=10).raise_for_status()
        requests.put(limits, json={"enabled": False}, timeout=10).raise_for_status()
        try:
            yield from _stack_env(mp, {name: h.url for name, h in sims.items()})
        finally:
            requests.put(limits, json={"enabled": True, "reset": True}, timeout=10)


@pytest.fixture(scope="module")
def handlers(stack_env):
    with pytest.MonkeyPatch.context() as mp:
        yield {
            name: load_handler(name, mp).lambda_handler
            for name in ("api", "oauth", "qbo_push", "qbt_push", "qbt_pull")
        }


class Firm:
    """A tenant with QBO and QBT connected (fresh, empty companies), driven as the
    deployed stack would be: API calls, the outbox's stream, the push and pull workers."""

    push_queues = PUSH_QUEUES

    def __init__(
        self,
        stack_env,
        handlers,
        sims,
        connect=("qbo", "qbt"),
        qbt_settings=None,
        country="US",
        seeds=None,
        connect_query=None,
    ):
        self.stack = stack_env
        self.h = handlers
        self.sims = {p: sims[p].url for p in ("qbo", "qbt", "xero")}
        tenant = create_tenant("Harbour Accounting")
        self.tenant_id = tenant.tenant_id
        self.key = create_api_key(self.tenant_id).key
        self.outbox = Outbox(stack_env)
        self.company: dict[str, str] = {}
        for provider in connect:
            sim = self.sims[provider]
            requests.delete(f"{sim}/_sim/faults", timeout=10)
            reply = requests.post(
                f"{sim}/_sim/companies",
                json={"name": f"{provider} books", "seed": (seeds or {}).get(provider, "empty")}
                | ({"country": country} if provider == "qbo" else {}),
                timeout=10,
            )
            reply.raise_for_status()
            self.company[provider] = str(reply.json()["id"])
            status, page = Dance(handlers["oauth"], self.key).connect(
                provider,
                sim_company=self.company[provider],
                **(connect_query or {}).get(provider, {}),
            )
            assert status == 200, page
        if qbt_settings:
            self.api("PUT", "/v1/connections/qbt/settings", qbt_settings, ok=200)

    # -- the practice API

    def api(self, method, path, body=None, query="", ok=None, key=None):
        status, answer, headers = call(self.h["api"], method, path, key or self.key, body, query)
        if ok is not None:
            assert status == ok, answer
        return (answer, headers) if ok is not None else (status, answer)

    def create(self, path, body):
        created, _ = self.api("POST", f"/v1/{path}", body, ok=201)
        return created

    def edit(self, path, record, **changes):
        """PUT with the ETag just read, as a client that reads before it writes."""
        fields = {k: v for k, v in record.items() if k not in READ_ONLY}
        current, _ = self.api("GET", f"/v1/{path}/{record['id']}", ok=200)
        status, answer = self.request(
            "PUT",
            f"/v1/{path}/{record['id']}",
            {**fields, **changes},
            {"If-Match": f'"{current["version"]}"'},
        )
        assert status == 200, answer
        return answer

    def remove(self, path, record_id):
        current, _ = self.api("GET", f"/v1/{path}/{record_id}", ok=200)
        status, answer = self.request(
            "DELETE", f"/v1/{path}/{record_id}", None, {"If-Match": f'"{current["version"]}"'}
        )
        assert status == 204, answer

    def request(self, method, path, body, headers):
        event = load_event("api/health.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["headers"]["authorization"] = f"Bearer {self.key}"
        event["headers"].update({k.lower(): v for k, v in headers.items()})
        if body is not None:
            event["body"] = json.dumps(body)
        answer = self.h["api"](event, lambda_context("api"))
        return answer["statusCode"], json.loads(answer["body"] or "null")

    # -- the stack's machinery

    def run(self, rounds: int = 12) -> None:
        """The outbox's stream and both push queues until nothing is left: a message a
        worker sends back is delivered again at once (its backoff skipped)."""
        sqs = self.stack.client("sqs")
        for _ in range(rounds):
            self.outbox.flush()
            delivered = 0
            for provider, queue in self.push_queues.items():
                url = self.stack.queue_url(queue)
                got = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=60,
                    AttributeNames=["All"],
                ).get("Messages", [])
                if not got:
                    continue
                delivered += len(got)
                answer = self.h[f"{provider}_push"](sqs_event(got, "arn"), lambda_context())
                failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
                for m in got:
                    if m["MessageId"] in failed:
                        sqs.change_message_visibility(
                            QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                        )
                    else:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if not delivered:
                return

    def pull_qbt(self) -> dict[str, Any]:
        """One poll of QuickBooks Time, as the 5-minute schedule queues it."""
        return self.pull("qbt")

    def pull(self, provider: str) -> dict[str, Any]:
        """One pull of the provider, as its schedule or a webhook queues it; then the
        outbox and the pushes it caused."""
        from booksync.store import connections as connection_rows

        conn = connection_rows.get(self.tenant_id, provider)
        message = Pull(
            tenant_id=self.tenant_id,
            connection_id=conn.connection_id,
            provider=provider,
            reason="reconcile",
        )
        event = sqs_event(
            [{"MessageId": "poll", "ReceiptHandle": "poll", "Body": message.model_dump_json()}],
            "arn",
        )
        answer = self.h[f"{provider}_pull"](event, lambda_context())
        assert answer == {"batchItemFailures": []}
        self.run()
        return answer

    # -- the simulators

    def objects(self, provider, kind):
        url = f"{self.sims[provider]}/_sim/companies/{self.company[provider]}/objects/{kind}"
        return requests.get(url, timeout=10).json()["objects"]

    def in_provider(self, provider, kind, fields):
        """A person enters something in the provider's own screens."""
        url = f"{self.sims[provider]}/_sim/companies/{self.company[provider]}/objects/{kind}"
        reply = requests.post(url, json=fields, timeout=10)
        assert reply.ok, reply.text
        return reply.json()

    def edit_in_provider(self, provider, kind, object_id, fields):
        url = (
            f"{self.sims[provider]}/_sim/companies/{self.company[provider]}/objects/{kind}/"
            f"{object_id}"
        )
        requests.patch(url, json=fields, timeout=10).raise_for_status()

    def modes(self, provider, modes):
        url = f"{self.sims[provider]}/_sim/companies/{self.company[provider]}/modes"
        requests.put(url, json=modes, timeout=10).raise_for_status()

    def fault(self, provider, **rule):
        requests.post(
            f"{self.sims[provider]}/_sim/faults", json=rule, timeout=10
        ).raise_for_status()

    def calls(self, provider):
        url = f"{self.sims[provider]}/_sim/calls"
        return [c for c in requests.get(url, timeout=10).json()["calls"]]

    def advance_clock(self, provider, seconds):
        url = f"{self.sims[provider]}/_sim/clock/advance"
        requests.post(url, json={"seconds": seconds}, timeout=10).raise_for_status()

    def forget_calls(self, provider):
        requests.delete(f"{self.sims[provider]}/_sim/calls", timeout=10).raise_for_status()

    def link(self, provider, kind, hub_id):
        found = links.get_link(self.tenant_id, provider, kind, hub_id)
        return found.provider_id if found is not None else None

    def errors(self):
        return {
            (r.record_id, r.code): r
            for r in SyncErrorRow.query(self.tenant_id)
            if r.status == "open"
        }

    # -- a firm's usual set-up

    def staff(self, first="Ann", last="Lee", email="ann@harbour.example"):
        return self.create(
            "users",
            {
                "first_name": first,
                "last_name": last,
                "email": email,
                "task_types": ["Audit", "Tax"],
                "roles": ["Partner", "Senior"],
            },
        )

    def client(self, name="Acme Ltd"):
        return self.create("contacts", {"name": name})

    def entry(self, user, day=None, minutes=90, **fields):
        body = {
            "user_id": user["id"],
            "date": (day or MONDAY).isoformat(),
            "duration_minutes": minutes,
        }
        return self.create("time-entries", {**body, **fields})

    def send(self, ok=202, **body):
        span = {
            "date_from": MONDAY.isoformat(),
            "date_to": (MONDAY + timedelta(days=6)).isoformat(),
        }
        answer, headers = self.api(
            "POST", "/v1/connections/qbo/time-activities/send", {**span, **body}, ok=ok
        )
        return answer, headers

    def follow(self, send_id):
        answer, _ = self.api("GET", f"/v1/connections/qbo/time-activities/sends/{send_id}", ok=200)
        return answer


READ_ONLY = {"id", "version", "origin", "created_at", "updated_at", "qbo"}


def by_id(answer):
    return {item["record_id"]: item for item in answer["items"]}


@pytest.fixture
def firm(stack_env, handlers, sims):
    return Firm(stack_env, handlers, sims)


@pytest.fixture
def qbo_firm(stack_env, handlers, sims):
    return Firm(stack_env, handlers, sims, connect=("qbo",))


# ------------------------------------------------------------------------ the hub's rules


def test_a_time_entry_refuses_an_impossible_span_by_field(firm):
    ann = firm.staff()
    day = MONDAY.isoformat()
    cases = [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"duration_minutes": -30}, "duration_minutes"),
        ({"duration_minutes": 24 * 60 + 1}, "duration_minutes"),
        (
            {
                "start": f"{day}T10:00:00+00:00",
                "end": f"{day}T09:00:00+00:00",
                "duration_minutes": 60,
            },
            "end",
        ),
        ({"start": f"{day}T09:00:00+00:00", "duration_minutes": 60}, "end"),
        (
            {
                "start": f"{day}T09:00:00+00:00",
                "end": f"{day}T10:00:00+00:00",
                "duration_minutes": 90,
            },
            "duration_minutes",
        ),
    ]
    for fields, field in cases:
        body = {"user_id": ann["id"], "date": day, "duration_minutes": 60, **fields}
        status, problem = firm.api("POST", "/v1/time-entries", body)
        assert status == 400, (fields, problem)
        assert field in json.dumps(problem), (fields, problem)


def test_task_type_and_role_come_from_the_users_own_lists(firm):
    ann = firm.staff()
    status, problem = firm.api(
        "POST",
        "/v1/time-entries",
        {
            "user_id": ann["id"],
            "date": MONDAY.isoformat(),
            "duration_minutes": 60,
            "task_type": "Golf",
        },
    )
    assert status == 400
    assert "task_type" in json.dumps(problem)
    assert "Audit, Tax" in problem["detail"]
    entry = firm.entry(ann, task_type="audit", role="Senior")
    assert (entry["task_type"], entry["role"]) == ("Audit", "Senior")  # the list's spelling


def test_money_is_kept_exactly_and_the_entry_has_etag_history_and_filters(firm):
    ann, bob = firm.staff(), firm.staff("Bob", "Ray", "bob@harbour.example")
    acme = firm.client()
    first = firm.entry(ann, contact_id=acme["id"], billable=True, hourly_rate="123.4567")
    assert first["hourly_rate"] == "123.4567"
    firm.entry(bob, day=MONDAY + timedelta(days=2))
    firm.entry(ann, day=MONDAY - timedelta(days=30))
    # If-Match is required and checked, and history keeps what changed
    stale = {k: v for k, v in first.items() if k not in READ_ONLY}
    status, _, _ = call(firm.h["api"], "PUT", f"/v1/time-entries/{first['id']}", firm.key, stale)
    assert status == 428
    changed = firm.edit("time-entries", first, notes="Year end")
    assert changed["version"] == 2
    history, _ = firm.api("GET", f"/v1/time-entries/{first['id']}/history", ok=200)
    assert history["items"][-1]["previous"] == {"notes": ""}

    # filters: user, contact, date range, QBO status
    def listed(query):
        page, _ = firm.api("GET", "/v1/time-entries", query=query, ok=200)
        return sorted(i["id"] for i in page["items"])

    week = f"date_from={MONDAY.isoformat()}&date_to={(MONDAY + timedelta(days=6)).isoformat()}"
    assert len(listed(week)) == 2
    assert listed(f"user_id={ann['id']}&{week}") == [first["id"]]
    assert listed(f"contact_id={acme['id']}") == [first["id"]]
    assert len(listed("qbo=unsent")) == 3
    assert listed("qbo=sent") == []


def test_contact_level_time_is_refused_once_the_contact_has_time_on_its_work_items(
    stack_env, handlers, sims
):
    firm = Firm(stack_env, handlers, sims, connect=("qbt",), qbt_settings=QBT_WORK)
    ann = firm.staff()
    acme = firm.client()
    audit = firm.create("work-items", {"contact_id": acme["id"], "name": "Audit 2026"})
    firm.entry(ann, work_item_id=audit["id"])
    status, problem = firm.api(
        "POST",
        "/v1/time-entries",
        {
            "user_id": ann["id"],
            "contact_id": acme["id"],
            "date": MONDAY.isoformat(),
            "duration_minutes": 30,
        },
    )
    assert status == 409
    assert "Audit 2026" in problem["detail"]
    assert audit["id"] in problem["detail"]
    # contact and work totals stay apart: the work item's entry still names the contact
    page, _ = firm.api("GET", "/v1/time-entries", query=f"contact_id={acme['id']}", ok=200)
    assert [i["work_item_id"] for i in page["items"]] == [audit["id"]]


QBT_WORK = {"sync_enabled": True, "sync": "contacts_and_work_items", "sync_time": True}


# ------------------------------------------------------------------ QuickBooks Time


def qbt_ready(firm):
    """Ann and Acme in QBT with their links, and the task type and role fields."""
    ann = firm.staff()
    acme = firm.client()
    firm.api("POST", "/v1/connections/qbt/sync", ok=200)
    firm.run()
    assert firm.link("qbt", "user", ann["id"])
    assert firm.link("qbt", "contact", acme["id"])
    return ann, acme


def test_time_entered_in_the_hub_reaches_qbt_at_once_with_task_type_and_role(firm):
    ann, acme = qbt_ready(firm)
    entry = firm.entry(
        ann, contact_id=acme["id"], minutes=95, notes="VAT", task_type="Tax", role="Partner"
    )
    firm.run()
    tid = firm.link("qbt", "time_entry", entry["id"])
    (sheet,) = [t for t in firm.objects("qbt", "timesheets") if str(t["id"]) == tid]
    assert sheet["type"] == "manual"
    assert abs(sheet["duration"] - 95 * 60) <= 36  # QBT keeps hours to 2 decimals
    assert sheet["jobcode_id"] == int(firm.link("qbt", "contact", acme["id"]))
    assert sheet["user_id"] == int(firm.link("qbt", "user", ann["id"]))
    fields = {f["name"]: str(f["id"]) for f in firm.objects("qbt", "customfields")}
    assert sheet["customfields"] == {fields["Task type"]: "Tax", fields["Role"]: "Partner"}
    # an edit and a delete follow
    firm.edit("time-entries", entry, duration_minutes=120)
    firm.run()
    (sheet,) = [t for t in firm.objects("qbt", "timesheets") if str(t["id"]) == tid]
    assert sheet["duration"] == 120 * 60
    status, _, _ = call(
        firm.h["api"], "DELETE", f"/v1/time-entries/{entry['id']}", firm.key, None, ""
    )
    assert status == 428  # If-Match needed
    firm.remove("time-entries", entry["id"])
    firm.run()
    assert [t for t in firm.objects("qbt", "timesheets") if str(t["id"]) == tid] == []


def test_a_user_who_joins_after_save_and_sync_logs_time_with_her_own_task_type(firm):
    _ann, acme = qbt_ready(firm)
    bea = firm.create(
        "users",
        {
            "first_name": "Bea",
            "last_name": "Moss",
            "email": "bea@harbour.example",
            "task_types": ["Payroll"],
            "roles": ["Manager"],
        },
    )
    firm.run()  # she reaches QBT, and her task type and role become the fields' values
    entry = firm.entry(bea, contact_id=acme["id"], task_type="Payroll", role="Manager")
    firm.run()
    tid = firm.link("qbt", "time_entry", entry["id"])
    (sheet,) = [t for t in firm.objects("qbt", "timesheets") if str(t["id"]) == tid]
    fields = {f["name"]: str(f["id"]) for f in firm.objects("qbt", "customfields")}
    assert sheet["customfields"] == {fields["Task type"]: "Payroll", fields["Role"]: "Manager"}
    assert firm.errors() == {}


def test_time_without_a_client_or_job_is_a_sync_error_for_qbt_not_a_retry(firm):
    ann, acme = qbt_ready(firm)
    entry = firm.entry(ann, notes="internal training")
    firm.run()
    errors = firm.errors()  # the open ones
    assert list(errors) == [(entry["id"], "qbt.time_without_job")]
    error = errors[(entry["id"], "qbt.time_without_job")]
    assert error.provider == "qbt"
    assert "client or a job" in error.fix
    # given a client, it goes, and the error is resolved
    firm.edit("time-entries", entry, contact_id=acme["id"])
    firm.run()
    assert firm.link("qbt", "time_entry", entry["id"])
    assert firm.errors() == {}


def test_regular_time_goes_with_its_start_and_end(firm):
    ann, acme = qbt_ready(firm)
    day = MONDAY.isoformat()
    entry = firm.entry(
        ann,
        contact_id=acme["id"],
        minutes=90,
        start=f"{day}T09:00:00+00:00",
        end=f"{day}T10:30:00+00:00",
    )
    firm.run()
    tid = firm.link("qbt", "time_entry", entry["id"])
    (sheet,) = [t for t in firm.objects("qbt", "timesheets") if str(t["id"]) == tid]
    assert sheet["type"] == "regular"
    assert sheet["duration"] == 90 * 60


def test_time_entered_in_qbt_lands_on_the_linked_contact_within_one_poll(firm):
    ann, acme = qbt_ready(firm)
    firm.pull_qbt()  # the first poll reads what is there
    jobcode = int(firm.link("qbt", "contact", acme["id"]))
    user = int(firm.link("qbt", "user", ann["id"]))
    fields = {f["name"]: str(f["id"]) for f in firm.objects("qbt", "customfields")}
    firm.in_provider(
        "qbt",
        "timesheets",
        {
            "user_id": user,
            "jobcode_id": jobcode,
            "type": "manual",
            "date": MONDAY.isoformat(),
            "duration": 45 * 60,
            "notes": "Phone call",
            "customfields": {fields["Task type"]: "Audit"},
        },
    )
    firm.pull_qbt()
    page, _ = firm.api("GET", "/v1/time-entries", query=f"user_id={ann['id']}", ok=200)
    (entry,) = page["items"]
    assert (entry["contact_id"], entry["duration_minutes"], entry["notes"]) == (
        acme["id"],
        45,
        "Phone call",
    )
    assert (entry["task_type"], entry["origin"]) == ("Audit", "qbt")
    # our own echo is not a change: pushing it back sends nothing
    firm.forget_calls("qbt")
    firm.pull_qbt()
    writes = [c for c in firm.calls("qbt") if c["method"] != "GET"]
    assert writes == []


def test_time_for_an_unlinked_jobcode_is_held_with_a_reason_and_lands_when_linked(firm):
    ann, _acme = qbt_ready(firm)
    firm.pull_qbt()
    user = int(firm.link("qbt", "user", ann["id"]))
    stranger = firm.in_provider("qbt", "jobcodes", {"name": "Beta Ltd", "type": "regular"})
    sheet = firm.in_provider(
        "qbt",
        "timesheets",
        {
            "user_id": user,
            "jobcode_id": stranger["id"],
            "type": "manual",
            "date": MONDAY.isoformat(),
            "duration": 1800,
        },
    )
    firm.pull_qbt()
    held, _ = firm.api("GET", "/v1/connections/qbt/held-time", ok=200)
    assert [h["timesheet_id"] for h in held["items"]] == [str(sheet["id"])]
    assert "jobcode" in held["items"][0]["reason"]
    page, _ = firm.api("GET", "/v1/time-entries", query=f"user_id={ann['id']}", ok=200)
    assert page["items"] == []
    # the firm adds Beta Ltd, which links that jobcode; the next poll brings the time
    beta = firm.client("Beta Ltd")
    firm.run()
    assert firm.link("qbt", "contact", beta["id"]) == str(stranger["id"])
    firm.pull_qbt()
    page, _ = firm.api("GET", "/v1/time-entries", query=f"contact_id={beta['id']}", ok=200)
    assert [i["duration_minutes"] for i in page["items"]] == [30]
    held, _ = firm.api("GET", "/v1/connections/qbt/held-time", ok=200)
    assert held["items"] == []


def test_a_time_deleted_in_qbt_is_deleted_in_the_hub(firm):
    ann, acme = qbt_ready(firm)
    entry = firm.entry(ann, contact_id=acme["id"])
    firm.run()
    firm.pull_qbt()
    tid = firm.link("qbt", "time_entry", entry["id"])
    url = f"{firm.sims['qbt']}/_sim/companies/{firm.company['qbt']}/objects/timesheets/{tid}"
    requests.delete(url, timeout=10).raise_for_status()
    firm.pull_qbt()
    status, _ = firm.api("GET", f"/v1/time-entries/{entry['id']}")
    assert status == 404


def test_a_lost_reply_linked_by_a_poll_meanwhile_makes_no_second_timesheet(firm):
    """The retry of a create whose reply was lost read its links before a poll met the
    timesheet and linked it to the entry: the retry's look-up takes it as the entry's
    own (brought up to date) instead of writing a second one."""
    from booksync.boot import boot
    from booksync.engine.seam import PushItem
    from booksync.hub.kinds.time_entries import TimeEntry
    from booksync.providers.qbt.timesheets import TIMESHEETS
    from booksync.settings import get_settings
    from booksync.store import connections as connection_rows
    from booksync.store import records as record_rows

    ann, acme = qbt_ready(firm)
    firm.fault("qbt", action="drop_after_commit", method="POST", path="/timesheets$", count=1)
    entry = firm.entry(ann, contact_id=acme["id"], minutes=75, notes="lost reply")
    firm.run(rounds=1)  # the create went; its reply did not come back
    (made,) = [t for t in firm.objects("qbt", "timesheets") if t["notes"] == "lost reply"]
    assert firm.link("qbt", "time_entry", entry["id"]) is None
    # the poll links it to the entry ...
    links.save_link(
        firm.tenant_id, "qbt", "time_entry", entry["id"], "timesheet", str(made["id"]),
        provider_version=None, content_hash=None, synced_version=1,
    )  # fmt: skip
    # ... after the retry read the entry's links (none): the retry as it then goes on
    record = record_rows.get_many(firm.tenant_id, [("time_entry", entry["id"])])
    (stored,) = record.values()
    item = PushItem(
        stored,
        TimeEntry.model_validate(stored.data),
        None,
        "key",
        sent_before=(
            TIMESHEETS.intent(PushItem(stored, TimeEntry.model_validate(stored.data), None, "k")),
        ),
    )
    session = boot(get_settings()).session(connection_rows.get(firm.tenant_id, "qbt"))
    (result,) = TIMESHEETS.push(session, [item])
    assert not isinstance(result, Exception), result
    assert result.provider_id == str(made["id"])
    assert [t["id"] for t in firm.objects("qbt", "timesheets") if t["notes"] == "lost reply"] == [
        made["id"]
    ]


def test_a_dropped_batch_of_timesheets_over_several_days_is_found_with_one_read(firm):
    ann, acme = qbt_ready(firm)
    bob = firm.staff("Bob", "Hart", "bob@harbour.example")
    firm.api("POST", "/v1/connections/qbt/sync", ok=200)
    firm.run()
    firm.fault("qbt", action="drop_after_commit", method="POST", path="/timesheets$", count=1)
    entries = [
        firm.entry(
            who,
            MONDAY + timedelta(days=n),
            contact_id=acme["id"],
            minutes=30 + n,
            notes=f"batch {n}",
        )
        for n, who in enumerate((ann, bob, ann, bob))
    ]
    firm.forget_calls("qbt")
    firm.run()
    # the four went in one write whose reply was lost; the retry read once for all four
    # days (what QBT stamped since the first try), not once a day
    mine = [c for c in firm.calls("qbt") if c["company"] in (None, firm.company["qbt"])]
    reads = [c for c in mine if c["method"] == "GET" and c["endpoint"].endswith("/timesheets")]
    assert len(reads) == 1
    sheets = [t for t in firm.objects("qbt", "timesheets") if t["notes"].startswith("batch")]
    assert sorted(t["notes"] for t in sheets) == [f"batch {n}" for n in range(4)]
    assert {firm.link("qbt", "time_entry", e["id"]) for e in entries} == {
        str(t["id"]) for t in sheets
    }


def test_an_idle_qbt_poll_costs_one_call(firm):
    ann, acme = qbt_ready(firm)
    firm.entry(ann, contact_id=acme["id"])
    firm.run()
    firm.pull_qbt()
    # QBT stamps whole seconds: a poll answered in the newest change's own second reads
    # that endpoint once more on the next poll; one a second later is settled
    firm.advance_clock("qbt", 2)
    firm.pull_qbt()
    firm.forget_calls("qbt")
    firm.pull_qbt()
    mine = [c for c in firm.calls("qbt") if c["company"] in (None, firm.company["qbt"])]
    assert [c["endpoint"] for c in mine] == ["/api/v1/last_modified_timestamps"]


def test_qbt_refusals_are_sync_errors_with_their_words_and_a_fix(stack_env, handlers, sims):
    firm = Firm(stack_env, handlers, sims, connect=("qbt",), qbt_settings=QBT_WORK)
    ann, acme = qbt_ready(firm)
    audit = firm.create("work-items", {"contact_id": acme["id"], "name": "Audit 2026"})
    firm.run()
    # time on a client whose jobs exist in QBT: the client is a folder there
    on_client = firm.entry(ann, contact_id=acme["id"])
    # a locked timesheet refuses an edit
    locked = firm.entry(ann, work_item_id=audit["id"])
    firm.run()
    tid = firm.link("qbt", "time_entry", locked["id"])
    firm.edit_in_provider("qbt", "timesheets", tid, {"locked": 1})
    firm.edit("time-entries", locked, notes="changed after approval")
    firm.run()
    errors = firm.errors()
    assert (on_client["id"], "qbt.jobcode_has_children") in errors
    row = errors[(locked["id"], "qbt.timesheet_locked")]
    assert "locked" in row.provider_message
    assert "Unlock" in row.fix


# ------------------------------------------------------------- QuickBooks Online, sent once


def qbo_ready(firm, staff=1):
    """Users matched to QBO employees and Acme a QBO customer."""
    people = [firm.staff()] + [
        firm.staff(f"Staff{i}", "Member", f"staff{i}@harbour.example") for i in range(1, staff)
    ]
    acme = firm.client()
    firm.run()
    assert all(firm.link("qbo", "user", u["id"]) for u in people)
    assert firm.link("qbo", "contact", acme["id"])
    return people, acme


def activities(firm):
    return firm.objects("qbo", "TimeActivity")


def test_a_week_of_approved_time_is_sent_once_and_a_second_send_sends_nothing(qbo_firm):
    firm = qbo_firm
    (ann,), acme = qbo_ready(firm)
    week = [
        firm.entry(
            ann,
            day=MONDAY + timedelta(days=d),
            minutes=60 + d,
            contact_id=acme["id"],
            approved=True,
            billable=True,
            hourly_rate="150.00",
            notes=f"day {d}",
        )
        for d in range(5)
    ]
    draft = firm.entry(ann, day=MONDAY, minutes=30, contact_id=acme["id"])  # not approved
    # a dry run says what would go, and why the rest would not, and sends nothing
    plan, _ = firm.send(ok=200, dry_run=True)
    items = by_id(plan)
    assert {items[e["id"]]["status"] for e in week} == {"would_send"}
    assert items[draft["id"]]["status"] == "not_sent"
    assert items[draft["id"]]["code"] == "time.not_approved"
    assert activities(firm) == []
    # the send queues them; once the worker ran, each is sent with its TimeActivity id
    answer, headers = firm.send()
    assert headers["Location"].endswith(answer["id"])
    assert answer["counts"] == {"queued": 5, "not_sent": 1}
    firm.run()
    followed = firm.follow(answer["id"])
    assert followed["done"] is True
    sent = by_id(followed)
    made = {str(a["Id"]): a for a in activities(firm)}
    assert sorted(sent[e["id"]]["provider_id"] for e in week) == sorted(made)
    monday = made[sent[week[0]["id"]]["provider_id"]]
    assert (monday["Hours"], monday["Minutes"], monday["Description"]) == (1, 0, "day 0")
    assert monday["BillableStatus"] == "Billable"
    assert float(monday["HourlyRate"]) == 150.0
    assert monday["CustomerRef"]["value"] == firm.link("qbo", "contact", acme["id"])
    assert monday["EmployeeRef"]["value"] == firm.link("qbo", "user", ann["id"])
    # the entries say so, and the list filters by it
    page, _ = firm.api("GET", "/v1/time-entries", query="qbo=sent", ok=200)
    assert sorted(i["id"] for i in page["items"]) == sorted(e["id"] for e in week)
    assert {i["qbo"]["status"] for i in page["items"]} == {"sent"}
    # a second send sends nothing
    again, _ = firm.send()
    assert again["counts"] == {"sent": 5, "not_sent": 1}
    firm.run()
    assert len(activities(firm)) == 5


def test_each_rule_of_the_time_tracker_is_a_reason_not_to_send(qbo_firm):
    firm = qbo_firm
    (ann,), acme = qbo_ready(firm)
    nobody = firm.staff("Nat", "Nomatch", "nat@harbour.example")
    # (Nat has no QBO employee: QBO's link is removed as if matching had failed)
    links.remove_link(firm.tenant_id, "qbo", "user", nobody["id"])
    beta = firm.create("contacts", {"name": "Beta Ltd", "contact_type": "Prospect"})  # not sent
    cases = {
        "qbo.time_too_long": firm.entry(ann, minutes=24 * 60, contact_id=acme["id"], approved=True),
        "qbo.billable_without_customer": firm.entry(ann, billable=True, approved=True),
        "qbo.employee_not_matched": firm.entry(nobody, contact_id=acme["id"], approved=True),
        "qbo.customer_not_in_qbo": firm.entry(ann, contact_id=beta["id"], approved=True),
        "time.not_approved": firm.entry(ann, contact_id=acme["id"]),
    }
    fine = firm.entry(ann, minutes=23 * 60 + 55, contact_id=acme["id"], approved=True)
    plan, _ = firm.send(ok=200, dry_run=True)
    items = by_id(plan)
    for code, entry in cases.items():
        assert items[entry["id"]]["code"] == code, (code, items[entry["id"]])
        assert items[entry["id"]]["status"] == "not_sent"
        assert items[entry["id"]]["reason"]
        assert items[entry["id"]]["what_to_do"]
    assert items[fine["id"]]["status"] == "would_send"
    assert "create missing customers" in items[cases["qbo.customer_not_in_qbo"]["id"]]["what_to_do"]


def test_a_date_in_a_closed_period_is_not_sent_and_says_the_closing_date(qbo_firm):
    firm = qbo_firm
    (ann,), acme = qbo_ready(firm)
    closed = MONDAY + timedelta(days=1)
    prefs = firm.objects("qbo", "Preferences")[0]
    firm.edit_in_provider(
        "qbo",
        "Preferences",
        prefs["Id"],
        {
            "AccountingInfoPrefs": {
                **prefs.get("AccountingInfoPrefs", {}),
                "BookCloseDate": closed.isoformat(),
            }
        },
    )
    early = firm.entry(ann, day=MONDAY, contact_id=acme["id"], approved=True)
    late = firm.entry(ann, day=MONDAY + timedelta(days=2), contact_id=acme["id"], approved=True)
    answer, _ = firm.send()
    items = by_id(answer)
    assert items[early["id"]]["code"] == "qbo.period_closed"
    assert closed.isoformat() in items[early["id"]]["provider_message"]
    assert items[late["id"]]["status"] == "queued"


def test_what_qbo_refuses_at_the_write_is_a_failed_entry_with_its_words(qbo_firm):
    firm = qbo_firm
    (ann, bob), acme = qbo_ready(firm, staff=2)
    firm.modes("qbo", {"payroll_time": "refuse"})
    refused = firm.entry(ann, contact_id=acme["id"], approved=True)
    answer, _ = firm.send()
    firm.run()
    item = by_id(firm.follow(answer["id"]))[refused["id"]]
    assert (item["status"], item["code"]) == ("failed", "qbo.payroll_refused")
    assert "Payroll" in item["provider_message"]
    assert item["what_to_do"]
    # an inactive employee: QBO's own 610, explained
    firm.modes("qbo", {"payroll_time": "accept"})
    employee = firm.link("qbo", "user", bob["id"])
    firm.edit_in_provider("qbo", "Employee", employee, {"Active": False})
    inactive = firm.entry(bob, day=MONDAY + timedelta(days=1), contact_id=acme["id"], approved=True)
    answer, _ = firm.send(user_ids=[bob["id"]])
    firm.run()
    item = by_id(firm.follow(answer["id"]))[inactive["id"]]
    assert (item["status"], item["code"]) == ("failed", "qbo.object_not_found")
    assert "inactive" in item["provider_message"]
    assert [a["EmployeeRef"]["value"] for a in activities(firm)] == []


def test_only_an_admin_key_sends_time(qbo_firm):
    firm = qbo_firm
    member = create_api_key(firm.tenant_id, "write").key
    span = {"date_from": MONDAY.isoformat(), "date_to": MONDAY.isoformat()}
    status, problem, _ = call(
        firm.h["api"], "POST", "/v1/connections/qbo/time-activities/send", member, span
    )
    assert status == 403
    assert "admin" in problem["detail"]


def test_a_lost_reply_never_makes_a_second_time_activity(qbo_firm):
    firm = qbo_firm
    (ann,), acme = qbo_ready(firm)
    one = firm.entry(ann, contact_id=acme["id"], approved=True, notes="single")
    firm.fault("qbo", action="drop_after_commit", method="POST", path="/timeactivity", count=1)
    answer, _ = firm.send()
    firm.run()
    assert len(activities(firm)) == 1
    assert by_id(firm.follow(answer["id"]))[one["id"]]["status"] == "sent"
    # and in a batch: every reply lost once
    many = [
        firm.entry(
            ann, day=MONDAY + timedelta(days=d), contact_id=acme["id"], approved=True, notes=f"b{d}"
        )
        for d in range(1, 4)
    ]
    firm.fault("qbo", action="drop_after_commit", method="POST", path="/batch", count=1)
    answer, _ = firm.send()
    firm.run()
    assert len(activities(firm)) == 4
    assert {by_id(firm.follow(answer["id"]))[e["id"]]["status"] for e in many} == {"sent"}


def test_an_entry_edited_after_sending_is_not_sent_again_unless_the_firm_says_so(qbo_firm):
    firm = qbo_firm
    (ann,), acme = qbo_ready(firm)
    entry = firm.entry(ann, contact_id=acme["id"], approved=True, minutes=60)
    firm.send()
    firm.run()
    (activity,) = activities(firm)
    firm.edit("time-entries", entry, duration_minutes=75)
    firm.run()
    shown, _ = firm.api("GET", f"/v1/time-entries/{entry['id']}", ok=200)
    assert shown["qbo"] == {"status": "edited_after_send", "time_activity_id": str(activity["Id"])}
    answer, _ = firm.send()
    assert by_id(answer)[entry["id"]]["status"] == "edited_after_send"
    firm.run()
    assert activities(firm) == [activity]
    # with update_sent_time_activities the edit updates it (its SyncToken), a delete deletes it
    settings, _ = firm.api("GET", "/v1/connections/qbo/settings", ok=200)
    firm.api(
        "PUT",
        "/v1/connections/qbo/settings",
        {**settings, "update_sent_time_activities": True},
        ok=200,
    )
    firm.edit("time-entries", shown, notes="reviewed")
    firm.run()
    (updated,) = activities(firm)
    assert (updated["Id"], updated["Hours"], updated["Minutes"]) == (activity["Id"], 1, 15)
    assert updated["Description"] == "reviewed"
    assert updated["SyncToken"] != activity["SyncToken"]
    firm.remove("time-entries", entry["id"])
    firm.run()
    assert activities(firm) == []


def test_durations_are_rounded_as_the_firm_sets(qbo_firm):
    firm = qbo_firm
    (ann,), acme = qbo_ready(firm)
    settings, _ = firm.api("GET", "/v1/connections/qbo/settings", ok=200)
    firm.api(
        "PUT",
        "/v1/connections/qbo/settings",
        {**settings, "time_rounding": "up", "time_rounding_minutes": 15},
        ok=200,
    )
    firm.entry(ann, contact_id=acme["id"], approved=True, minutes=61)
    firm.send()
    firm.run()
    (activity,) = activities(firm)
    assert (activity["Hours"], activity["Minutes"]) == (1, 15)


def test_a_missing_customer_is_sent_first_when_the_firm_says_so(qbo_firm):
    firm = qbo_firm
    (ann,), _ = qbo_ready(firm)
    settings, _ = firm.api("GET", "/v1/connections/qbo/settings", ok=200)
    firm.api(
        "PUT",
        "/v1/connections/qbo/settings",
        {**settings, "create_missing_customers": True},
        ok=200,
    )
    prospect = firm.create("contacts", {"name": "Gamma Ltd", "contact_type": "Prospect"})
    entry = firm.entry(ann, contact_id=prospect["id"], approved=True)
    answer, _ = firm.send()
    assert by_id(answer)[entry["id"]]["status"] == "queued"
    firm.run()
    customer = firm.link("qbo", "contact", prospect["id"])
    (activity,) = activities(firm)
    assert activity["CustomerRef"]["value"] == customer
    assert by_id(firm.follow(answer["id"]))[entry["id"]]["status"] == "sent"
