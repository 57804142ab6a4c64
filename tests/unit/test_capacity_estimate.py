"""The moto meter's estimate of DynamoDB capacity units (local/aws.py), checked against
DynamoDB's published sizing and billing rules."""

import pytest

from local.aws import (
    AwsMeter,
    TableSchema,
    Units,
    attribute_size,
    estimate_capacity,
    item_size,
    table_schemas,
)
from local.template import load

RECORDS = TableSchema(
    "Records",
    ("tenant_id", "record_key"),
    {"by_ref": ("tenant_id", "ref_key"), "by_updated": ("tenant_id", "updated_at")},
)
LINKS = TableSchema("Links", ("link_key", "hub_key"))
TABLES = {"stack-RecordsTable": RECORDS, "stack-LinksTable": LINKS}


def s(n: int) -> dict[str, str]:
    return {"S": "x" * n}


def test_sizes_follow_dynamodb_rules():
    assert attribute_size({"S": "héllo"}) == 6  # UTF-8 bytes
    assert attribute_size({"N": "12345"}) == 4  # 5 significant digits: 3 bytes + 1
    assert attribute_size({"N": "-0.0100"}) == 2  # one significant digit
    assert attribute_size({"B": "AAEC"}) == 3  # base64 of three bytes
    assert attribute_size({"BOOL": True}) == 1
    assert attribute_size({"NULL": True}) == 1
    assert attribute_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (2 + 1) + (2 + 1)
    assert attribute_size({"M": {"k": {"S": "ab"}}}) == 3 + (1 + 2 + 1)
    assert attribute_size({"SS": ["a", "bc"]}) == 3
    assert item_size({"name": {"S": "abc"}, "n": {"N": "7"}}) == (4 + 3) + (1 + 2)
    assert item_size(None) == 0


def test_get_item_strong_is_one_unit_per_4kb_eventual_half():
    item = {"pk": s(5000)}  # just over 4 KB
    strong = estimate_capacity(
        "GetItem", {"TableName": "stack-LinksTable", "ConsistentRead": True}, {"Item": item}, TABLES
    )
    eventual = estimate_capacity("GetItem", {"TableName": "stack-LinksTable"}, {}, TABLES)
    assert strong == {"Links": Units(read=2.0)}
    assert eventual == {"Links": Units(read=0.5)}  # not found: still the minimum


def test_batch_get_counts_each_item_and_each_missing_key():
    request = {
        "RequestItems": {
            "stack-LinksTable": {"Keys": [{}, {}, {}], "ConsistentRead": True},
        }
    }
    response = {"Responses": {"stack-LinksTable": [{"pk": s(100)}, {"pk": s(4100)}]}}
    units = estimate_capacity("BatchGetItem", request, response, TABLES)
    assert units == {"Links": Units(read=1.0 + 2.0 + 1.0)}


def test_query_sums_the_items_read_before_rounding_and_scales_for_a_filter():
    items = [{"pk": s(1000)} for _ in range(5)]  # ~5 KB together: 2 units, not 5
    request = {"TableName": "stack-RecordsTable", "ConsistentRead": True}
    units = estimate_capacity("Query", request, {"Items": items, "Count": 5}, TABLES)
    assert units == {"Records": Units(read=2.0)}
    filtered = {"Items": items[:1], "Count": 1, "ScannedCount": 5}
    assert estimate_capacity("Query", request, filtered, TABLES) == {"Records": Units(read=2.0)}
    on_index = {**request, "IndexName": "by_updated"}  # GSIs are eventually consistent
    assert estimate_capacity("Query", on_index, {"Items": items[:1], "Count": 1}, TABLES) == {
        "Records.by_updated": Units(read=0.5)
    }


def test_put_costs_one_unit_per_kb_plus_one_per_gsi_the_item_is_in():
    item = {
        "tenant_id": s(10),
        "record_key": s(10),
        "updated_at": s(20),
        "data": s(1500),
    }
    units = estimate_capacity(
        "PutItem", {"TableName": "stack-RecordsTable", "Item": item}, {}, TABLES
    )
    assert units == {"Records": Units(write=2.0 + 1.0)}  # 2 KB; by_updated only (no ref_key)
    with_ref = {**item, "ref_key": s(5)}
    units = estimate_capacity(
        "PutItem", {"TableName": "stack-RecordsTable", "Item": with_ref}, {}, TABLES
    )
    assert units == {"Records": Units(write=2.0 + 2.0)}


def test_update_uses_the_item_answered_else_the_key_and_values_set():
    answered = {"tenant_id": s(3), "record_key": s(3), "updated_at": s(3)}
    units = estimate_capacity(
        "UpdateItem",
        {"TableName": "stack-RecordsTable", "Key": {}, "ReturnValues": "ALL_NEW"},
        {"Attributes": answered},
        TABLES,
    )
    assert units == {"Records": Units(write=1.0 + 1.0)}
    request = {
        "TableName": "stack-RecordsTable",
        "Key": {"tenant_id": s(3), "record_key": s(3)},
        "UpdateExpression": "SET #u = :u, version = :v",
        "ExpressionAttributeNames": {"#u": "updated_at"},
        "ExpressionAttributeValues": {":u": s(2000), ":v": {"N": "2"}},
    }
    assert estimate_capacity("UpdateItem", request, {}, TABLES) == {
        "Records": Units(write=2.0 + 1.0)
    }


def test_transactions_double_and_a_refused_condition_still_costs_its_write():
    request = {
        "TransactItems": [
            {"Put": {"TableName": "stack-LinksTable", "Item": {"k": s(10)}}},
            {"Put": {"TableName": "stack-LinksTable", "Item": {"k": s(1500)}}},
            {"Delete": {"TableName": "stack-LinksTable", "Key": {"k": s(10)}}},
        ]
    }
    assert estimate_capacity("TransactWriteItems", request, {}, TABLES) == {
        "Links": Units(write=2 * (1 + 2 + 1))
    }
    put = {"TableName": "stack-RecordsTable", "Item": {"tenant_id": s(1), "updated_at": s(1)}}
    refused = estimate_capacity(
        "PutItem",
        put,
        None,
        TABLES,
        error="com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
    )
    assert refused == {"Records": Units(write=1.0)}  # no index write for a refused one
    assert estimate_capacity("PutItem", put, None, TABLES, error="ValidationException") == {}


def test_batch_write_counts_each_put_and_delete():
    request = {
        "RequestItems": {
            "stack-LinksTable": [
                {"PutRequest": {"Item": {"k": s(2000)}}},
                {"DeleteRequest": {"Key": {"k": s(5)}}},
            ],
            "unknown-table": [{"PutRequest": {"Item": {"k": s(5)}}}],
        }
    }
    assert estimate_capacity("BatchWriteItem", request, {}, TABLES) == {
        "Links": Units(write=2.0 + 1.0),
        "unknown-table": Units(write=1.0),
    }


def test_other_operations_cost_nothing():
    assert estimate_capacity("DescribeTable", {"TableName": "stack-LinksTable"}, {}, TABLES) == {}


def test_schemas_come_from_the_template():
    template = load()
    names = {"RecordsTable": "s-Records", "ConnectionsTable": "s-Conn", "ApiKeysTable": "s-Keys"}
    schemas = table_schemas(template, names)
    assert {"by_ref", "by_updated"} <= set(schemas["s-Records"].indexes)  # and any others
    assert schemas["s-Records"].indexes["by_ref"] == ("tenant_id", "ref_key")
    assert "by_company" in schemas["s-Conn"].indexes
    assert "by_tenant" in schemas["s-Keys"].indexes
    assert schemas["s-Records"].name == "Records"


@pytest.mark.parametrize("caller", ["local", "bench"])
def test_the_meter_keeps_callers_apart_and_resets(caller):
    meter = AwsMeter()
    meter.record(caller, "dynamodb", "GetItem", {"Links": Units(read=1.0)})
    meter.record(caller, "dynamodb", "GetItem", {"Links": Units(read=0.5)})
    meter.record("eventsource", "sqs", "ReceiveMessage")
    snap = meter.snapshot()
    assert snap["requests"][caller] == {"dynamodb": {"GetItem": 2}}
    assert snap["units"][caller] == {"Links": {"read": 1.5, "write": 0.0}}
    assert snap["requests"]["eventsource"] == {"sqs": {"ReceiveMessage": 1}}
    meter.reset()
    assert meter.snapshot()["requests"] == {}
