"""A metered moto's patches (local/aws.py): transactions back up item by item, key
queries read their own partition, conditional writes are atomic; the outcomes are moto's own."""

import sys
import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local.aws import (
    queries_read_their_partition_in_moto,
    transactions_back_up_their_items_in_moto,
    writes_are_atomic_in_moto,
)


@pytest.fixture
def ddb():
    transactions_back_up_their_items_in_moto()
    queries_read_their_partition_in_moto()
    writes_are_atomic_in_moto()
    with mock_aws():
        client = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        client.create_table(
            TableName="t",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        client.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})
        yield client


def _items(client):
    rows = client.scan(TableName="t", ConsistentRead=True)["Items"]
    return sorted((r["pk"]["S"], r["sk"]["S"], r.get("v", {}).get("N")) for r in rows)


def _stream_length(client):
    arn = client.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    streams = boto3.client(
        "dynamodbstreams", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    return len(streams.get_records(ShardIterator=it)["Records"])


def test_a_transaction_that_succeeds_writes_every_item(ddb):
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "2"}},
                }
            },
        ]
    )
    assert _items(ddb) == [("a", "1", "2"), ("b", "1", None)]


def test_a_transaction_that_fails_leaves_items_and_stream_as_they_were(ddb):
    before = _stream_length(ddb)
    with pytest.raises(ClientError) as refused:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "c"}, "sk": {"S": "9"}}}},
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET v = :v",
                        "ExpressionAttributeValues": {":v": {"N": "5"}},
                    }
                },
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "d"}, "sk": {"S": "1"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(ddb) == [("a", "1", "1")]
    assert _stream_length(ddb) == before


def test_a_key_query_reads_its_partition_in_range_order_and_pages(ddb):
    for pk in ("a", "b", "c"):
        for sk in ("x#3", "x#1", "y#1", "x#2"):
            ddb.put_item(TableName="t", Item={"pk": {"S": pk}, "sk": {"S": sk}})
    query = {
        "TableName": "t",
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :x)",
        "ExpressionAttributeValues": {":p": {"S": "b"}, ":x": {"S": "x#"}},
    }
    rows = ddb.query(**query)["Items"]
    assert [(r["pk"]["S"], r["sk"]["S"]) for r in rows] == [
        ("b", "x#1"),
        ("b", "x#2"),
        ("b", "x#3"),
    ]
    first = ddb.query(**query, Limit=2)
    assert [r["sk"]["S"] for r in first["Items"]] == ["x#1", "x#2"]
    rest = ddb.query(**query, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [r["sk"]["S"] for r in rest["Items"]] == ["x#3"]
    backwards = ddb.query(**query, ScanIndexForward=False, Select="COUNT")
    assert backwards["Count"] == 3
    assert (
        ddb.query(**{**query, "ExpressionAttributeValues": {":p": {"S": "z"}, ":x": {"S": "x"}}})[
            "Items"
        ]
        == []
    )
    assert len(ddb.scan(TableName="t")["Items"]) == 13  # scans still see every partition


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("sk = :a", {":a": {"S": "x#2"}}, ["x#2"]),
        ("sk > :a", {":a": {"S": "x#2"}}, ["x#3", "y#1"]),
        ("sk BETWEEN :a AND :b", {":a": {"S": "x#2"}, ":b": {"S": "y#0"}}, ["x#2", "x#3"]),
    ],
)
def test_range_conditions_keep_moto_semantics(ddb, condition, values, expected):
    for sk in ("x#3", "x#1", "y#1", "x#2"):
        ddb.put_item(TableName="t", Item={"pk": {"S": "p"}, "sk": {"S": sk}})
    rows = ddb.query(
        TableName="t",
        KeyConditionExpression=f"pk = :p AND {condition}",
        ExpressionAttributeValues={":p": {"S": "p"}, **values},
    )["Items"]
    assert [r["sk"]["S"] for r in rows] == expected


def test_two_threads_claiming_one_item_on_condition_cannot_both_win(ddb):
    """Without the lock, moto let both of two such transactions succeed in about one pair in
    ten here (switching threads as often as it can); DynamoDB never does."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        doubles = 0
        for n in range(40):
            wins: list[str] = []

            def claim(who: str, n: int = n, wins: list[str] = wins) -> None:
                try:
                    ddb.transact_write_items(
                        TransactItems=[
                            {
                                "Put": {
                                    "TableName": "t",
                                    "Item": {"pk": {"S": f"claim{n}"}, "sk": {"S": who}},
                                    "ConditionExpression": "attribute_not_exists(v)",
                                }
                            },
                            {
                                "Put": {
                                    "TableName": "t",
                                    "Item": {"pk": {"S": f"claim{n}"}, "sk": {"S": "owner"}},
                                    "ConditionExpression": "attribute_not_exists(pk)",
                                }
                            },
                        ]
                    )
                    wins.append(who)
                except ClientError:
                    pass

            threads = [threading.Thread(target=claim, args=(who,)) for who in ("a", "b")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            doubles += len(wins) > 1
    finally:
        sys.setswitchinterval(switch)
    assert doubles == 0


# ------------------------------------------------- SQS's dead-letter re-drive, emulated


@pytest.fixture
def sqs():
    from local.aws import emulate_message_move_tasks_in_moto

    emulate_message_move_tasks_in_moto()
    with mock_aws():
        client = boto3.client(
            "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        dlq = client.create_queue(QueueName="work-dlq.fifo", Attributes={"FifoQueue": "true"})
        dlq_arn = client.get_queue_attributes(
            QueueUrl=dlq["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        work = client.create_queue(
            QueueName="work.fifo",
            Attributes={
                "FifoQueue": "true",
                "RedrivePolicy": f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": 1}}',
            },
        )
        yield client, work["QueueUrl"], dlq["QueueUrl"], dlq_arn


def _bodies(client, url):
    got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(m["Body"] for m in got)


def test_a_move_task_sends_dead_letters_back_to_their_queue_and_is_listed_completed(sqs):
    client, work, dlq, dlq_arn = sqs
    for n in range(3):
        client.send_message(
            QueueUrl=dlq, MessageBody=f"m{n}", MessageGroupId="g", MessageDeduplicationId=f"d{n}"
        )
    handle = client.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    task = _finished(client, dlq_arn)
    assert task["Status"] == "COMPLETED"
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert task["ApproximateNumberOfMessagesToMove"] == 3
    assert "TaskHandle" not in task  # SQS names the handle only while the task runs
    assert _bodies(client, work) == ["m0", "m1", "m2"]
    assert _bodies(client, dlq) == []


def test_a_move_task_needs_a_dead_letter_queue_and_a_finished_task_cannot_be_cancelled(sqs):
    client, work, _dlq, dlq_arn = sqs
    work_arn = client.get_queue_attributes(QueueUrl=work, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    with pytest.raises(ClientError) as refused:
        client.start_message_move_task(SourceArn=work_arn)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    handle = client.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    _finished(client, dlq_arn)
    with pytest.raises(ClientError) as gone:
        client.cancel_message_move_task(TaskHandle=handle)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_running_move_task_is_listed_with_its_handle_and_can_be_cancelled(sqs):
    client, work, dlq, dlq_arn = sqs
    for n in range(5):
        client.send_message(
            QueueUrl=dlq, MessageBody=f"m{n}", MessageGroupId="g", MessageDeduplicationId=f"d{n}"
        )
    # one a second: still running when listed, as SQS's own task is after its start
    handle = client.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)[
        "TaskHandle"
    ]
    (running,) = client.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert (running["Status"], running["TaskHandle"]) == ("RUNNING", handle)
    client.cancel_message_move_task(TaskHandle=handle)
    task = _finished(client, dlq_arn)
    assert task["Status"] == "CANCELLED"
    moved = task["ApproximateNumberOfMessagesMoved"]
    assert moved < 5
    # nothing lost: what moved is in its queue, the rest still in the dead-letter queue
    assert len(_bodies(client, work)) + len(_bodies(client, dlq)) == 5


def _finished(client, dlq_arn, timeout=10.0):
    """The newest move task once it has stopped running."""
    deadline = time.monotonic() + timeout
    while True:
        (task,) = client.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if task["Status"] not in ("RUNNING", "CANCELLING") or time.monotonic() > deadline:
            return task
        time.sleep(0.05)
