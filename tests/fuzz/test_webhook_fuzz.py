"""A property-based webhook fuzzer (hypothesis) through the real webhooks handler, against
moto, for each provider: bodies that are valid deliveries, mutated ones and noise, signed
with the current key, the key being rotated out, a wrong key, a signature of another body,
or none; headers in any case; base64 or not; sizes up to past the cap.

Holds: no 5xx; nothing is queued unless the body carries a valid signature; a valid,
well-formed delivery for a connected company queues its pull. `FUZZ_WEBHOOK_CASES` is the
number of cases per provider (default 150; `make fuzz` 5,000 each); figures are printed.
"""

from __future__ import annotations

import base64
import json
import os
from collections import Counter

import pytest
from aws_lambda_powertools.utilities import parameters
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from booksync.connections import webhooks
from booksync.engine.queues import Enqueuer
from booksync.store import connections as connection_rows
from tests.conftest import lambda_context
from tests.integration.test_webhooks import sign

CASES = int(os.environ.get("FUZZ_WEBHOOK_CASES", "150"))
REALM = "9341453050000000"
ORG = "a3b1c9e2-5f4d-4c7a-9e8b-1d2f3a4b5c6d"
OLD_KEY = "the-key-being-rotated-out"


def _qbo_bodies():
    entity = st.fixed_dictionaries(
        {
            "name": st.sampled_from(["Customer", "Employee", "Invoice", "Payment"]),
            "id": st.text(min_size=0, max_size=8),
            "operation": st.sampled_from(["Create", "Update", "Delete", "Merge", ""]),
            "lastUpdated": st.just("2026-11-30T10:00:00-0700"),
        }
    )
    realm = st.one_of(st.just(REALM), st.text(max_size=20))
    legacy = st.builds(
        lambda notes: {"eventNotifications": notes},
        st.lists(
            st.fixed_dictionaries(
                {
                    "realmId": realm,
                    "dataChangeEvent": st.fixed_dictionaries(
                        {"entities": st.lists(entity, max_size=3)}
                    ),
                }
            ),
            max_size=3,
        ),
    )
    cloud = st.lists(
        st.fixed_dictionaries(
            {
                "specversion": st.just("1.0"),
                "id": st.uuids().map(str),
                "type": st.sampled_from(["qbo.customer.updated.v1", "qbo.invoice.created.v1"]),
                "intuitaccountid": realm,
                "intuitentityid": st.text(max_size=6),
                "data": st.just({}),
            }
        ),
        max_size=3,
    )
    return st.one_of(legacy, cloud)


def _xero_bodies():
    event = st.fixed_dictionaries(
        {
            "resourceUrl": st.just("https://api.xero.com/api.xro/2.0/Contacts/x"),
            "resourceId": st.uuids().map(str),
            "eventDateUtc": st.just("2026-11-30T10:00:00.000"),
            "eventType": st.sampled_from(["CREATE", "UPDATE"]),
            "eventCategory": st.sampled_from(["CONTACT", "INVOICE"]),
            "tenantId": st.one_of(st.just(ORG), st.text(max_size=36)),
            "tenantType": st.just("ORGANISATION"),
        }
    )
    return st.builds(
        lambda events, seq: {
            "events": events,
            "firstEventSequence": seq,
            "lastEventSequence": seq,
            "entropy": "ABCDEF",
        },
        st.lists(event, max_size=3),
        st.integers(min_value=0, max_value=10**6),
    )


JSON_NOISE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def deliveries(draw, provider: str):
    shaped = draw(_qbo_bodies() if provider == "qbo" else _xero_bodies())
    kind = draw(st.sampled_from(["valid", "valid", "noise", "mutated", "bytes", "oversize"]))
    if kind == "valid":
        body = json.dumps(shaped).encode()
    elif kind == "noise":
        body = json.dumps(draw(JSON_NOISE)).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    elif kind == "oversize":
        body = json.dumps(
            {
                **(shaped if isinstance(shaped, dict) else {"x": shaped}),
                "pad": "x" * (webhooks.MAX_BODY_BYTES + draw(st.integers(0, 2000))),
            }
        ).encode()
    else:
        raw = bytearray(json.dumps(shaped).encode())
        for _ in range(draw(st.integers(1, 4))):
            if not raw:
                break
            at = draw(st.integers(0, len(raw) - 1))
            op = draw(st.sampled_from(["flip", "drop", "insert"]))
            if op == "flip":
                raw[at] ^= draw(st.integers(1, 255))
            elif op == "drop":
                del raw[at]
            else:
                raw.insert(at, draw(st.integers(0, 255)))
        body = bytes(raw)
    signing = draw(
        st.sampled_from(
            ["current", "previous", "wrong-key", "other-body", "garbage", "none", "empty"]
        )
    )
    header = webhooks.SIGNATURE_HEADERS[provider]
    header = draw(st.sampled_from([header, header.upper(), header.title()]))
    as_base64 = draw(st.booleans())
    extra = draw(
        st.dictionaries(
            st.sampled_from(["x-forwarded-proto", "content-type", "x-amz-date", "intuit-t-id"]),
            st.text(max_size=30),
            max_size=3,
        )
    )
    return {
        "body": body,
        "signing": signing,
        "header": header,
        "base64": as_base64,
        "extra": extra,
        "kind": kind,
    }


@pytest.fixture
def intake(handler, stack_env, monkeypatch):
    """The webhooks handler with a connected QBO realm and Xero organisation, a rotation
    under way (two keys valid), and every queued pull recorded."""
    for provider, company in (("qbo", REALM), ("xero", ORG)):
        conn = connection_rows.new("tenant-fuzz", provider, f"conn-{provider}")
        conn.company_id = company
        conn.company_key = f"{provider}#{company}"
        conn.status = "active"
        connection_rows.save(conn)
    sm = stack_env.client("secretsmanager")
    name = stack_env.env["WEBHOOK_SECRETS_NAME"]
    keys = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    current = {p: keys[p][0] for p in ("qbo", "xero")}
    sm.put_secret_value(
        SecretId=name, SecretString=json.dumps({p: [current[p], OLD_KEY] for p in current})
    )
    parameters.clear_caches()
    queued: list[str] = []
    monkeypatch.setattr(
        Enqueuer, "send", lambda self, message: queued.append(message.connection_id)
    )
    return handler("webhooks"), current, queued


def _event(provider: str, case: dict, current: str) -> dict:
    body: bytes = case["body"]
    signature = {
        "current": sign(current, body),
        "previous": sign(OLD_KEY, body),
        "wrong-key": sign("not-the-key", body),
        "other-body": sign(current, body + b" "),
        "garbage": "bm90IGEgc2lnbmF0dXJl",
        "empty": "",
        "none": None,
    }[case["signing"]]
    headers = dict(case["extra"])
    if signature is not None:
        headers[case["header"]] = signature
    return {
        "version": "2.0",
        "routeKey": f"POST /webhooks/{provider}",
        "rawPath": f"/webhooks/{provider}",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": "POST", "path": f"/webhooks/{provider}"},
            "requestId": "fuzz",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
        },
        "body": base64.b64encode(body).decode()
        if case["base64"]
        else body.decode("utf-8", "replace"),
        "isBase64Encoded": case["base64"],
    }


@pytest.mark.parametrize("provider", ["qbo", "xero"])
def test_webhook_fuzz(intake, provider, capsys):
    handler, current, queued = intake
    figures: Counter[str] = Counter()

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=deliveries(provider))
    def one(case):
        event = _event(provider, case, current[provider])
        sent_text = event["body"] if case["base64"] else None
        before = len(queued)
        answer = handler(event, lambda_context("webhooks"))
        status = answer["statusCode"]
        figures["cases"] += 1
        figures[f"status {status}"] += 1
        assert status < 500, (case["kind"], case["signing"], answer)
        signed = case["signing"] in ("current", "previous") and (
            case["base64"] or event["body"].encode() == case["body"]  # text bodies as sent
        )
        if len(queued) > before:
            figures["queued"] += 1
            assert signed, ("queued with a bad signature", case["signing"])
        if not signed:
            assert status in (401, 413, 400) or case["kind"] == "oversize", answer
        if case["kind"] == "oversize":
            assert status == 413
        del sent_text

    one()
    with capsys.disabled():
        print(
            f"\nwebhook fuzz {provider}: {figures['cases']} cases, "
            + ", ".join(f"{k}: {v}" for k, v in sorted(figures.items()) if k != "cases")
            + ", 5xx: 0, queued with a bad signature: 0"
        )
    assert figures["cases"] >= CASES * 0.9
