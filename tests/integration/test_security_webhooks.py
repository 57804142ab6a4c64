"""Webhook intake read as an attacker: bodies over the size cap are refused before any
signature is computed, and during a key rotation the old key and the new are accepted
(and nothing else)."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities import parameters

from booksync.connections import webhooks
from tests.conftest import lambda_context
from tests.integration.test_webhooks import sign, webhook_key


def _event(provider: str, body: str, signature: str | None) -> dict:
    header = webhooks.SIGNATURE_HEADERS[provider]
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers[header] = signature
    return {
        "version": "2.0",
        "routeKey": f"POST /webhooks/{provider}",
        "rawPath": f"/webhooks/{provider}",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": "POST", "path": f"/webhooks/{provider}"},
            "requestId": "r1",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _queued(stack_env) -> int:
    sqs = stack_env.client("sqs")
    total = 0
    for logical in ("QboPullQueue", "XeroPullQueue"):
        attrs = sqs.get_queue_attributes(
            QueueUrl=stack_env.queue_url(logical), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        total += int(attrs["ApproximateNumberOfMessages"])
    return total


@pytest.fixture
def deliver(handler):
    fn = handler("webhooks")
    return lambda event: fn(event, lambda_context("webhooks"))


@pytest.mark.parametrize("provider", ["qbo", "xero"])
def test_a_body_over_the_cap_is_refused_before_its_signature_is_checked(
    deliver, stack_env, monkeypatch, provider
):
    checked = []
    monkeypatch.setattr(webhooks, "signed_by_any", lambda *a: checked.append(a) or True)
    body = json.dumps({"events": [], "pad": "x" * (webhooks.MAX_BODY_BYTES + 1)})
    answer = deliver(_event(provider, body, "c2lnbmF0dXJl"))
    assert answer["statusCode"] == 413
    assert checked == []
    assert _queued(stack_env) == 0


def _rotate(stack_env, provider: str, previous: str) -> str:
    """Put a new key in front and keep the old one second, as a rotation does."""
    sm = stack_env.client("secretsmanager")
    name = stack_env.env["WEBHOOK_SECRETS_NAME"]
    keys = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    keys[provider] = ["the-new-key", previous]
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(keys))
    parameters.clear_caches()
    return "the-new-key"


@pytest.mark.parametrize("provider", ["qbo", "xero"])
def test_during_a_rotation_the_old_and_the_new_key_are_accepted(deliver, stack_env, provider):
    old = webhook_key(stack_env, provider)
    new = _rotate(stack_env, provider, old)
    body = (
        json.dumps({"eventNotifications": []})
        if provider == "qbo"
        else json.dumps({"events": [], "firstEventSequence": 0, "lastEventSequence": 0})
    )
    assert deliver(_event(provider, body, sign(new, body.encode())))["statusCode"] == 200
    assert deliver(_event(provider, body, sign(old, body.encode())))["statusCode"] == 200
    assert deliver(_event(provider, body, sign("guess", body.encode())))["statusCode"] == 401
    assert deliver(_event(provider, body, None))["statusCode"] == 401


def test_an_empty_previous_key_accepts_nothing_extra(deliver, stack_env):
    body = json.dumps({"eventNotifications": []})
    assert deliver(_event("qbo", body, sign("", body.encode())))["statusCode"] == 401


def test_the_webhooks_function_reads_no_client_secret(stack_env, monkeypatch):
    from booksync.secrets import webhook_keys
    from booksync.settings import get_settings

    read = []
    real = parameters.get_secret
    monkeypatch.setattr(
        parameters, "get_secret", lambda name, **kw: read.append(name) or real(name, **kw)
    )
    assert webhook_keys(get_settings(), "qbo")
    assert read == [stack_env.env["WEBHOOK_SECRETS_NAME"]]
