"""The webhooks function, called as API Gateway calls it, against template.yaml's tables and
queues in moto: signatures, body shapes, routing to connections, de-duplication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from booksync.observability import logger
from booksync.settings import get_settings
from booksync.store.models import Connection, bind_tables
from tests.conftest import StackEnv, lambda_context, load_handler

REALM_A = "9341453050000000"
REALM_B = "4620816365200000"
XERO_ORG = "a3b1c9e2-5f4d-4c7a-9e8b-1d2f3a4b5c6d"


# ---------------------------------------------------------------- helpers


def webhook_key(stack_env: StackEnv, provider: str) -> str:
    """The key booksync verifies with, read where the stack keeps it."""
    name = stack_env.env["WEBHOOK_SECRETS_NAME"]
    secret = json.loads(
        stack_env.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    )
    return str(secret[provider][0])


def sign(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


SIGNATURE_HEADER = {"qbo": "intuit-signature", "xero": "x-xero-signature"}


def api_event(
    provider: str, body: bytes, signature: str | None, *, base64_body: bool = False
) -> dict[str, Any]:
    headers = {"content-type": "application/json", "host": "abc123.execute-api.test"}
    if signature is not None:
        headers[SIGNATURE_HEADER[provider]] = signature
    return {
        "version": "2.0",
        "routeKey": f"POST /webhooks/{provider}",
        "rawPath": f"/webhooks/{provider}",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": "POST", "path": f"/webhooks/{provider}"},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"POST /webhooks/{provider}",
            "stage": "$default",
        },
        "isBase64Encoded": base64_body,
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
    }


def add_connection(
    provider: str, company_id: str, *, tenant_id: str | None = None, status: str = "active"
) -> Connection:
    """A connection as OAuth callback will leave it (until OAuth lands)."""
    bind_tables(get_settings().tables)
    conn = Connection(
        tenant_id or f"t-{uuid.uuid4().hex[:8]}",
        provider,
        connection_id=f"c-{uuid.uuid4().hex[:12]}",
        company_key=f"{provider}#{company_id}",
        company_id=company_id,
        status=status,
    )
    conn.save()
    return conn


def drain(stack_env: StackEnv, logical_queue: str) -> list[dict[str, Any]]:
    """Every message now on a queue: (group id, decoded body)."""
    sqs = stack_env.client("sqs")
    url = stack_env.queue_url(logical_queue)
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=300,
            AttributeNames=["MessageGroupId"],
        ).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append({"group": m["Attributes"]["MessageGroupId"], **json.loads(m["Body"])})


def qbo_legacy(*realms: str) -> bytes:
    return json.dumps(
        {
            "eventNotifications": [
                {
                    "realmId": realm,
                    "dataChangeEvent": {
                        "entities": [
                            {
                                "name": "Customer",
                                "id": str(n),
                                "operation": "Update",
                                "lastUpdated": "2026-11-26T14:00:00.000Z",
                            }
                            for n in (1, 2)
                        ]
                    },
                }
                for realm in realms
            ]
        }
    ).encode()


def qbo_cloudevents(*realms: str) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
                "type": "qbo.customer.updated.v1",
                "datacontenttype": "application/json",
                "time": "2026-11-26T14:00:00.000Z",
                "intuitentityid": str(n),
                "intuitaccountid": realm,
                "data": {},
            }
            for n, realm in enumerate(realms, start=1)
        ]
    ).encode()


def xero_body(*tenant_ids: str) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{uuid.uuid4()}",
                    "resourceId": str(uuid.uuid4()),
                    "eventDateUtc": "2026-11-26T14:00:00.000",
                    "eventType": "UPDATE",
                    "eventCategory": "CONTACT",
                    "tenantId": tenant_id,
                    "tenantType": "ORGANISATION",
                }
                for tenant_id in tenant_ids
            ],
            "firstEventSequence": 1,
            "lastEventSequence": len(tenant_ids),
            "entropy": "S0MEENTROPYS7RING",
        },
        separators=(",", ":"),
    ).encode()


INTENT_TO_RECEIVE = (
    b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"QWERTYUIOPASDFGH"}'
)


@pytest.fixture
def function(stack_env: StackEnv, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """functions/webhooks/app.py after a cold start against the moto stack."""
    parameters.clear_caches()  # a cold start: Powertools' secret cache starts empty
    return load_handler("webhooks", monkeypatch)


@pytest.fixture
def deliver(stack_env: StackEnv, function: ModuleType):  # type: ignore[no-untyped-def]
    """deliver(provider, body, signature=<good>) -> the API Gateway answer."""

    def call(provider: str, body: bytes, signature: str | None = "good", **kw: Any) -> Any:
        if signature == "good":
            signature = sign(webhook_key(stack_env, provider), body)
        event = api_event(provider, body, signature, **kw)
        return function.lambda_handler(event, lambda_context("webhooks"))

    return call


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """logs() -> the JSON lines booksync's logger wrote during the test."""
    stream = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.setStream(previous)  # type: ignore[attr-defined]


def problem(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["headers"]["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(answer["body"])
    return body


# ---------------------------------------------------------------- signatures


def test_qbo_delivery_without_signature_gets_401_and_queues_nothing(deliver, stack_env):
    add_connection("qbo", REALM_A)

    answer = deliver("qbo", qbo_legacy(REALM_A), signature=None)

    assert answer["statusCode"] == 401
    assert problem(answer)["status"] == 401
    assert drain(stack_env, "QboPullQueue") == []


def test_qbo_delivery_signed_with_another_key_gets_401(deliver, stack_env):
    add_connection("qbo", REALM_A)
    body = qbo_legacy(REALM_A)

    answer = deliver("qbo", body, signature=sign("not-the-verifier-token", body))

    assert answer["statusCode"] == 401
    assert drain(stack_env, "QboPullQueue") == []


def test_signature_over_other_bytes_than_the_body_gets_401(deliver, stack_env):
    # Re-serialising the JSON (spaces) changes the bytes: the signature covers the raw body.
    add_connection("qbo", REALM_A)
    body = qbo_legacy(REALM_A)
    reformatted = json.dumps(json.loads(body), separators=(",", ":")).encode()

    answer = deliver("qbo", reformatted, signature=sign(webhook_key(stack_env, "qbo"), body))

    assert answer["statusCode"] == 401


# ---------------------------------------------------------------- malformed bodies


def test_signed_qbo_body_that_is_not_json_gets_400_problem(deliver):
    answer = deliver("qbo", b"eventNotifications=1")

    assert answer["statusCode"] == 400
    assert "not JSON" in problem(answer)["detail"]


def test_signed_qbo_body_without_realm_gets_400_naming_the_field(deliver):
    body = json.dumps({"eventNotifications": [{"dataChangeEvent": {"entities": []}}]}).encode()

    answer = deliver("qbo", body)

    assert answer["statusCode"] == 400
    assert problem(answer)["field"] == "eventNotifications[0].realmId"


def test_signed_qbo_object_of_unknown_shape_gets_400(deliver):
    answer = deliver("qbo", b'{"hello": "world"}')

    assert answer["statusCode"] == 400
    assert "eventNotifications" in problem(answer)["detail"]


def test_signed_cloudevent_without_account_id_gets_400_naming_the_field(deliver):
    events = json.loads(qbo_cloudevents(REALM_A))
    del events[0]["intuitaccountid"]

    answer = deliver("qbo", json.dumps(events).encode())

    assert answer["statusCode"] == 400
    assert problem(answer)["field"] == "[0].intuitaccountid"


# ---------------------------------------------------------------- routing


def _notice(realm: str, *names: str) -> bytes:
    entities = [
        {"name": name, "id": str(n), "operation": "Create", "lastUpdated": "2026-11-26T14:00:00Z"}
        for n, name in enumerate(names, start=1)
    ]
    return json.dumps(
        {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": entities}}]}
    ).encode()


def test_a_notice_only_of_entities_booksync_does_not_read_queues_no_pull(deliver, stack_env):
    # booksync writes time activities and reads none: their notices would cost a pull each,
    # out of the same 500 a minute the writes need
    add_connection("qbo", REALM_A)
    answer = deliver("qbo", _notice(REALM_A, "TimeActivity", "TimeActivity"))
    assert answer["statusCode"] == 200
    assert drain(stack_env, "QboPullQueue") == []
    # a notice that also names a customer is a reason to read
    assert deliver("qbo", _notice(REALM_A, "TimeActivity", "Customer"))["statusCode"] == 200
    assert len(drain(stack_env, "QboPullQueue")) == 1
    cloud = json.loads(qbo_cloudevents(REALM_A))
    cloud[0]["type"] = "qbo.timeactivity.created.v1"
    assert deliver("qbo", json.dumps(cloud).encode())["statusCode"] == 200
    assert drain(stack_env, "QboPullQueue") == []


def test_valid_qbo_delivery_queues_one_pull_for_the_connection(deliver, stack_env):
    conn = add_connection("qbo", REALM_A)

    answer = deliver("qbo", qbo_legacy(REALM_A))  # two entity events for one realm

    assert answer["statusCode"] == 200
    [pull] = drain(stack_env, "QboPullQueue")
    assert pull["group"] == conn.connection_id
    assert pull["type"] == "pull"
    assert pull["reason"] == "webhook"
    assert pull["tenant_id"] == conn.tenant_id
    assert pull["connection_id"] == conn.connection_id
    assert pull["trigger"].endswith(REALM_A)


def test_base64_encoded_body_is_verified_on_its_decoded_bytes(deliver, stack_env):
    conn = add_connection("qbo", REALM_A)

    answer = deliver("qbo", qbo_legacy(REALM_A), base64_body=True)

    assert answer["statusCode"] == 200
    assert [p["connection_id"] for p in drain(stack_env, "QboPullQueue")] == [conn.connection_id]


def test_legacy_body_with_two_realms_reaches_each_tenants_connection(deliver, stack_env):
    first = add_connection("qbo", REALM_A, tenant_id="t-first")
    second = add_connection("qbo", REALM_B, tenant_id="t-second")

    answer = deliver("qbo", qbo_legacy(REALM_A, REALM_B))

    assert answer["statusCode"] == 200
    pulls = drain(stack_env, "QboPullQueue")
    assert sorted((p["tenant_id"], p["connection_id"], p["group"]) for p in pulls) == [
        ("t-first", first.connection_id, first.connection_id),
        ("t-second", second.connection_id, second.connection_id),
    ]


def test_cloudevents_array_mixing_realms_gives_one_pull_per_connection(deliver, stack_env):
    first = add_connection("qbo", REALM_A, tenant_id="t-first")
    second = add_connection("qbo", REALM_B, tenant_id="t-second")

    answer = deliver("qbo", qbo_cloudevents(REALM_A, REALM_B, REALM_A))

    assert answer["statusCode"] == 200
    pulls = drain(stack_env, "QboPullQueue")
    assert sorted((p["tenant_id"], p["group"]) for p in pulls) == [
        ("t-first", first.connection_id),
        ("t-second", second.connection_id),
    ]


def test_unknown_company_gets_200_queues_nothing_and_warns(deliver, stack_env, logs):
    answer = deliver("qbo", qbo_legacy(REALM_B))

    assert answer["statusCode"] == 200
    assert drain(stack_env, "QboPullQueue") == []
    warned = [entry for entry in logs() if entry["level"] == "WARNING"]
    assert [(w["provider"], w["company_id"]) for w in warned] == [("qbo", REALM_B)]


def test_inactive_connection_gets_200_and_no_pull(deliver, stack_env):
    add_connection("qbo", REALM_A, status="needs_reauth")

    answer = deliver("qbo", qbo_legacy(REALM_A))

    assert answer["statusCode"] == 200
    assert drain(stack_env, "QboPullQueue") == []


def test_logs_name_ids_and_never_the_key_or_signature(deliver, stack_env, logs):
    conn = add_connection("qbo", REALM_A)
    body = qbo_legacy(REALM_A)
    key = webhook_key(stack_env, "qbo")
    signature = sign(key, body)

    deliver("qbo", body, signature=signature)
    deliver("qbo", body, signature=sign("wrong", body))

    written = json.dumps(logs())
    assert key not in written
    assert signature not in written
    queued = [e for e in logs() if e["message"] == "webhook pull queued"]
    assert [(e["tenant_id"], e["connection_id"], e["company_id"]) for e in queued] == [
        (conn.tenant_id, conn.connection_id, REALM_A)
    ]


# ---------------------------------------------------------------- repeated deliveries


def test_repeated_delivery_is_queued_once_and_remembered_past_qbos_days_of_retries(
    deliver, stack_env, function, monkeypatch
):
    # Given a delivery that was handled
    conn = add_connection("qbo", REALM_A)
    body = qbo_legacy(REALM_A)
    assert deliver("qbo", body)["statusCode"] == 200

    # When the provider sends the same body again. SQS's FIFO de-duplication would hide
    # a second send inside 5 minutes but not after, so count the sends themselves.
    sqs = function.runtime.clients.sqs
    sends: list[dict[str, Any]] = []
    send = sqs.send_message
    monkeypatch.setattr(sqs, "send_message", lambda **kw: sends.append(kw) or send(**kw))
    answer = deliver("qbo", body)

    # Then it is answered 200, nothing is sent, and the delivery is on record for 24 h
    assert answer["statusCode"] == 200
    assert sends == []
    assert [p["connection_id"] for p in drain(stack_env, "QboPullQueue")] == [conn.connection_id]
    items = stack_env.client("dynamodb").scan(TableName=stack_env.env["IDEMPOTENCY_TABLE"])["Items"]
    assert len(items) == 1
    assert items[0]["status"]["S"] == "COMPLETED"
    # QBO retries every 6 hours for days: the delivery is remembered 8 days
    assert 7 * 86400 < int(items[0]["expiration"]["N"]) - time.time() <= 8 * 86400


def test_a_different_delivery_for_the_same_company_queues_another_pull(deliver, stack_env):
    add_connection("qbo", REALM_A)

    deliver("qbo", qbo_legacy(REALM_A))
    deliver("qbo", qbo_cloudevents(REALM_A))

    assert len(drain(stack_env, "QboPullQueue")) == 2


# ---------------------------------------------------------------- xero


def test_valid_xero_delivery_gets_empty_200_and_one_pull_per_org(deliver, stack_env):
    conn = add_connection("xero", XERO_ORG)

    answer = deliver("xero", xero_body(XERO_ORG, XERO_ORG))

    assert answer == {"statusCode": 200, "body": ""}
    [pull] = drain(stack_env, "XeroPullQueue")
    assert (pull["group"], pull["tenant_id"], pull["provider"]) == (
        conn.connection_id,
        conn.tenant_id,
        "xero",
    )


def test_a_xero_pull_names_the_topics_of_its_orgs_events(deliver, stack_env):
    # Given two orgs: one whose contact changed, one whose invoice and contact changed
    contacts_only, both = "org-contacts-only", "org-both"
    add_connection("xero", contacts_only)
    add_connection("xero", both)
    body = json.loads(xero_body(contacts_only, both, both))
    body["events"][1]["eventCategory"] = "INVOICE"
    deliver("xero", json.dumps(body).encode())
    # Then each org's pull carries its own events' categories: its worker reads only the
    # sources they may concern (Xero contacts; payments, which move invoices)
    pulls = {p["group"]: p["topics"] for p in drain(stack_env, "XeroPullQueue")}
    assert sorted(pulls.values()) == [["CONTACT"], ["CONTACT", "INVOICE"]]


def test_xero_intent_to_receive_good_signature_gets_empty_200(deliver, stack_env):
    answer = deliver("xero", INTENT_TO_RECEIVE)

    assert answer == {"statusCode": 200, "body": ""}
    assert drain(stack_env, "XeroPullQueue") == []


def test_xero_intent_to_receive_bad_signature_gets_empty_401(deliver):
    answer = deliver("xero", INTENT_TO_RECEIVE, signature=sign("bad", INTENT_TO_RECEIVE))

    assert answer == {"statusCode": 401, "body": ""}


def test_xero_event_without_tenant_gets_400(deliver):
    body = json.loads(xero_body(XERO_ORG))
    del body["events"][0]["tenantId"]

    answer = deliver("xero", json.dumps(body).encode())

    assert answer["statusCode"] == 400
    assert problem(answer)["field"] == "events[0].tenantId"
