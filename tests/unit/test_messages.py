import json

import pytest

from booksync.engine.messages import (
    MessageInvalid,
    Pull,
    PushRecord,
    decode,
    encode,
    push_messages,
)


def test_push_message_round_trips_through_its_encoding():
    message = PushRecord(
        tenant_id="t1",
        connection_id="c1",
        provider="qbo",
        kind="contact",
        record_id="r1",
        version=3,
    )
    assert decode(encode(message)) == message


def test_same_message_gets_same_dedup_id_and_a_new_version_a_new_one():
    a = PushRecord(
        tenant_id="t1",
        connection_id="c1",
        provider="qbo",
        kind="contact",
        record_id="r1",
        version=3,
    )
    b = a.model_copy(update={"version": 4})
    assert a.dedup_id() == PushRecord(**a.model_dump()).dedup_id()
    assert a.dedup_id() != b.dedup_id()
    assert a.group_id() == "c1"


def test_unknown_schema_version_is_refused():
    with pytest.raises(MessageInvalid, match="unknown schema version 2"):
        decode(json.dumps({"v": 2, "type": "pull"}))


def test_invalid_field_is_named():
    body = {"v": 1, "type": "pull", "tenant_id": "t", "connection_id": "c", "provider": "sage"}
    with pytest.raises(MessageInvalid, match="provider"):
        decode(json.dumps(body))


def test_body_that_is_not_json_is_refused():
    with pytest.raises(MessageInvalid, match="not JSON"):
        decode("{oops")


def test_unexpected_field_is_refused_so_tokens_cannot_ride_along():
    body = Pull(tenant_id="t", connection_id="c", provider="xero").model_dump()
    body["access_token"] = "secret"
    with pytest.raises(MessageInvalid, match="access_token"):
        decode(json.dumps(body))


def test_bulk_pushes_are_bundled_to_the_providers_batch_and_a_bundle_of_one_is_plain():
    refs = [(f"r{i}", 1) for i in range(61)]
    messages = push_messages("t1", "c1", "qbo", "contact", refs, 30)
    assert [type(m).__name__ for m in messages] == ["PushRecords", "PushRecords", "PushRecord"]
    assert [len(m.each()) for m in messages[:2]] == [30, 30]
    assert messages[2].record_id == "r60"
    assert decode(encode(messages[0])) == messages[0]
    assert [p.record_id for p in messages[1].each()][:2] == ["r30", "r31"]


def test_a_bundle_larger_than_any_provider_batch_is_refused():
    refs = [{"record_id": f"r{i}", "version": 1} for i in range(51)]
    body = {"v": 1, "type": "push_many", "tenant_id": "t", "connection_id": "c"}
    with pytest.raises(MessageInvalid, match="records"):
        decode({**body, "provider": "xero", "kind": "contact", "records": refs})


def test_a_companys_pushes_and_its_pull_never_exceed_its_concurrent_calls():
    from booksync.engine.budget import CONCURRENCY
    from booksync.engine.outbox import shard_of

    for provider, limit in CONCURRENCY.items():
        shards = {shard_of(provider, "contact", f"r{i}", {}) for i in range(500)}
        # each shard is a FIFO group (one invocation at a time), and the pull one more
        assert len(shards) + 1 == limit, provider
