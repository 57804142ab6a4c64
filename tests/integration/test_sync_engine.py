"""The engine's generic push and pull through a real worker handler, with a stand-in
family and source: batching, idempotency, per-record failures, retries that hold back
only what failed, echo suppression, conflicts, the outbox."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from booksync.engine.messages import Pull, PushRecord, push_messages
from booksync.engine.seam import Change, Family, Page, Pushed
from booksync.errors import SyncFailure
from booksync.hub.content import content_hash
from booksync.providers import registry
from booksync.providers.qbo.customers import Customers
from booksync.store import Connection, Cursor, Record, SyncErrorRow
from booksync.store.links import get_link, save_link
from local.pollers import sqs_event
from tests.conftest import lambda_context


class FakePush(Family):
    provider = "qbo"
    kind = "contact"
    object_type = "Customer"
    max_batch = 30
    managed_fields = Customers.managed_fields

    def from_provider(self, raw):
        return raw  # the stand-in source hands hub-shaped content

    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def push(self, session, items):
        self.calls.append([i.record.record_id for i in items])
        session.writes_out += 1  # its batch left booksync (a failure in it may be a lost reply)
        out = []
        for item in items:
            if item.record.record_id in self.fail:
                out.append(self.fail[item.record.record_id])
            else:
                pid = item.link.provider_id if item.link else f"p-{item.record.record_id}"
                out.append(
                    Pushed(item.record.record_id, pid, "0", content_hash(item.content.model_dump()))
                )
        return out


@pytest.fixture
def conn(stack_env):
    c = Connection("t1", "qbo", connection_id="c1", status="active", company_id="1", settings={})
    c.save()
    return c


def _record(rid, name, version=1):
    r = Record(
        "t1",
        Record.key("contact", rid),
        kind="contact",
        record_id=rid,
        version=version,
        data={"name": name, "contact_type": "Client"},
    )
    r.save()
    return r


def _event(messages):
    records = []
    for i, m in enumerate(messages):
        records.append(
            {
                "MessageId": f"m{i}",
                "ReceiptHandle": f"r{i}",
                "Body": m.model_dump_json(),
                "Attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": m.connection_id},
            }
        )
    return sqs_event(records, "arn:aws:sqs:us-east-1:123456789012:q.fifo")


def _push(rid, version=1):
    return PushRecord(
        tenant_id="t1",
        connection_id="c1",
        provider="qbo",
        kind="contact",
        record_id=rid,
        version=version,
    )


@pytest.fixture
def fake(monkeypatch):
    family = FakePush()
    monkeypatch.setattr(registry, "pushed", lambda p, k: family if k == "contact" else None)
    return family


def test_a_batch_of_pushes_is_one_provider_call_and_links_every_record(conn, handler, fake):
    for i in range(10):
        _record(f"h{i}", f"Client {i}")
    answer = handler("qbo_push")(_event([_push(f"h{i}") for i in range(10)]), lambda_context())
    assert answer == {"batchItemFailures": []}
    assert len(fake.calls) == 1
    assert len(fake.calls[0]) == 10
    assert get_link("t1", "qbo", "contact", "h3").provider_id == "p-h3"


def test_a_repeated_delivery_sends_nothing_twice(conn, handler, fake):
    _record("h1", "Once Ltd")
    fn = handler("qbo_push")
    fn(_event([_push("h1")]), lambda_context())
    fn(_event([_push("h1")]), lambda_context())
    assert fake.calls == [["h1"]]


def test_two_versions_of_a_record_in_one_batch_are_sent_once_at_the_latest(conn, handler, fake):
    _record("h1", "Renamed Ltd", version=2)
    handler("qbo_push")(_event([_push("h1", 1), _push("h1", 2)]), lambda_context())
    assert fake.calls == [["h1"]]
    assert get_link("t1", "qbo", "contact", "h1").synced_version == 2


def test_one_record_a_person_must_fix_does_not_hold_back_the_others(conn, handler, fake):
    fake.fail = {"h1": SyncFailure("qbo.duplicate_name", "Another customer is using 'Acme'")}
    _record("h1", "Acme")
    _record("h2", "Bravo")
    answer = handler("qbo_push")(_event([_push("h1"), _push("h2")]), lambda_context())
    assert answer == {"batchItemFailures": []}
    (row,) = list(SyncErrorRow.scan())
    assert row.code == "qbo.duplicate_name"
    assert row.record_id == "h1"
    assert get_link("t1", "qbo", "contact", "h2") is not None
    assert get_link("t1", "qbo", "contact", "h1") is None


def test_an_error_is_resolved_when_the_fixed_record_reaches_the_provider(conn, handler, fake):
    # Given a record that failed with an error a person must fix, and one of another record
    fake.fail = {
        "h1": SyncFailure("qbo.duplicate_name", "Another customer is using 'Acme'"),
        "h2": SyncFailure("qbo.duplicate_name", "Another customer is using 'Bravo'"),
    }
    _record("h1", "Acme")
    _record("h2", "Bravo")
    fn = handler("qbo_push")
    fn(_event([_push("h1"), _push("h2")]), lambda_context())
    # When the person renames h1 and the new version goes out (h2 still clashes)
    fake.fail = {"h2": fake.fail["h2"]}
    _record("h1", "Acme Marine", version=2)
    fn(_event([_push("h1", 2), _push("h2")]), lambda_context())
    # Then h1's error is resolved and h2's stays open with its attempts counted
    rows = {row.record_id: row for row in SyncErrorRow.scan()}
    assert rows["h1"].status == "resolved"
    assert (rows["h2"].status, rows["h2"].attempts) == ("open", 2)
    assert get_link("t1", "qbo", "contact", "h1").synced_version == 2


def test_a_throttled_record_alone_comes_back_after_the_providers_wait(
    conn, handler, fake, stack_env
):
    # Given two messages of one FIFO group; QBO throttles the first record only
    fake.fail = {"h1": SyncFailure("qbo.throttled", "ThrottleExceeded", retry_after=30)}
    _record("h1", "Slow")
    _record("h2", "After")
    sqs = stack_env.client("sqs")
    url = stack_env.queue_url("QboPushQueue")
    for m in (_push("h1"), _push("h2")):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=m.model_dump_json(),
            MessageGroupId="c1",
            MessageDeduplicationId=m.dedup_id(),
        )
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    answer = handler("qbo_push")(sqs_event(got, "arn"), lambda_context())
    # Then only the throttled one goes back (after QBO's 30 s): the one behind it was sent
    # in the same call, is linked, and is done; nobody has an error to fix
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    assert failed == [got[0]["MessageId"]]
    assert get_link("t1", "qbo", "contact", "h2") is not None
    assert list(SyncErrorRow.scan()) == []


def _bundle(rids):
    (message,) = push_messages("t1", "c1", "qbo", "contact", [(r, 1) for r in rids], 50)
    return message


def test_bundles_fill_the_providers_batch_instead_of_stopping_at_ten_messages(conn, handler, fake):
    for i in range(60):
        _record(f"h{i}", f"Client {i}")
    bundles = [_bundle([f"h{i}" for i in range(0, 40)]), _bundle([f"h{i}" for i in range(40, 60)])]
    answer = handler("qbo_push")(_event(bundles), lambda_context())
    assert answer == {"batchItemFailures": []}
    assert [len(call) for call in fake.calls] == [30, 30]  # QBO's batch of 30, twice
    assert all(get_link("t1", "qbo", "contact", f"h{i}") for i in range(60))


def test_in_a_bundle_one_record_to_fix_is_its_own_error_and_a_throttled_one_comes_back(
    conn, handler, fake, stack_env
):
    fake.fail = {
        "h1": SyncFailure("qbo.duplicate_name", "Another customer is using 'Acme'"),
        "h2": SyncFailure("qbo.throttled", "ThrottleExceeded", retry_after=1),
    }
    for rid, name in (("h1", "Acme"), ("h2", "Bravo"), ("h3", "Charlie")):
        _record(rid, name)
    sqs = stack_env.client("sqs")
    url = stack_env.queue_url("QboPushQueue")
    bundle = _bundle(["h1", "h2", "h3"])
    sqs.send_message(
        QueueUrl=url,
        MessageBody=bundle.model_dump_json(),
        MessageGroupId="c1",
        MessageDeduplicationId=bundle.dedup_id(),
    )

    def deliver():
        got = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], WaitTimeSeconds=2)
        return handler("qbo_push")(sqs_event(got["Messages"], "arn"), lambda_context())

    answer = deliver()
    assert len(answer["batchItemFailures"]) == 1  # the bundle goes back, for h2
    (row,) = list(SyncErrorRow.scan())
    assert (row.record_id, row.code) == ("h1", "qbo.duplicate_name")
    assert row.message["record_id"] == "h1"  # an operator's retry resends h1 alone
    assert get_link("t1", "qbo", "contact", "h3") is not None

    fake.fail = {"h1": fake.fail["h1"]}  # the throttle is over
    fake.calls.clear()
    assert deliver() == {"batchItemFailures": []}
    assert fake.calls == [["h1", "h2"]]  # h3 is not sent twice
    assert get_link("t1", "qbo", "contact", "h2") is not None


def test_push_for_a_deleted_record_never_sent_does_nothing(conn, handler, fake):
    r = _record("h1", "Gone")
    r.update(actions=[Record.deleted.set(1)])
    assert handler("qbo_push")(_event([_push("h1")]), lambda_context()) == {"batchItemFailures": []}
    assert fake.calls == []


# ------------------------------------------------------------------ pull


class FakeSource:
    name = "qbo.changes"

    def __init__(self, changes):
        self._changes = changes
        self.cursors = []

    def read(self, session, cursor):
        self.cursors.append(cursor)
        return Page(self._changes, "2026-11-26T12:00:00Z")


def _pull_event():
    return _event([Pull(tenant_id="t1", connection_id="c1", provider="qbo", trigger="t")])


def _linked(rid, name, synced=1, version=1, updated=None):
    r = _record(rid, name, version=version)
    if updated:
        r.update(actions=[Record.updated_at.set(updated)])
    save_link(
        "t1",
        "qbo",
        "contact",
        rid,
        "Customer",
        f"p-{rid}",
        provider_version="0",
        content_hash=None,
        synced_version=synced,
    )
    return r


def _change(rid, name, at):
    return Change(
        object_type="Customer",
        provider_id=f"p-{rid}",
        provider_version="1",
        raw={"name": name, "contact_type": "Client", "active": True},
        changed_at=at,
    )


@pytest.fixture
def pull_with(monkeypatch, stack_env):
    family = FakePush()

    def install(changes):
        source = FakeSource(changes)
        monkeypatch.setattr(registry, "sources", lambda p: [source])
        monkeypatch.setattr(registry, "family", lambda p, k: family if k == "contact" else None)
        monkeypatch.setattr(registry, "adopting", lambda p, t: family if t == "Customer" else None)
        return source

    return install


def test_an_edit_at_the_provider_updates_the_hub_and_moves_the_cursor(conn, handler, pull_with):
    _linked("h1", "Old Name")
    adapter = pull_with([_change("h1", "New Name", datetime.now(UTC))])
    handler("qbo_pull")(_pull_event(), lambda_context())
    record = Record.get("t1", "contact#h1")
    assert record.data["name"] == "New Name"
    assert record.origin == "qbo"
    assert record.version == 2
    assert Cursor.get("c1", "qbo.changes").position == "2026-11-26T12:00:00Z"
    handler("qbo_pull")(_pull_event(), lambda_context())
    assert adapter.cursors == [None, "2026-11-26T12:00:00Z"]


def test_a_burst_of_webhook_notices_costs_one_pull_not_one_each(conn, handler, pull_with):
    adapter = pull_with([])
    sent = int((datetime.now(UTC) - timedelta(seconds=10)).timestamp() * 1000)
    burst = [
        Pull(tenant_id="t1", connection_id="c1", provider="qbo", reason="webhook", trigger=f"w{i}")
        for i in range(5)
    ]
    event = _event(burst)
    for record in event["Records"]:
        record["attributes"]["SentTimestamp"] = str(sent)  # all sent before the first pull
    assert handler("qbo_pull")(event, lambda_context()) == {"batchItemFailures": []}
    assert len(adapter.cursors) == 1  # the first pull read what all five are about
    # a notice sent after that pull began is not covered: it pulls again
    later = _pull_event()
    later_sent = int((datetime.now(UTC) + timedelta(seconds=2)).timestamp() * 1000)
    later["Records"][0]["attributes"]["SentTimestamp"] = str(later_sent)
    handler("qbo_pull")(later, lambda_context())
    assert len(adapter.cursors) == 2


def test_a_page_of_many_changes_reads_links_in_one_pass_and_applies_each_right(
    conn, handler, pull_with, monkeypatch
):
    for i in range(40):
        _linked(f"h{i}", f"Client {i}")
    now = datetime.now(UTC)
    changes = [_change(f"h{i}", f"Client {i}", now) for i in range(40)]  # our echoes
    changes[7] = _change("h7", "Client 7 (renamed in QBO)", now)
    changes.append(_change("h7", "Client 7 (renamed twice)", now + timedelta(seconds=1)))
    changes.append(_change("unknown", "Someone New", now))  # no link: import matching
    pull_with(changes)
    adopted = []
    from booksync.hub.entities import ENTITIES

    contact = ENTITIES["contact"]
    monkeypatch.setitem(
        ENTITIES,
        "contact",
        replace(contact, adopt=lambda conn, new, save: adopted.extend(new) or []),
    )
    assert handler("qbo_pull")(_pull_event(), lambda_context()) == {"batchItemFailures": []}
    assert Record.get("t1", "contact#h7").data["name"] == "Client 7 (renamed twice)"
    assert Record.get("t1", "contact#h7").version == 2  # the later state only, applied once
    assert {r.version for r in Record.query("t1") if r.record_id != "h7"} == {1}
    assert [c.provider_id for c in adopted] == ["p-unknown"]


def test_our_own_write_coming_back_is_recognised_and_ignored(conn, handler, pull_with):
    _linked("h1", "Same Name")
    pull_with([_change("h1", "Same Name", datetime.now(UTC))])
    handler("qbo_pull")(_pull_event(), lambda_context())
    assert Record.get("t1", "contact#h1").version == 1


def test_when_both_sides_changed_the_later_change_wins_and_the_other_is_kept(
    conn, handler, pull_with, stack_env
):
    now = datetime.now(UTC)
    _linked("h1", "Hub Edit", synced=1, version=2, updated=now)  # hub changed after the last sync
    pull_with([_change("h1", "Provider Edit", now - timedelta(minutes=5))])
    handler("qbo_pull")(_pull_event(), lambda_context())
    record = Record.get("t1", "contact#h1")
    assert record.data["name"] == "Hub Edit"
    assert record.history[-1]["provider_content"]["name"] == "Provider Edit"


def test_a_later_provider_edit_beats_an_earlier_hub_edit(conn, handler, pull_with):
    now = datetime.now(UTC)
    _linked("h1", "Hub Edit", synced=1, version=2, updated=now - timedelta(minutes=5))
    pull_with([_change("h1", "Provider Edit", now)])
    handler("qbo_pull")(_pull_event(), lambda_context())
    assert Record.get("t1", "contact#h1").data["name"] == "Provider Edit"


def test_a_change_applied_from_qbo_is_sent_to_the_other_providers_not_back(
    conn, handler, pull_with, stack_env, outbox
):
    Connection(
        "t1", "xero", connection_id="c2", status="active", company_id="x", settings={}
    ).save()
    _linked("h1", "Old")
    outbox.read()  # what the set-up wrote is not this test's business
    pull_with([_change("h1", "New", datetime.now(UTC))])
    handler("qbo_pull")(_pull_event(), lambda_context())
    outbox.flush()  # the Records stream's fan-out
    sqs = stack_env.client("sqs")
    xero = sqs.receive_message(
        QueueUrl=stack_env.queue_url("XeroPushQueue"), MaxNumberOfMessages=10
    )
    qbo = sqs.receive_message(QueueUrl=stack_env.queue_url("QboPushQueue"), MaxNumberOfMessages=10)
    assert [json.loads(m["Body"])["record_id"] for m in xero.get("Messages", [])] == ["h1"]
    assert "Messages" not in qbo


class KeyRecorder(FakePush):
    """Remembers the idempotency key and the earlier intents each create carried."""

    def __init__(self, fail=None):
        super().__init__(fail)
        self.keys = []
        self.sent_before = []

    def intent(self, item):
        return {"name": item.content.name}

    def push(self, session, items):
        self.keys += [i.idempotency_key for i in items]
        self.sent_before += [i.sent_before for i in items]
        return super().push(session, items)


def test_a_create_keeps_its_key_across_a_lost_reply_and_an_edit_and_gets_a_new_one_once_refused(
    conn, handler, monkeypatch
):
    family = KeyRecorder()
    monkeypatch.setattr(registry, "pushed", lambda p, k: family if k == "contact" else None)
    fn = handler("qbo_push")
    # A create whose reply is lost, then retried after the record was renamed
    family.fail = {"h1": SyncFailure("qbo.unavailable", "connection reset")}
    _record("h1", "Acme")
    fn(_event([_push("h1")]), lambda_context())
    _record("h1", "Acme Marine", version=2)
    fn(_event([_push("h1", 2)]), lambda_context())
    # Then the retry carries the same key and what the lost try wrote
    assert family.keys[0] == family.keys[1]
    assert [[{k: v for k, v in s.items() if k != "at"} for s in b] for b in family.sent_before] == [
        [],
        [{"name": "Acme"}],
    ]
    # each try says when it was made (a provider object made before it is not its)
    assert family.sent_before[1][0]["at"] <= datetime.now(UTC).isoformat()
    # When QBO refuses it for good (a name clash) and the person renames it again
    family.fail = {"h1": SyncFailure("qbo.duplicate_name", "Another customer is using it")}
    fn(_event([_push("h1", 2)]), lambda_context())
    family.fail = {}
    _record("h1", "Acme Marine Ltd", version=3)
    fn(_event([_push("h1", 3)]), lambda_context())
    # Then the try after the refusal is a new request, not a replay of the refusal
    assert family.keys[2] == family.keys[1]
    assert family.keys[3] != family.keys[2]
    assert get_link("t1", "qbo", "contact", "h1").synced_version == 3
