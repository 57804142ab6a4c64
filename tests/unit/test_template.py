"""template.yaml is the stack: these tests hold it to the rules DESIGN.md sets."""

from pathlib import Path

import pytest

from booksync.store import models
from local import template as tpl

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = tpl.load()
FUNCTIONS = tpl.functions(TEMPLATE)
TABLES = tpl.resources(TEMPLATE, "AWS::DynamoDB::Table")
QUEUES = tpl.resources(TEMPLATE, "AWS::SQS::Queue")


def _keys(schema):
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def _model_keys(model):
    keys = {}
    for _name, attr in model.get_attributes().items():
        if attr.is_hash_key:
            keys["HASH"] = attr.attr_name
        if attr.is_range_key:
            keys["RANGE"] = attr.attr_name
    return keys


def _model_indexes(model):
    out = {}
    for index in model._indexes.values():
        keys = {}
        for _name, attr in index.Meta.attributes.items():
            if attr.is_hash_key:
                keys["HASH"] = attr.attr_name
            if attr.is_range_key:
                keys["RANGE"] = attr.attr_name
        out[index.Meta.index_name] = keys
    return out


TABLE_OF = {
    m: "".join(p.title() for p in m.settings_attr.split("_")) + "Table" for m in models.ALL_MODELS
}


@pytest.mark.parametrize("model", models.ALL_MODELS, ids=lambda m: m.__name__)
def test_each_model_has_the_keys_and_indexes_of_its_table(model):
    table = TABLES[TABLE_OF[model]]["Properties"]
    assert _model_keys(model) == _keys(table["KeySchema"])
    template_indexes = {
        g["IndexName"]: _keys(g["KeySchema"]) for g in table.get("GlobalSecondaryIndexes", [])
    }
    assert _model_indexes(model) == template_indexes


def test_every_table_is_modelled_or_owned_by_powertools():
    modelled = set(TABLE_OF.values())
    assert set(TABLES) - modelled == {"IdempotencyTable"}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_are_on_demand_recoverable_and_encrypted(name):
    props = TABLES[name]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_the_eleven_functions_each_have_a_folder_a_handler_and_events():
    names = {spec.name for spec in FUNCTIONS.values()}
    assert names == {
        "api",
        "oauth",
        "webhooks",
        "scheduler",
        "fanout",
        "qbo_push",
        "qbo_pull",
        "qbt_push",
        "qbt_pull",
        "xero_push",
        "xero_pull",
    }
    for spec in FUNCTIONS.values():
        assert (spec.code_uri / "app.py").is_file()
        assert spec.handler == "app.lambda_handler"
        assert list((ROOT / "events" / spec.name).glob("*.json")), f"no events/{spec.name}/ case"


WORKERS = {k: v for k, v in FUNCTIONS.items() if any(e["Type"] == "SQS" for e in v.events.values())}


@pytest.mark.parametrize("logical", sorted(WORKERS))
def test_each_worker_has_its_own_fifo_queue_with_a_dead_letter_queue(logical):
    spec = WORKERS[logical]
    (event,) = [e for e in spec.events.values() if e["Type"] == "SQS"]
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = QUEUES[event["Properties"]["Queue"]["Fn::GetAtt"][0]]["Properties"]
    assert queue["FifoQueue"] is True
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * spec.timeout
    dlq_name = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 3
    assert QUEUES[dlq_name]["Properties"]["FifoQueue"] is True


def test_queues_are_not_shared_between_workers():
    used = [
        e["Properties"]["Queue"]["Fn::GetAtt"][0]
        for s in WORKERS.values()
        for e in s.events.values()
        if e["Type"] == "SQS"
    ]
    assert len(used) == len(set(used)) == 6


def test_every_dead_letter_queue_and_function_has_an_alarm():
    alarms = tpl.resources(TEMPLATE, "AWS::CloudWatch::Alarm").values()
    watched = set()
    for alarm in alarms:
        for dim in alarm["Properties"]["Dimensions"]:
            value = dim["Value"]
            if isinstance(value, dict):
                watched.add(value.get("Ref") or value.get("Fn::GetAtt", [None])[0])
    dlqs = {q for q, r in QUEUES.items() if "RedrivePolicy" not in r["Properties"]}
    assert dlqs <= watched
    assert set(FUNCTIONS) <= watched


def test_what_the_code_counts_has_an_alarm_per_provider_and_a_place_on_the_dashboard():
    import json
    import re

    alarms = tpl.resources(TEMPLATE, "AWS::CloudWatch::Alarm").values()
    ours = [a["Properties"] for a in alarms if a["Properties"]["Namespace"] == "booksync"]
    per_metric: dict[str, set[str]] = {}
    for alarm in ours:
        dims = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert set(dims) == {"service", "provider"}  # never a tenant: one metric per firm
        assert dims["service"] == "booksync"
        assert alarm["AlarmActions"]
        assert alarm["AlarmDescription"]
        per_metric.setdefault(alarm["MetricName"], set()).add(dims["provider"])
    wanted = {"ThrottlesReceived", "ConnectionsNeedingReauth", "SyncErrorsOpened"}
    assert per_metric == {m: {"qbo", "qbt", "xero"} for m in wanted}
    # each is emitted by the code under that name
    code = "\n".join(p.read_text() for p in (ROOT / "shared" / "booksync").rglob("*.py"))
    for metric in wanted:
        assert re.search(rf'count\(\s*"{metric}"', code), metric
    api_5xx = [a for a in alarms if a["Properties"]["Namespace"] == "AWS/ApiGateway"]
    assert [a["Properties"]["MetricName"] for a in api_5xx] == ["5xx"]

    (board,) = tpl.resources(TEMPLATE, "AWS::CloudWatch::Dashboard").values()
    body = board["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    shown = {row[1] for w in widgets for row in w["properties"]["metrics"]}
    assert wanted | {"ApproximateNumberOfMessagesVisible", "Errors", "5xx"} <= shown
    dlqs = {q for q, r in QUEUES.items() if "RedrivePolicy" not in r["Properties"]}
    assert all(f"${{{q}.QueueName}}" in body for q in dlqs)
    assert all(f"${{{f}}}" in body for f in FUNCTIONS)


def test_the_workers_know_after_how_many_receives_a_message_is_dead_lettered():
    told = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["MAX_RECEIVE_COUNT"]
    counts = {
        q: r["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        for q, r in QUEUES.items()
        if "RedrivePolicy" in r["Properties"]
    }
    assert len(counts) == 6
    assert set(counts.values()) == {told}


def test_scheduler_runs_hourly_and_polls_qbt_every_few_minutes():
    events = FUNCTIONS["SchedulerFunction"].events
    assert {e["Type"] for e in events.values()} == {"Schedule"}
    assert events["Hourly"]["Properties"]["Schedule"] == "rate(1 hour)"
    # QuickBooks Time sends no webhooks: its poll, every QbtPollMinutes (5 by default)
    poll = events["QbtPoll"]["Properties"]
    assert poll["Schedule"] == {"Fn::Sub": "rate(${QbtPollMinutes} minutes)"}
    assert poll["Name"] == {"Fn::Sub": "booksync-${Stage}-qbt-poll"}
    assert TEMPLATE["Parameters"]["QbtPollMinutes"]["Default"] == 5


def test_no_secret_has_a_default_value():
    # an optional secret (the webhook key being rotated out) may default to nothing
    for name, spec in TEMPLATE["Parameters"].items():
        if spec.get("NoEcho"):
            assert spec.get("Default", "") == "", name
            assert "Default" not in spec or name.endswith("Previous"), name
