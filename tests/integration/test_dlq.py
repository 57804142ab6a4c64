"""Dead letters through the operator CLI, the real qbo_push worker, moto's SQS (with the
local stack's move task) and the QBO simulator: what lands in a dead-letter queue, what
`dlq show` says of it, and that a re-drive syncs it once and never twice."""

from __future__ import annotations

import json

import pytest
import requests

from booksync.engine.messages import Pull
from booksync.ops.cli import main as cli
from local.pollers import sqs_event
from tests.conftest import lambda_context
from tests.integration.oauth_dance import Dance
from tests.integration.test_api import call

PUSH_QUEUE, DEAD_LETTERS = "QboPushQueue", "QboPushDeadLetterQueue"


@pytest.fixture
def stack_env(sim_stack_env, monkeypatch):
    """Here the providers are the simulators (overrides conftest's stack_env)."""
    from booksync.settings import get_settings

    # a message is dead-lettered after its first receive here, not its twelfth (and the
    # workers are told so, as template.yaml tells them its maxReceiveCount)
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "1")
    get_settings.cache_clear()
    sqs = sim_stack_env.client("sqs")
    url = sim_stack_env.queue_url(PUSH_QUEUE)
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"RedrivePolicy": json.dumps({**policy, "maxReceiveCount": 1})}
    )
    return sim_stack_env


class Ops:
    def __init__(self, stack_env, handler, sims, outbox, capsys):
        self.stack = stack_env
        self.sqs = stack_env.client("sqs")
        self.oauth = handler("oauth")
        self.api = handler("api")
        self.worker = handler("qbo_push")
        self.qbo = sims["qbo"].url
        self.outbox = outbox
        self.capsys = capsys
        requests.delete(f"{self.qbo}/_sim/faults", timeout=10).raise_for_status()

    def firm(self, name):
        """A firm connected to its own QBO company through the real OAuth dance."""
        from booksync.store.tenants import create_api_key, create_tenant

        tenant = create_tenant(name)
        key = create_api_key(tenant.tenant_id).key
        reply = requests.post(
            f"{self.qbo}/_sim/companies",
            json={"name": f"{name} books", "seed": "empty"},
            timeout=10,
        )
        reply.raise_for_status()
        dance = Dance(self.oauth, key)
        status, page = dance.connect("qbo", sim_company=str(reply.json()["id"]))
        assert status == 200, page
        return tenant.tenant_id, key, dance, str(reply.json()["id"])

    def contacts(self, key, names):
        ids = []
        for name in names:
            status, made, _ = call(
                self.api, "POST", "/v1/contacts", key, {"name": name, "contact_type": "Client"}
            )
            assert status == 201, made
            ids.append(made["id"])
        self.outbox.flush()  # the stream's fan-out queues each push
        return ids

    def outage(self, on=True):
        if on:
            rule = {"action": "error", "status": 503, "method": "POST", "path": "/(batch|customer)"}
            requests.post(f"{self.qbo}/_sim/faults", json=rule, timeout=10).raise_for_status()
        else:
            requests.delete(f"{self.qbo}/_sim/faults", timeout=10).raise_for_status()

    def work(self):
        """What Lambda's event source does: a batch to the worker, the done ones deleted."""
        url = self.stack.queue_url(PUSH_QUEUE)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        while True:
            got = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not got:
                return
            answer = self.worker(sqs_event(got, arn), lambda_context())
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            for m in got:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if failed:
                return

    def until_dead_lettered(self, count):
        """The failed messages come back after their backoff and, past the queue's receive
        allowance, SQS moves them to the dead-letter queue."""
        for _ in range(40):
            if self.depth() >= count:
                return
            self.sqs.receive_message(QueueUrl=self.stack.queue_url(PUSH_QUEUE), WaitTimeSeconds=1)
        raise AssertionError(f"{self.depth()} dead letters, not {count}")

    def depth(self):
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.stack.queue_url(DEAD_LETTERS),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def cli(self, *argv, ok=True):
        self.capsys.readouterr()
        code = cli(list(argv))
        captured = self.capsys.readouterr()
        assert (code == 0) is ok, captured
        if not ok:
            return captured.err
        out = captured.out
        starts = [i for i in (out.find("{\n"), out.find("[\n")) if i >= 0]
        return json.loads(out[min(starts) :])

    def customers(self, company):
        url = f"{self.qbo}/_sim/companies/{company}/objects/Customer"
        return sorted(c["DisplayName"] for c in requests.get(url, timeout=10).json()["objects"])

    def writes(self):
        counts = requests.get(f"{self.qbo}/_sim/calls", timeout=10).json()["counts"]
        return sum(n for k, n in counts.items() if k.startswith("POST"))


@pytest.fixture
def ops(stack_env, handler, sims, outbox, capsys):
    return Ops(stack_env, handler, sims, outbox, capsys)


def test_pushes_that_died_in_an_outage_are_shown_and_a_redrive_syncs_them_once(ops):
    # Given three contacts whose pushes died while QuickBooks answered 503
    tenant, _key, _dance, company = ops.firm("Harbour")
    ops.outage()
    ids = ops.contacts(_key, ["Ada Ltd", "Bell & Co", "Curie plc"])
    ops.work()
    ops.until_dead_lettered(1)
    # Then the operator sees them: how many and how old, and each decoded
    listing = {row["queue"]: row for row in ops.cli("dlq", "list")}
    assert listing["qbo-push"]["dead_letters"] >= 1
    assert listing["qbo-push"]["oldest_age_seconds"] is not None
    assert listing["xero-push"]["dead_letters"] == 0
    shown = ops.cli("dlq", "show", "qbo-push")
    assert {r["id"] for m in shown for r in m["records"]} == set(ids)
    assert {(m["tenant_id"], m["provider"], m["kind"]) for m in shown} == {
        (tenant, "qbo", "contact")
    }
    assert all(m["operation"] in ("push", "push_many") for m in shown)
    # each with the sync error its last try left: why it is there, in the provider's words
    assert {m["error"]["code"] for m in shown} == {"message.dead_lettered"}
    assert all(m["error"]["provider_message"].startswith("qbo.") for m in shown)
    assert all(m["redrive"] == "would be sent back" for m in shown)
    # and reading them took nothing away
    assert ops.depth() == len(shown)
    assert ops.customers(company) == []

    # When QuickBooks is back and the whole queue is re-driven
    ops.outage(on=False)
    moved = ops.cli("dlq", "redrive", "qbo-push")
    assert (moved["how"], moved["moved"], moved["left"], moved["failed"]) == (
        "move task",
        len(shown),
        0,
        0,
    )
    ops.work()
    # Then every contact is in QuickBooks once, and the dead-letter queue is empty
    assert ops.customers(company) == ["Ada Ltd", "Bell & Co", "Curie plc"]
    assert ops.depth() == 0

    # When the same dead letters come round again (SQS delivers at least once) and are
    # re-driven a second time
    for m in shown:
        ops.sqs.send_message(
            QueueUrl=ops.stack.queue_url(DEAD_LETTERS),
            MessageBody=json.dumps(_body(m)),
            MessageGroupId="again",
            MessageDeduplicationId=m["message_id"],
        )
    writes = ops.writes()
    assert ops.cli("dlq", "redrive", "qbo-push")["moved"] == len(shown)
    ops.work()
    # Then nothing is sent twice: each record's link already holds its version
    assert ops.writes() == writes
    assert ops.customers(company) == ["Ada Ltd", "Bell & Co", "Curie plc"]

    # When a contact is renamed and synced, and its old dead letter is re-driven after that
    from booksync.hub.records import update_record

    update_record(tenant, "contact", ids[0], {"name": "Ada Lovelace Ltd", "contact_type": "Client"})
    ops.outbox.flush()
    ops.work()
    assert ops.customers(company) == ["Ada Lovelace Ltd", "Bell & Co", "Curie plc"]
    old = next(m for m in shown if ids[0] in {r["id"] for r in m["records"]})
    ops.sqs.send_message(
        QueueUrl=ops.stack.queue_url(DEAD_LETTERS),
        MessageBody=json.dumps(_body(old)),
        MessageGroupId="late",
        MessageDeduplicationId="late",
    )
    writes = ops.writes()
    ops.cli("dlq", "redrive", "qbo-push")
    ops.work()
    # Then the older version is dropped: nothing is written, the new name stays
    assert ops.writes() == writes
    assert ops.customers(company) == ["Ada Lovelace Ltd", "Bell & Co", "Curie plc"]


def _body(shown):
    """The queue message a `dlq show` row describes (push or push_many)."""
    common = {
        "v": 1,
        "tenant_id": shown["tenant_id"],
        "connection_id": shown["connection_id"],
        "provider": "qbo",
        "kind": shown["kind"],
    }
    if shown["operation"] == "push":
        (rec,) = shown["records"]
        return {**common, "type": "push", "record_id": rec["id"], "version": rec["version"]}
    return {
        **common,
        "type": "push_many",
        "records": [{"record_id": r["id"], "version": r["version"]} for r in shown["records"]],
    }


def test_an_unreadable_message_is_shown_with_its_error_row_and_left_by_a_redrive(ops):
    # Given a pull message put on the QBO push queue: no worker can act on it
    tenant, *_ = ops.firm("Wrong Queue")
    from booksync.store import connections

    conn = connections.get(tenant, "qbo")
    pull = Pull(tenant_id=tenant, connection_id=conn.connection_id, provider="qbo", trigger="t")
    ops.sqs.send_message(
        QueueUrl=ops.stack.queue_url(PUSH_QUEUE),
        MessageBody=pull.model_dump_json(),
        MessageGroupId=conn.connection_id,
        MessageDeduplicationId="wrong-queue",
    )
    ops.work()
    # Then it is in the dead-letter queue at once, with the error row that says why
    (shown,) = ops.cli("dlq", "show", "qbo-push")
    assert (shown["operation"], shown["tenant_id"]) == ("pull", tenant)
    assert shown["error"]["code"] == "message.invalid"
    assert shown["redrive"] == (
        "no worker can read it here: a qbo pull message on the qbo push queue"
    )
    # and a re-drive says so and leaves it
    moved = ops.cli("dlq", "redrive", "qbo-push")
    assert (moved["moved"], moved["left"]) == (0, 1)
    assert moved["left_behind"][0]["why"].startswith("no worker can read it here")
    assert ops.depth() == 1


def test_a_redrive_for_one_firm_moves_only_its_dead_letters(ops):
    # Given two firms' pushes dead-lettered in one outage
    first, first_key, _, first_company = ops.firm("First")
    second, second_key, _, second_company = ops.firm("Second")
    ops.outage()
    ops.contacts(first_key, ["First Client"])
    ops.contacts(second_key, ["Second Client"])
    ops.work()
    ops.until_dead_lettered(2)
    ops.outage(on=False)
    # When the first firm's are re-driven (a dry run first)
    dry = ops.cli("dlq", "redrive", "qbo-push", "--tenant", first, "--dry-run")
    assert [m["tenant_id"] for m in dry["would_move"]] == [first]
    assert ops.depth() == 2
    moved = ops.cli("dlq", "redrive", "qbo-push", "--tenant", first)
    assert (moved["how"], moved["moved"], moved["left"], moved["failed"]) == ("filtered", 1, 1, 0)
    ops.work()
    # Then only the first firm's contact reached QuickBooks; the second's still waits
    assert ops.customers(first_company) == ["First Client"]
    assert ops.customers(second_company) == []
    assert [m["tenant_id"] for m in ops.cli("dlq", "show", "qbo-push")] == [second]


def test_purge_deletes_one_firms_dead_letters_only_when_told_yes(ops):
    first, first_key, *_ = ops.firm("Purged")
    second, second_key, *_ = ops.firm("Kept")
    ops.outage()
    ops.contacts(first_key, ["Gone Ltd"])
    ops.contacts(second_key, ["Stays Ltd"])
    ops.work()
    ops.until_dead_lettered(2)
    # Without --yes nothing is deleted
    assert "--yes" in ops.cli("dlq", "purge", "qbo-push", "--tenant", first, ok=False)
    assert ops.depth() == 2
    # With it, that firm's dead letters go and the count is said
    assert ops.cli("dlq", "purge", "qbo-push", "--tenant", first, "--yes")["purged"] == 1
    assert [m["tenant_id"] for m in ops.cli("dlq", "show", "qbo-push")] == [second]
    (row, *_) = ops.cli("audit", first)
    assert (row["who"], row["action"], row["details"]["messages"]) == (
        "operator-cli",
        "dlq.purge",
        1,
    )


def test_a_dead_letter_of_a_disconnected_connection_is_reported_not_moved(ops):
    # Given a firm's dead-lettered push, and the firm has since disconnected QuickBooks
    tenant, key, dance, company = ops.firm("Left Us")
    ops.outage()
    ops.contacts(key, ["Orphan Ltd"])
    ops.work()
    ops.until_dead_lettered(1)
    ops.outage(on=False)
    assert dance.disconnect("qbo")[0] == 200
    # When the queue is re-driven
    moved = ops.cli("dlq", "redrive", "qbo-push")
    # Then the message is named with the reason and stays where it is
    assert (moved["moved"], moved["left"]) == (0, 1)
    assert moved["left_behind"] == [
        {
            "message_id": moved["left_behind"][0]["message_id"],
            "tenant_id": tenant,
            "why": "its connection is disconnected",
        }
    ]
    assert ops.depth() == 1
    assert ops.customers(company) == []


def test_a_whole_queue_redrive_waits_for_the_move_task_with_a_progress_line(ops, capsys):
    _, key, _, _ = ops.firm("Progress")
    ops.outage()
    ops.contacts(key, ["Slow Ltd"])
    ops.work()
    ops.until_dead_lettered(1)
    ops.outage(on=False)
    capsys.readouterr()
    assert cli(["dlq", "redrive", "qbo-push"]) == 0
    assert "qbo-push: completed, 1 of 1 moved" in capsys.readouterr().err
