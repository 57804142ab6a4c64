"""Each function's rights, read from template.yaml and held to the table below: a new right
is a visible change to this file. Also the KMS conditions, the alarm topic's key and the
log level values Lambda takes."""

from __future__ import annotations

import logging

import pytest

from local import template as tpl

TEMPLATE = tpl.load()
FUNCTIONS = tpl.resources(TEMPLATE, "AWS::Serverless::Function")

WORKER_QUEUES = {f"send:{p}{d}Queue" for p in ("Qbo", "Qbt", "Xero") for d in ("Push", "Pull")}
PROVIDER_CONFIG = "ssm:provider-config"


def _worker(p: str, direction: str) -> set[str]:
    common = {
        "crud:ConnectionsTable",
        "crud:LinksTable",
        "crud:SyncErrorsTable",
        "crud:LeasesTable",
        f"kms:{p.lower()}",
        "secret:ProviderSecrets",
        PROVIDER_CONFIG,
        f"send:{p}{direction}DeadLetterQueue",
    }
    if direction == "Push":
        return common | {"read:RecordsTable"}
    # a pull writes records and cursors, and sends a hub edit that won to its provider
    return common | {"crud:RecordsTable", "crud:CursorsTable", f"send:{p}PushQueue"}


# What each function may do. Everything not here is denied.
RIGHTS: dict[str, set[str]] = {
    "ApiFunction": {
        "read:TenantsTable",
        "crud:ApiKeysTable",
        "crud:ConnectionsTable",
        "crud:RecordsTable",
        "crud:LinksTable",
        "crud:CursorsTable",
        "crud:SyncErrorsTable",
        "crud:LeasesTable",
        "kms:qbo,qbt,xero",
        "secret:ProviderSecrets",
        PROVIDER_CONFIG,
        *WORKER_QUEUES,
    },
    "OAuthFunction": {
        "crud:TenantsTable",  # company claims live there
        "crud:ApiKeysTable",
        "crud:ConnectionsTable",
        "read:RecordsTable",
        "crud:LinksTable",
        "crud:SyncErrorsTable",
        "crud:LeasesTable",
        "kms:qbo,qbt,xero",
        "secret:ProviderSecrets",
        "secret:OAuthStateSecret",
        PROVIDER_CONFIG,
        *WORKER_QUEUES,
    },
    # verify a signature, find the connection, queue a pull: no tokens, no client secrets
    "WebhooksFunction": {
        "read:ConnectionsTable",
        "crud:IdempotencyTable",
        "secret:WebhookSecrets",
        "send:QboPullQueue",
        "send:XeroPullQueue",
    },
    "SchedulerFunction": {
        "crud:ConnectionsTable",
        "read:RecordsTable",
        "read:LinksTable",
        "crud:CursorsTable",
        "crud:SyncErrorsTable",
        "crud:LeasesTable",
        "kms:qbo,qbt,xero",
        "secret:ProviderSecrets",
        PROVIDER_CONFIG,
        *WORKER_QUEUES,
    },
    "FanoutFunction": {
        "read:ConnectionsTable",
        "send:QboPushQueue",
        "send:QbtPushQueue",
        "send:XeroPushQueue",
        "send:FanoutFailureQueue",
    },
    **{f"{p}{d}Function": _worker(p, d) for p in ("Qbo", "Qbt", "Xero") for d in ("Push", "Pull")},
}


def _ref(value) -> str:
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            return (sub if isinstance(sub, str) else sub[0]).rsplit("/", 1)[-1]
    return str(value)


TEMPLATES = {
    "DynamoDBCrudPolicy": ("crud", "TableName"),
    "DynamoDBReadPolicy": ("read", "TableName"),
    "SQSSendMessagePolicy": ("send", "QueueName"),
    "AWSSecretsManagerGetSecretValuePolicy": ("secret", "SecretArn"),
    "SSMParameterReadPolicy": ("ssm", "ParameterName"),
}


def _kms_statements(fn: str) -> list[dict]:
    out = []
    for policy in FUNCTIONS[fn]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if "Statement" in policy else []:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if any(a.startswith("kms:") for a in actions):
                out.append(statement)
    return out


def rights_of(fn: str) -> set[str]:
    found: set[str] = set()
    for policy in FUNCTIONS[fn]["Properties"].get("Policies", []):
        if isinstance(policy, str):
            found.add(f"managed:{policy}")
            continue
        if "Statement" in policy:
            for statement in policy["Statement"]:
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert all(a.startswith("kms:") for a in actions), statement
                providers = statement["Condition"]["StringEquals"]["kms:EncryptionContext:provider"]
                found.add("kms:" + ",".join(sorted(providers)))
            continue
        ((name, args),) = policy.items()
        assert name in TEMPLATES, f"{fn}: unexpected policy {name}"
        kind, key = TEMPLATES[name]
        found.add(f"{kind}:{_ref(args[key])}")
    return found


def test_every_function_is_in_the_table():
    assert set(FUNCTIONS) == set(RIGHTS)


@pytest.mark.parametrize("fn", sorted(RIGHTS))
def test_each_function_has_exactly_the_rights_in_the_table(fn):
    assert rights_of(fn) == RIGHTS[fn]


def test_the_webhooks_function_cannot_open_any_token():
    assert _kms_statements("WebhooksFunction") == []
    assert not any(r.startswith(("kms:", "secret:Provider")) for r in rights_of("WebhooksFunction"))


@pytest.mark.parametrize("fn", sorted(f for f in RIGHTS if _kms_statements(f)))
def test_kms_is_allowed_only_with_booksyncs_encryption_context(fn):
    for statement in _kms_statements(fn):
        assert statement["Resource"] == {"Fn::GetAtt": ["TokenKey", "Arn"]}
        condition = statement["Condition"]
        assert "kms:EncryptionContext:provider" in condition["StringEquals"]
        assert condition["Null"]["kms:EncryptionContext:tenant_id"] == "false"
        if statement["Action"] == "kms:Encrypt":
            # new seals always name the connection (older ones may still be opened)
            assert condition["Null"]["kms:EncryptionContext:connection_id"] == "false"


@pytest.mark.parametrize("p", ["qbo", "qbt", "xero"])
def test_a_worker_opens_only_its_own_providers_tokens(p):
    for direction in ("Push", "Pull"):
        fn = f"{p.title()}{direction}Function"
        for statement in _kms_statements(fn):
            assert statement["Condition"]["StringEquals"]["kms:EncryptionContext:provider"] == [p]


def test_no_function_has_a_wildcard_or_managed_policy():
    for fn in FUNCTIONS:
        assert not any(r.startswith("managed:") for r in rights_of(fn)), fn


# ---------------------------------------------------------------- alarms reach the topic


def test_the_alarm_topic_uses_a_key_cloudwatch_may_use():
    topic = TEMPLATE["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] != "alias/aws/sns"  # CloudWatch cannot use the AWS key
    key = TEMPLATE["Resources"][topic["KmsMasterKeyId"]["Ref"]]
    assert key["Type"] == "AWS::KMS::Key"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [
        s for s in statements if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch, "the key policy must let CloudWatch alarms use the key"
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])


def test_every_alarm_notifies_the_topic():
    for name, alarm in tpl.resources(TEMPLATE, "AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name


# ---------------------------------------------------------------- log level

LAMBDA_APPLICATION_LOG_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}


def test_every_log_level_the_stack_offers_is_one_lambda_takes():
    allowed = TEMPLATE["Parameters"]["LogLevel"]["AllowedValues"]
    assert set(allowed) <= LAMBDA_APPLICATION_LOG_LEVELS
    assert TEMPLATE["Parameters"]["LogLevel"]["Default"] in allowed
    glob = TEMPLATE["Globals"]["Function"]
    assert glob["LoggingConfig"]["ApplicationLogLevel"] == {"Ref": "LogLevel"}


def test_every_log_level_is_also_one_python_logging_knows():
    # POWERTOOLS_LOG_LEVEL gets the same value
    for level in TEMPLATE["Parameters"]["LogLevel"]["AllowedValues"]:
        assert isinstance(logging.getLevelName(level), int), level
