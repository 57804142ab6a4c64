"""The sync engine's worker loop, through a real worker handler and real SQS (moto): one
pass over the batch, what each outcome does to a message, and what a failure holds back."""

import json
import time

import botocore.model
import botocore.session
import pytest

from booksync.engine.messages import Pull, PushRecord
from booksync.engine.seam import Family, Page, Pushed
from booksync.engine.worker import Pass
from booksync.errors import SyncFailure
from booksync.providers import registry
from booksync.store import Connection, Cursor, Record, SyncErrorRow, utcnow
from booksync.store.models import ALL_MODELS
from local.pollers import sqs_event
from tests.conftest import lambda_context


def _send(stack_env, queue_logical, body, group="c1"):
    sqs = stack_env.client("sqs")
    url = stack_env.queue_url(queue_logical)
    text = body if isinstance(body, str) else json.dumps(body)
    sqs.send_message(
        QueueUrl=url,
        MessageBody=text,
        MessageGroupId=group,
        MessageDeduplicationId=str(abs(hash(text))),
    )


def _receive(stack_env, queue_logical, wait=0):
    sqs = stack_env.client("sqs")
    url = stack_env.queue_url(queue_logical)
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=wait
    ).get("Messages", [])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return sqs_event(got, arn), got


def _receive_one(stack_env, queue_logical, body):
    _send(stack_env, queue_logical, body)
    event, got = _receive(stack_env, queue_logical)
    return event, got[0]


def _run(handler, function, event, stack_env, queue_logical, got):
    """What Lambda's event source does with the answer: delete what succeeded."""
    answer = handler(function)(event, lambda_context())
    failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
    sqs = stack_env.client("sqs")
    for message in got:
        if message["MessageId"] not in failed:
            sqs.delete_message(
                QueueUrl=stack_env.queue_url(queue_logical),
                ReceiptHandle=message["ReceiptHandle"],
            )
    return answer


def _dead_letters(stack_env, dlq_logical):
    sqs = stack_env.client("sqs")
    got = sqs.receive_message(
        QueueUrl=stack_env.queue_url(dlq_logical), MaxNumberOfMessages=10
    ).get("Messages", [])
    return [m["Body"] for m in got]


PULL = Pull(tenant_id="t1", connection_id="c1", provider="qbo", trigger="x").model_dump()


@pytest.fixture(autouse=True)
def no_provider_sources(monkeypatch):
    """These tests are about the worker loop, not a provider: no source answers a pull."""
    monkeypatch.setattr(registry, "sources", lambda provider: [])


@pytest.fixture
def qbo_connection(stack_env):
    """An active QBO connection c1 of tenant t1 (the table itself is what is set up here)."""
    conn = Connection("t1", "qbo", connection_id="c1", status="active", company_id="123")
    conn.save()
    return conn


def test_a_pull_records_when_it_ran_on_the_connection_and_nowhere_else(
    stack_env, handler, qbo_connection
):
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    answer = handler("qbo_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": []}
    conn = Connection.get("t1", "qbo")
    assert conn.last_sync_at is not None
    assert conn.pull_started_at is not None
    assert not list(Cursor.scan())  # no leftover "_runs" row


def test_a_message_for_another_provider_goes_straight_to_the_dead_letter_queue(stack_env, handler):
    event, msg = _receive_one(stack_env, "QbtPullQueue", PULL)  # a qbo message on the qbt queue
    answer = handler("qbt_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": []}
    assert _dead_letters(stack_env, "QbtPullDeadLetterQueue") == [msg["Body"]]
    (row,) = list(SyncErrorRow.scan())
    assert row.code == "message.invalid"


def test_transient_failure_returns_message_after_the_providers_wait(
    stack_env, handler, monkeypatch, qbo_connection
):
    def throttled(session, requeue, time_left):
        raise SyncFailure("qbo.throttled", "ThrottleExceeded", retry_after=30)

    monkeypatch.setattr("booksync.engine.pull.pull", throttled)
    event, msg = _receive_one(stack_env, "QboPullQueue", PULL)
    answer = handler("qbo_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": msg["MessageId"]}]}
    # the wait was set on the message: it is not visible now
    sqs = stack_env.client("sqs")
    again = sqs.receive_message(QueueUrl=stack_env.queue_url("QboPullQueue"))
    assert "Messages" not in again
    assert list(SyncErrorRow.scan()) == []


def test_failure_a_person_must_fix_becomes_an_error_row_and_is_not_retried(
    qbo_connection, stack_env, handler, monkeypatch
):
    def closed(session, requeue, **how):
        raise SyncFailure(
            "qbo.period_closed", "Account Period Closed, cannot update through this date."
        )

    monkeypatch.setattr("booksync.engine.pull.pull", closed)
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    fn = handler("qbo_pull")
    assert fn(event, lambda_context()) == {"batchItemFailures": []}
    assert fn(event, lambda_context()) == {"batchItemFailures": []}
    (row,) = list(SyncErrorRow.scan())
    assert row.code == "qbo.period_closed"
    assert row.attempts == 2
    assert "closing date" in row.fix
    assert row.provider_message.startswith("Account Period Closed")


@pytest.mark.parametrize(
    "body",
    ["not json", json.dumps({"v": 1, "type": "pull", "tenant_id": "t1"})],
)
def test_an_unreadable_message_goes_to_the_dead_letter_queue_on_its_first_receive(
    stack_env, handler, body
):
    _send(stack_env, "XeroPullQueue", body, group="g")
    event, got = _receive(stack_env, "XeroPullQueue")
    answer = _run(handler, "xero_pull", event, stack_env, "XeroPullQueue", got)
    assert answer["batchItemFailures"] == []
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    assert _dead_letters(stack_env, "XeroPullDeadLetterQueue") == [body]
    rows = list(SyncErrorRow.scan())
    # an error row where the body names its firm
    assert [r.code for r in rows] == (["message.invalid"] if "tenant_id" in body else [])


def test_a_message_for_a_connection_needing_reauth_is_dropped_nothing_sent(
    stack_env, handler, qbo_connection
):
    # (a reconnect reconciles: every record ahead of its link is pushed then, and a pull
    # reads what changed meanwhile; see test_connections.py)
    qbo_connection.update(actions=[Connection.status.set("needs_reauth")])
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    assert handler("qbo_pull")(event, lambda_context()) == {"batchItemFailures": []}
    assert Connection.get("t1", "qbo").last_sync_at is None  # nothing was read
    assert not [r for r in SyncErrorRow.scan() if r.status == "parked"]


def test_message_for_a_replaced_connection_is_dropped(stack_env, handler, qbo_connection):
    stale = dict(PULL, connection_id="c-old")
    event, _ = _receive_one(stack_env, "QboPullQueue", stale)
    assert handler("qbo_pull")(event, lambda_context()) == {"batchItemFailures": []}
    assert Connection.get("t1", "qbo").last_sync_at is None
    assert not list(SyncErrorRow.scan())


# -------------------------------------------------- a backlog longer than one invocation


class Backlog:
    """A source with `pages` pages of changes whose rate budget lets an invocation read
    `allowed` of them (then refuses, as booksync's budget does when a call's turn would
    come after the invocation's deadline)."""

    name = "backlog"

    def __init__(self, pages, allowed):
        self.pages, self.allowed = pages, allowed
        self.reads = []
        self.this_invocation = 0

    def read(self, session, cursor):
        if self.this_invocation == self.allowed:
            self.this_invocation = 0  # the next invocation has its own turns
            raise SyncFailure("qbo.throttled", "rate budget: no turn before the deadline")
        self.this_invocation += 1
        n = int(cursor or 0)
        self.reads.append(n)
        return Page([], str(n + 1), more=n + 1 < self.pages)


def _pull_rounds(stack_env, handler):
    """Run the pull queue until it is empty: (message reasons, answers) per round."""
    rounds = []
    for _ in range(10):
        event, got = _receive(stack_env, "QboPullQueue", wait=1)
        if not got:
            return rounds
        assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in got)
        answer = _run(handler, "qbo_pull", event, stack_env, "QboPullQueue", got)
        rounds.append(([json.loads(m["Body"])["reason"] for m in got], answer))
    raise AssertionError("the pull never finished")


def test_a_cold_start_makes_the_aws_clients_so_the_first_message_does_not(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given a new Lambda instance: no model has a DynamoDB client yet
    for model in ALL_MODELS:
        model._connection = None
    lambda_handler = handler("qbo_pull")  # its cold start
    event, _ = _receive_one(stack_env, "QboPullQueue", PULL)
    made = []
    create_client = botocore.session.Session.create_client

    def counted(self, name, *args, **kwargs):
        made.append(name)
        return create_client(self, name, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counted)
    # When its first message is worked (reading the connection, cursors, leases)
    assert lambda_handler(event, lambda_context()) == {"batchItemFailures": []}
    # Then it made no client: each one's CPU (a tenth of a second) was the init's
    assert made == []


def test_every_table_shares_one_client_so_dynamodb_is_learnt_once_per_instance(
    stack_env, handler, monkeypatch
):
    # Given a new Lambda instance after its cold start
    for model in ALL_MODELS:
        model._connection = None
    handler("qbo_push")
    resolved = []
    learn = botocore.model.ShapeResolver.get_shape_by_name

    def counted(self, name, *args, **kwargs):
        resolved.append(name)
        return learn(self, name, *args, **kwargs)

    monkeypatch.setattr(botocore.model.ShapeResolver, "get_shape_by_name", counted)
    # When one table is read by key, the client learns GetItem's request and answer
    with pytest.raises(Connection.DoesNotExist):
        Connection.get("t1", "qbo")
    assert resolved  # (the first GetItem of this client)
    learnt = len(resolved)
    # Then reading another table by key learns nothing again: one client, one pool
    with pytest.raises(Record.DoesNotExist):
        Record.get("t1", "contact#nope")
    assert len(resolved) == learnt
    clients = {id(model._get_connection().connection.client) for model in ALL_MODELS}
    assert len(clients) == 1


@pytest.mark.parametrize("limit", ["rate budget", "deadline"])
def test_a_backlog_longer_than_an_invocation_goes_on_in_new_pulls_each_page_read_once(
    stack_env, handler, qbo_connection, monkeypatch, limit
):
    # Given a backlog of five pages, and invocations that can read two of them
    source = Backlog(pages=5, allowed=2 if limit == "rate budget" else 99)
    monkeypatch.setattr(registry, "sources", lambda provider: [source])
    if limit == "deadline":
        reads = iter(range(1000))
        monkeypatch.setattr(Pass, "time_left", lambda self: next(reads) % 2 == 0)
    _send(stack_env, "QboPullQueue", PULL)
    # When the queue is worked until empty
    rounds = _pull_rounds(stack_env, handler)
    # Then every message was done on its first receive (none spent its dead-letter
    # allowance), each unfinished pull queued the next, and each page was read once
    assert [reasons for reasons, _ in rounds] == [["reconcile"], ["continue"], ["continue"]]
    assert all(answer == {"batchItemFailures": []} for _, answer in rounds)
    assert source.reads == [0, 1, 2, 3, 4]
    assert Cursor.get("c1", "backlog").position == "5"
    # the connection shows a finished pull only once everything was read
    assert Connection.get("t1", "qbo").last_sync_at is not None
    assert not _dead_letters(stack_env, "QboPullDeadLetterQueue")
    assert not list(SyncErrorRow.scan())


def test_a_continuation_goes_on_at_the_source_where_its_pull_stopped(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given two sources sharing a budget of two reads per invocation: the first has two
    # pages, the second three (Xero: contacts, then invoices, then payments)
    budget = {"left": 2}

    class Shared(Backlog):
        def read(self, session, cursor):
            if not budget["left"]:
                budget["left"] = 2  # the next invocation has its own turns
                raise SyncFailure("qbo.throttled", "rate budget: no turn before the deadline")
            budget["left"] -= 1
            self.at.append(utcnow())
            return Backlog.read(self, session, cursor)

    first, second = Shared(pages=2, allowed=99), Shared(pages=3, allowed=99)
    first.name, second.name = "first", "second"
    first.at, second.at = [], []
    monkeypatch.setattr(registry, "sources", lambda provider: [first, second])
    _send(stack_env, "QboPullQueue", PULL)
    rounds = _pull_rounds(stack_env, handler)
    # Then each continuation started in the second source (the first, read to its end,
    # is not read again each round), and every page was read once
    assert [reasons for reasons, _ in rounds] == [["reconcile"], ["continue"], ["continue"]]
    assert first.reads == [0, 1]
    assert second.reads == [0, 1, 2]
    # the chain is marked pulled from when its first pull began: a notice sent while it
    # went on is not taken as covered by it
    conn = Connection.get("t1", "qbo")
    assert conn.last_sync_at is not None
    assert conn.pull_started_at <= first.at[0]


def test_a_source_read_to_its_end_is_not_read_again_by_the_continuation(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given a source listed in full each time (its cursor never moves: Xero payroll), then
    # a source the budget refuses after that one read
    budget = {"left": 1}

    class Listing(Backlog):
        def read(self, session, cursor):
            budget["left"] -= 1
            self.reads.append(cursor)
            return Page([], "", more=False)

    class Refusing(Backlog):
        def read(self, session, cursor):
            if budget["left"] <= 0:
                budget["left"] = 1  # the next invocation has its own turns
                raise SyncFailure("qbo.throttled", "this run's time is spent", retry_after=1)
            return super().read(session, cursor)

    listing, after = Listing(pages=1, allowed=99), Refusing(pages=1, allowed=99)
    listing.name, after.name = "listing", "after"
    monkeypatch.setattr(registry, "sources", lambda provider: [listing, after])
    _send(stack_env, "QboPullQueue", PULL)
    rounds = _pull_rounds(stack_env, handler)
    # Then the first pull's message is done (no receive spent on the refusal) and its
    # continuation reads only the refused source: the listing is read once
    assert [reasons for reasons, _ in rounds] == [["reconcile"], ["continue"]]
    assert len(listing.reads) == 1
    assert after.reads == [0]


def test_a_source_whose_cursor_does_not_move_is_not_continued_forever(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given a source that says "more" but gives back the cursor it was asked for
    class Stuck(Backlog):
        def read(self, session, cursor):
            super().read(session, cursor)
            return Page([], cursor or "", more=True)

    source = Stuck(pages=5, allowed=99)
    monkeypatch.setattr(registry, "sources", lambda provider: [source])
    _send(stack_env, "QboPullQueue", PULL)
    rounds = _pull_rounds(stack_env, handler)
    # one message, done; no continuation re-reading the same page over and over
    assert [reasons for reasons, _ in rounds] == [["reconcile"]]
    assert Connection.get("t1", "qbo").last_sync_at is None  # it never read everything


def test_a_pull_stopped_by_a_long_wait_waits_it_out_instead_of_going_on(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given a backlog whose second read meets a hold (the provider asked for an hour)
    class Held(Backlog):
        def read(self, session, cursor):
            if self.reads:
                raise SyncFailure("qbo.throttled", "held for an hour", retry_after=3600)
            return super().read(session, cursor)

    source = Held(pages=5, allowed=99)
    monkeypatch.setattr(registry, "sources", lambda provider: [source])
    event, msg = _receive_one(stack_env, "QboPullQueue", PULL)
    answer = handler("qbo_pull")(event, lambda_context())
    # the message goes back for the wait (one receive), no continuation calls meanwhile;
    # the page read is kept
    assert answer == {"batchItemFailures": [{"itemIdentifier": msg["MessageId"]}]}
    assert source.reads == [0]
    assert Cursor.get("c1", "backlog").position == "1"
    assert "Messages" not in stack_env.client("sqs").receive_message(
        QueueUrl=stack_env.queue_url("QboPullQueue")
    )


def test_a_pull_refused_before_reading_anything_is_retried_not_continued(
    stack_env, handler, qbo_connection, monkeypatch
):
    monkeypatch.setattr(registry, "sources", lambda provider: [Backlog(pages=5, allowed=0)])
    event, msg = _receive_one(stack_env, "QboPullQueue", PULL)
    answer = handler("qbo_pull")(event, lambda_context())
    assert answer == {"batchItemFailures": [{"itemIdentifier": msg["MessageId"]}]}
    assert Connection.get("t1", "qbo").last_sync_at is None


# -------------------------------------------------- what a failure holds back


class Poisoned(Family):
    """QBO customers, except that one record makes the provider code blow up."""

    provider = "qbo"
    kind = "contact"
    object_type = "Customer"
    max_batch = 30

    def __init__(self, poison):
        self.poison = poison
        self.sent = []

    def push(self, session, items):
        out = []
        for item in items:
            self.sent.append(item.record.record_id)
            if item.record.record_id == self.poison:
                out.append(RuntimeError("the provider's answer could not be read"))
            else:
                out.append(Pushed(item.record.record_id, f"p-{item.record.record_id}", "0", "h"))
        return out


def _push(rid):
    return PushRecord(
        tenant_id="t1", connection_id="c1", provider="qbo", kind="contact", record_id=rid, version=1
    )


def test_the_messages_behind_a_poison_one_in_its_group_are_sent_once_and_gone(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given one FIFO group holding a poison record's message and two innocent ones behind it
    family = Poisoned("bad")
    monkeypatch.setattr(registry, "pushed", lambda p, k: family if k == "contact" else None)
    for rid in ("bad", "good1", "good2"):
        Record(
            "t1",
            Record.key("contact", rid),
            kind="contact",
            record_id=rid,
            version=1,
            data={"name": rid, "contact_type": "Client"},
        ).save()
        _send(stack_env, "QboPushQueue", _push(rid).model_dump(), group="c1#3")
    # When the worker runs the batch
    event, got = _receive(stack_env, "QboPushQueue")
    assert len(got) == 3
    answer = _run(handler, "qbo_push", event, stack_env, "QboPushQueue", got)
    # Then only the poison message goes back, with a short backoff (not the queue's 12
    # minutes): the innocent ones were sent on their first receive and are gone
    assert [f["itemIdentifier"] for f in answer["batchItemFailures"]] == [got[0]["MessageId"]]
    assert all(m["Attributes"]["ApproximateReceiveCount"] == "1" for m in got)
    event, again = _receive(stack_env, "QboPushQueue", wait=3)
    assert [json.loads(m["Body"])["record_id"] for m in again] == ["bad"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    # And when it comes back it is tried alone: nothing is sent twice
    _run(handler, "qbo_push", event, stack_env, "QboPushQueue", again)
    assert family.sent == ["bad", "good1", "good2", "bad"]


def test_a_throttled_group_waits_what_the_provider_asked_while_another_group_goes_on(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given two groups of one connection; the provider throttles records of the first
    class Throttling(Poisoned):
        def push(self, session, items):
            return [
                SyncFailure("qbo.throttled", "ThrottleExceeded", retry_after=2)
                if i.record.record_id.startswith("slow")
                else Pushed(i.record.record_id, f"p-{i.record.record_id}", "0", "h")
                for i in items
            ]

    family = Throttling("none")
    monkeypatch.setattr(registry, "pushed", lambda p, k: family if k == "contact" else None)
    for rid, group in (("slow1", "c1#0"), ("slow2", "c1#0"), ("fast1", "c1#1")):
        Record(
            "t1",
            Record.key("contact", rid),
            kind="contact",
            record_id=rid,
            version=1,
            data={"name": rid, "contact_type": "Client"},
        ).save()
        _send(stack_env, "QboPushQueue", _push(rid).model_dump(), group=group)
    event, got = _receive(stack_env, "QboPushQueue")
    _run(handler, "qbo_push", event, stack_env, "QboPushQueue", got)
    # Then the other group's message is done, and the throttled group's are back after the
    # provider's 2 s, each received a second time
    seen = {}
    deadline = time.monotonic() + 8
    while len(seen) < 2 and time.monotonic() < deadline:
        _, again = _receive(stack_env, "QboPushQueue", wait=1)
        seen.update({json.loads(m["Body"])["record_id"]: m for m in again})
    assert sorted(seen) == ["slow1", "slow2"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in seen.values()} == {"2"}


def test_a_throttle_with_no_named_wait_holds_the_connection_briefly_not_for_its_window(
    stack_env, handler, qbo_connection, monkeypatch
):
    # Given QBO answers a 429 that names no wait (its window is a minute)
    from booksync.engine.budget import FIRST_THROTTLE_HOLD, Budget

    class Throttled(Poisoned):
        def push(self, session, items):
            return [
                SyncFailure("qbo.throttled", "ThrottleExceeded", retry_after=60, wait_named=False)
                for _ in items
            ]

    family = Throttled("none")
    monkeypatch.setattr(registry, "pushed", lambda p, k: family if k == "contact" else None)
    Record(
        "t1",
        Record.key("contact", "r1"),
        kind="contact",
        record_id="r1",
        version=1,
        data={"name": "r1", "contact_type": "Client"},
    ).save()
    _send(stack_env, "QboPushQueue", _push("r1").model_dump())
    event, got = _receive(stack_env, "QboPushQueue")
    _run(handler, "qbo_push", event, stack_env, "QboPushQueue", got)
    # Then the connection is held for the first throttle's few seconds, not a minute
    with pytest.raises(SyncFailure) as info:
        Budget("qbo", "c1", max_wait=0).take()
    assert 0 < info.value.retry_after <= FIRST_THROTTLE_HOLD
    # and the message is back after that hold (a minute's backoff would block its group)
    seen = []
    deadline = time.monotonic() + FIRST_THROTTLE_HOLD + 10
    while not seen and time.monotonic() < deadline:
        _, seen = _receive(stack_env, "QboPushQueue", wait=1)
    assert [json.loads(m["Body"])["record_id"] for m in seen] == ["r1"]
