"""Every events/<function>/<case>.json (the events `sam local invoke -e` takes), run
through the real handler against moto, with the answer a caller would see."""

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities import parameters

from tests.conftest import lambda_context, load_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _status(answer):
    return answer["statusCode"], json.loads(answer["body"])


def _api_failures(answer):
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


# (function, case) -> check(answer). A new event file without a check fails the test below.
CHECKS = {
    ("api", "health"): lambda a: _status(a) == (200, {"status": "ok", "version": "0.1.0"}),
    ("api", "openapi"): lambda a: "/v1/contacts" in json.loads(a["body"])["paths"],
    ("api", "create_contact_without_key"): lambda a: (
        _status(a)[0] == 401 and a["headers"]["Content-Type"] == "application/problem+json"
    ),
    ("api", "create_contact"): lambda a: (
        _status(a)[0] == 201 and _status(a)[1]["name"] == "Acme Ltd"
    ),
    ("api", "create_contact_invalid_email"): lambda a: (
        _status(a)[0] == 400 and _status(a)[1]["field"] == "emails.0.address"
    ),
    ("api", "list_contacts"): lambda a: _status(a) == (200, {"items": [], "next_cursor": None}),
    # the person's browser goes to booksync's hand-off page first (it names the firm)
    ("oauth", "connect_qbo"): lambda a: (
        _status(a)[0] == 200
        and _status(a)[1]["authorize_url"].startswith(
            "https://abc123.execute-api.us-east-1.amazonaws.com/oauth/qbo/start?handoff="
        )
    ),
    # a client-set X-Forwarded-Proto does not make the redirect plain http
    ("oauth", "connect_qbo_forwarded_http"): lambda a: (
        _status(a)[0] == 200
        and _status(a)[1]["authorize_url"].startswith("https://abc123.execute-api")
    ),
    ("oauth", "connect_unknown_provider"): lambda a: _status(a)[0] == 404,
    ("webhooks", "qbo_unsigned"): lambda a: (
        _status(a)[0] == 401 and a["headers"]["Content-Type"] == "application/problem+json"
    ),
    ("webhooks", "qbo_legacy_signed"): lambda a: a == {"statusCode": 200, "body": ""},
    ("webhooks", "qbo_cloudevents_signed"): lambda a: a == {"statusCode": 200, "body": ""},
    ("webhooks", "qbo_malformed_signed"): lambda a: (
        _status(a)[0] == 400 and _status(a)[1]["field"] == "eventNotifications[0].realmId"
    ),
    ("webhooks", "xero_contact_update_signed"): lambda a: a == {"statusCode": 200, "body": ""},
    ("webhooks", "xero_intent_to_receive"): lambda a: a == {"statusCode": 200, "body": ""},
    ("webhooks", "xero_intent_to_receive_bad_signature"): lambda a: (
        a == {"statusCode": 401, "body": ""}
    ),
    ("fanout", "contact_created"): lambda a: a == {"batchItemFailures": []},
    ("scheduler", "qbt_poll"): lambda a: a == {"qbt_pulls_queued": 0},
    ("scheduler", "hourly"): lambda a: (
        a
        == {
            "reconciled": 0,
            "records_queued": 0,
            "pulls_queued": 0,
            "skipped": 0,
            "tokens_refreshed": 0,
            "refresh_failed": 0,
        }
    ),
}
for p in ("qbo", "qbt", "xero"):
    CHECKS[(f"{p}_pull", "reconcile")] = lambda a: a == {"batchItemFailures": []}
    # a message no worker can read goes straight to the dead-letter queue (test_worker.py)
    CHECKS[(f"{p}_pull", "invalid_message")] = lambda a: _api_failures(a) == []
    # the event's connection does not exist here: the message is dropped, not retried
    CHECKS[(f"{p}_push", "push_contact")] = lambda a: a == {"batchItemFailures": []}


def _sign_webhook(event, stack_env):
    """Webhook events carry `${SIGNATURE}`: sign the raw body with this stack's key."""
    headers = event.get("headers") or {}
    header = next((k for k, v in headers.items() if v == "${SIGNATURE}"), None)
    if header is None:
        return event
    name = stack_env.env["WEBHOOK_SECRETS_NAME"]
    keys = json.loads(
        stack_env.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    )
    key = keys["qbo" if header == "intuit-signature" else "xero"][0]
    digest = hmac.new(key.encode(), event["body"].encode(), hashlib.sha256).digest()
    headers[header] = base64.b64encode(digest).decode()
    parameters.clear_caches()  # this stack's key, not one a previous test's handler cached
    return event


CASES = sorted((p.parent.name, p.stem) for p in EVENTS.glob("*/*.json"))


def test_every_event_file_has_a_check():
    assert set(CASES) == set(CHECKS)


@pytest.mark.parametrize(("function", "case"), CASES)
def test_event_through_real_handler(function, case, handler, api_key, stack_env):
    event = _sign_webhook(load_event(f"{function}/{case}.json", API_KEY=api_key), stack_env)
    answer = handler(function)(event, lambda_context(function))
    assert CHECKS[(function, case)](answer), answer
