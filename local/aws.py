"""AWS on a moto server on loopback, provisioned from template.yaml itself.

Tables, queues (with their redrive policies), the KMS key, the secret and the
parameter are created by reading their template definitions; the resulting names,
URLs and ARNs are fed back into the resolver so functions get the same environment
variables CloudFormation would give them.

With a meter (`MotoAws.start(meter=AwsMeter())`), every request to the server is
counted by caller (the access key it was signed with), service and operation, and each
DynamoDB request's capacity units are estimated from the request and its answer
(`estimate_capacity`), as DynamoDB would bill them on demand.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import re
import secrets as secrets_lib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

import boto3
from moto.server import ThreadedMotoServer

from local.template import Resolver, resources

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}


def keep_fifo_order_in_moto() -> None:
    """moto (5.x) frees a FIFO message whose visibility ran out only when its receive loop
    reaches it, after it has checked the group of every message before: with two
    returned messages in one group, the second is delivered first and the first starves
    behind it for ever. SQS delivers a group in order; so do we: every timed-out message
    is freed before the loop runs. Applied once, to the moto server and to moto's mock."""
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    if getattr(original, "keeps_fifo_order", False):
        return

    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        queue = self.get_queue(queue_name)
        for message in list(queue.pending_messages):
            if message.visible:
                queue.pending_messages.discard(message)
        return original(self, queue_name, *args, **kwargs)

    receive_message.keeps_fifo_order = True  # type: ignore[attr-defined]
    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


MOVE_RATE = 50  # messages a second of a local move task that names no rate


def emulate_message_move_tasks_in_moto() -> None:
    """moto (5.2) answers NotImplemented for SQS's dead-letter re-drive (StartMessageMoveTask,
    ListMessageMoveTasks, CancelMessageMoveTask), so `booksync dlq redrive` could not be tried
    before production. Here the three actions answer with SQS's own shapes (SQS API Reference,
    "StartMessageMoveTask": SourceArn, optional DestinationArn and MaxNumberOfMessagesPerSecond,
    answers TaskHandle; "ListMessageMoveTasksResultEntry": TaskHandle (only while RUNNING),
    Status RUNNING | COMPLETED | CANCELLING | CANCELLED | FAILED, SourceArn, DestinationArn,
    MaxNumberOfMessagesPerSecond, ApproximateNumberOfMessagesMoved,
    ApproximateNumberOfMessagesToMove, FailureReason, StartedTimestamp; MaxResults 1 by
    default, at most 10, newest first; "CancelMessageMoveTask" answers
    ApproximateNumberOfMessagesMoved). The source must be a dead-letter queue; without a
    DestinationArn the messages go back to the queue whose redrive policy names it. As in
    SQS the task runs after the start call answers, here on a thread of its own, at
    MaxNumberOfMessagesPerSecond (when none is given, SQS's "system optimized" rate stands
    at MOVE_RATE here): it is RUNNING while it moves, so an operator's progress line and a
    cancel (CANCELLING, then CANCELLED with what moved so far) can be tried; a finished one
    cannot be cancelled (ResourceNotFoundException). Each visible message is sent to the
    destination with its body, attributes and FIFO group and a de-duplication id of its own
    (the original's would still be inside the destination's five-minute window), then
    removed. Applied only where moto lacks the actions."""
    import uuid

    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import InvalidParameterValue, SQSException
    from moto.sqs.responses import SQSResponse

    if hasattr(SQSResponse, "start_message_move_task"):
        return

    def queue_of(backend: Any, arn: str) -> Any:
        return backend.get_queue(str(arn).rsplit(":", 1)[-1])

    def tasks_of(backend: Any) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = backend.__dict__.setdefault("_booksync_move_tasks", [])
        return tasks

    def start_message_move_task(self: Any) -> Any:
        backend = self.sqs_backend
        source_arn = self._get_param("SourceArn")
        destination_arn = self._get_param("DestinationArn")
        rate = self._get_param("MaxNumberOfMessagesPerSecond")
        source = queue_of(backend, source_arn)
        sources = backend.list_dead_letter_source_queues(source.name)
        if not sources:
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        handle = base64.b64encode(f"{uuid.uuid4()}|{source_arn}".encode()).decode()
        task: dict[str, Any] = {
            "TaskHandle": handle,
            "Status": "RUNNING",
            "SourceArn": source_arn,
            "StartedTimestamp": int(time.time() * 1000),
            "ApproximateNumberOfMessagesMoved": 0,
        }
        if destination_arn:
            task["DestinationArn"] = destination_arn
        if rate:
            task["MaxNumberOfMessagesPerSecond"] = int(rate)
        tasks_of(backend).insert(0, task)
        if destination_arn:
            destination = queue_of(backend, destination_arn)
        elif len(sources) == 1:
            destination = sources[0]
        else:
            task.update(Status="FAILED", FailureReason="more than one source queue")
            return ActionResult({"TaskHandle": handle})
        waiting = [m for m in list(source._messages) if m.visible and not m.delayed]
        task["ApproximateNumberOfMessagesToMove"] = len(waiting)
        pause = 1.0 / (int(rate) if rate else MOVE_RATE)

        def move() -> None:
            fifo = bool(destination.fifo_queue)
            for message in waiting:
                if task["Status"] == "CANCELLING":
                    task["Status"] = "CANCELLED"
                    return
                if message not in source._messages or not message.visible:
                    continue  # received (or purged) meanwhile: not the task's to move
                backend.send_message(
                    destination.name,
                    message.body,
                    message_attributes=message.message_attributes or None,
                    delay_seconds=0,
                    deduplication_id=f"{message.id}:{handle[:40]}" if fifo else None,
                    group_id=message.group_id if fifo else None,
                )
                with contextlib.suppress(ValueError):
                    source._messages.remove(message)
                source.pending_messages.discard(message)
                task["ApproximateNumberOfMessagesMoved"] += 1
                time.sleep(pause)
            task["Status"] = "COMPLETED"

        threading.Thread(target=move, name="sqs-move-task", daemon=True).start()
        return ActionResult({"TaskHandle": handle})

    def list_message_move_tasks(self: Any) -> Any:
        source_arn = self._get_param("SourceArn")
        queue_of(self.sqs_backend, source_arn)  # NonExistentQueue as SQS says it
        limit = int(self._get_param("MaxResults") or 1)
        if not 1 <= limit <= 10:
            raise InvalidParameterValue("MaxResults must be between 1 and 10.")
        results = []
        for task in tasks_of(self.sqs_backend):
            if task["SourceArn"] != source_arn:
                continue
            entry = dict(task)
            if entry["Status"] != "RUNNING":
                entry.pop("TaskHandle")
            results.append(entry)
        return ActionResult({"Results": results[:limit]})

    def cancel_message_move_task(self: Any) -> Any:
        handle = self._get_param("TaskHandle")
        for task in tasks_of(self.sqs_backend):
            if task["TaskHandle"] == handle and task["Status"] == "RUNNING":
                task["Status"] = "CANCELLING"
                return ActionResult(
                    {"ApproximateNumberOfMessagesMoved": task["ApproximateNumberOfMessagesMoved"]}
                )
        raise SQSException(
            "ResourceNotFoundException", "The resource that you specified does not exist."
        )

    SQSResponse.start_message_move_task = start_message_move_task  # type: ignore[attr-defined]
    SQSResponse.list_message_move_tasks = list_message_move_tasks  # type: ignore[attr-defined]
    SQSResponse.cancel_message_move_task = cancel_message_move_task  # type: ignore[attr-defined]


def writes_are_atomic_in_moto() -> None:
    """moto (5.x) checks a write's condition and then writes, with nothing between two
    threads doing the same: two transactions that each claim one item on condition that it
    does not exist can both succeed (two firms both won one company in a CI run). DynamoDB
    serialises conditional writes and transactions on an item. Here every DynamoDB write of
    a moto backend holds one lock while moto checks and writes. Applied to every local server
    and to moto's mock in tests."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, "atomic", False):
        return
    lock = threading.RLock()

    def serialised(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        write.atomic = True  # type: ignore[attr-defined]
        write.backs_up_items = getattr(original, "backs_up_items", False)  # type: ignore[attr-defined]
        return write

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))


class _TableCopies(threading.local):
    skip = False  # this thread is in a transaction that backs up its own items


_TABLE_COPIES = _TableCopies()


def transactions_back_up_their_items_in_moto() -> None:
    """moto (5.x) backs a transaction up by deep-copying every table it touches, once per
    item of the transaction: 100 items on a table of 20,000 cost two million item copies
    (seconds of the server's one interpreter, growing with the table), and the copy races
    with other threads' writes ("dictionary changed size during iteration", a 500).
    DynamoDB's transactions cost the same whatever the table's size. Here a transaction
    backs up only the items it names (and its tables' stream lengths) and puts them back
    if it fails; moto's own code does the rest unchanged. Applied by every local server:
    the bench's figures must be booksync's, not moto's, and the demo must not meet the
    race."""
    import copy

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models import DynamoDBBackend, DynamoType
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "backs_up_items", False):
        return

    class _Copy:
        """moto's `copy` module, but a table copied inside such a transaction is the table
        itself (its rollback then restores nothing; the wrapper below does)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            if _TABLE_COPIES.skip and isinstance(value, Table):
                return value
            return copy.deepcopy(value, memo)

    ddb_models.copy = _Copy()  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        backups: list[tuple[Any, Any, Any, Any]] = []
        streams: dict[int, tuple[Any, int]] = {}
        for entry in transact_items:
            try:
                _, op = next(iter(entry.items()))
                table = self.tables.get(op.get("TableName"))
                if table is None:
                    continue
                source = op["Item"] if "Item" in op else op["Key"]
                hash_key = DynamoType(source[table.hash_key_attr])
                range_key = (
                    DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
                )
                current = table.get_item(hash_key, range_key)
            except Exception:  # noqa: S112 - a malformed item: moto's own checks refuse it
                continue
            backups.append((table, hash_key, range_key, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        _TABLE_COPIES.skip = True
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(backups):
                home = table.items[hash_key] if range_key is not None else table.items
                key = range_key if range_key is not None else hash_key
                if item is None:
                    home.pop(key, None)
                else:
                    home[key] = item
                if range_key is not None and not table.items[hash_key]:
                    table.items.pop(hash_key, None)
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        finally:
            _TABLE_COPIES.skip = False

    transact_write_items.backs_up_items = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class _Partition(threading.local):
    table: Any = None  # the table a key query on this thread is reading
    key: Any = None  # and its partition (hash key)
    condition: Any = None  # and its range key condition: (comparison, values)


_PARTITION = _Partition()


def queries_read_their_partition_in_moto() -> None:
    """moto (5.x) answers a Query on a table's key by listing and sorting every item of
    the table (`Table.all_items`), then sizing each item of the partition, in range or
    not: each query costs the whole table, all tenants, O(n log n). A DynamoDB query reads
    its partition's key range. Here a key query lists the items of its own partition that
    meet its range key condition (moto's own comparison), in range key order; index
    queries and scans are unchanged. Applied by every local server."""
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    if getattr(original_query, "reads_its_partition", False):
        return
    original_all_items = Table.all_items

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[7] if len(args) > 7 else None)
        hash_key = kwargs.get("hash_key", args[0] if args else None)
        if index_name or hash_key is None:
            return original_query(self, *args, **kwargs)
        comparison = kwargs.get("range_comparison", args[1] if len(args) > 1 else None)
        values = kwargs.get("range_objs", args[2] if len(args) > 2 else None)
        _PARTITION.table, _PARTITION.key = self, hash_key
        _PARTITION.condition = (comparison, values) if comparison else None
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _PARTITION.table, _PARTITION.key, _PARTITION.condition = None, None, None

    def all_items(self: Any) -> Any:
        if _PARTITION.table is not self:
            return original_all_items(self)
        part = self.items.get(_PARTITION.key)
        if part is None:
            return []
        if not self.range_key_attr:
            return [part]
        # a snapshot taken in one C call (no Python runs while it copies, so no other
        # thread's write can change the partition under it): the server writes while
        # this query filters
        items = list(part.values())
        if _PARTITION.condition is not None:
            comparison, values = _PARTITION.condition
            items = [i for i in items if i.range_key.compare(comparison, values)]
        return sorted(items, key=lambda item: item.range_key)

    query.reads_its_partition = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MotoAws:
    server: ThreadedMotoServer
    url: str
    meter: AwsMeter | None = None

    @classmethod
    def start(cls, port: int = 0, meter: AwsMeter | None = None) -> MotoAws:
        keep_fifo_order_in_moto()
        emulate_message_move_tasks_in_moto()
        # every local server, not only the bench's: moto's own table copy races with other
        # threads' writes (a 500 that `make demo` met under save and sync's parallel workers)
        transactions_back_up_their_items_in_moto()
        writes_are_atomic_in_moto()
        queries_read_their_partition_in_moto()
        port = port or free_port()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
        server: ThreadedMotoServer
        if meter is None:
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        else:
            server = _MeteredMotoServer(meter, ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        return cls(server=server, url=f"http://127.0.0.1:{port}", meter=meter)

    def stop(self) -> None:
        self.server.stop()

    def env(self) -> dict[str, str]:
        """The standard AWS SDK variables that point any client at this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def client(self, service: str, access_key: str = "local") -> Any:
        """A boto3 client for this server. `access_key` names the caller for the meter
        (the functions sign with "local"); moto serves every key the same account."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key="local",
            aws_session_token="local",
        )


@dataclass
class LocalOverrides:
    # A batch whose invocation crashed or overran comes back after the queue's visibility
    # timeout; the template's (720 s) would make a local crash retry take minutes, so the
    # local poller brings such a batch back after this many seconds instead (pollers.py).
    # The queues themselves keep the template's timeout: a shorter one would hand a
    # message still being worked on to a second invocation (two creates of one record),
    # which the cloud never does.
    crash_redelivery_seconds: int = 2


def provision(
    client: Callable[[str], Any],
    template: dict[str, Any],
    resolver: Resolver,
) -> dict[str, dict[str, str]]:
    """Create every AWS resource the functions use; fill the resolver's Ref/GetAtt.

    `client(service)` makes a boto3 client: MotoAws.client for the server, or plain
    boto3.client under moto's in-process mock in tests.
    """
    made: dict[str, dict[str, str]] = {"tables": {}, "queues": {}, "dead_letter_queues": {}}
    stack = resolver.pseudo["AWS::StackName"]

    kms = client("kms")
    for logical, res in resources(template, "AWS::KMS::Key").items():
        key = kms.create_key(Description=res["Properties"].get("Description", logical))
        key_id = key["KeyMetadata"]["KeyId"]
        resolver.refs[logical] = key_id
        resolver.attrs[(logical, "Arn")] = key["KeyMetadata"]["Arn"]

    ddb = client("dynamodb")
    for logical, res in resources(template, "AWS::DynamoDB::Table").items():
        props = resolver.resolve(res["Properties"])
        name = f"{stack}-{logical}"
        args: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        ddb.create_table(**args)
        if props.get("TimeToLiveSpecification"):
            ddb.update_time_to_live(
                TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
            )
        resolver.refs[logical] = name
        resolver.attrs[(logical, "Arn")] = f"arn:aws:dynamodb:{REGION}:123456789012:table/{name}"
        if props.get("StreamSpecification"):
            described = ddb.describe_table(TableName=name)["Table"]
            resolver.attrs[(logical, "StreamArn")] = described["LatestStreamArn"]
        made["tables"][logical] = name

    sqs = client("sqs")
    queues = resources(template, "AWS::SQS::Queue")
    # dead-letter queues first: the others' redrive policies name their ARNs
    order = sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]["Properties"])
    for logical in order:
        props = resolver.resolve(queues[logical]["Properties"])
        fifo = bool(props.get("FifoQueue"))
        name = f"{stack}-{logical}" + (".fifo" if fifo else "")
        attrs: dict[str, str] = {}
        for key in (
            "FifoQueue",
            "ContentBasedDeduplication",
            "MessageRetentionPeriod",
            "DeduplicationScope",
            "FifoThroughputLimit",
            "SqsManagedSseEnabled",
        ):
            if key in props:
                value = props[key]
                attrs[key] = str(value).lower() if isinstance(value, bool) else str(value)
        if "RedrivePolicy" in props:
            attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        if "VisibilityTimeout" in props:
            attrs["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        resolver.refs[logical] = url
        resolver.attrs[(logical, "Arn")] = arn
        resolver.attrs[(logical, "QueueName")] = name
        resolver.attrs[(logical, "QueueUrl")] = url
        (made["queues"] if "RedrivePolicy" in props else made["dead_letter_queues"])[logical] = url

    secrets = client("secretsmanager")
    for logical, res in resources(template, "AWS::SecretsManager::Secret").items():
        props = resolver.resolve(res["Properties"])
        value = props.get("SecretString")
        if value is None:  # GenerateSecretString: CloudFormation makes one at deploy
            value = secrets_lib.token_urlsafe(
                int(props["GenerateSecretString"].get("PasswordLength", 32))
            )
        reply = secrets.create_secret(Name=props["Name"], SecretString=value)
        resolver.refs[logical] = reply["ARN"]

    ssm = client("ssm")
    for logical, res in resources(template, "AWS::SSM::Parameter").items():
        props = resolver.resolve(res["Properties"])
        ssm.put_parameter(
            Name=props["Name"], Value=props["Value"], Type=props.get("Type", "String")
        )
        resolver.refs[logical] = props["Name"]

    # Resources the functions only reference by name locally (no runtime effect here).
    for logical in template["Resources"]:
        if logical not in resolver.refs:
            resolver.refs[logical] = f"{stack}-{logical}"
    return made


# ---------------------------------------------------------------------------- the meter

READ_UNIT_BYTES = 4096  # one strongly consistent read of up to 4 KB (half for eventual)
WRITE_UNIT_BYTES = 1024  # one write of up to 1 KB
_WRITE_FAILURES = ("ConditionalCheckFailedException", "TransactionCanceledException")


@dataclass(frozen=True)
class TableSchema:
    """What capacity estimation needs of a table: its template name, key attributes and
    each global secondary index's key attributes (an item is in a GSI when it has them)."""

    name: str
    keys: tuple[str, ...]
    indexes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def table_schemas(template: dict[str, Any], names: Mapping[str, str]) -> dict[str, TableSchema]:
    """Physical table name -> schema, read from the template's table definitions;
    `names` maps logical ids to the physical names provisioned."""
    out: dict[str, TableSchema] = {}
    for logical, res in resources(template, "AWS::DynamoDB::Table").items():
        if logical not in names:
            continue
        props = res["Properties"]
        out[names[logical]] = TableSchema(
            name=logical.removesuffix("Table"),
            keys=tuple(str(k["AttributeName"]) for k in props["KeySchema"]),
            indexes={
                str(g["IndexName"]): tuple(str(k["AttributeName"]) for k in g["KeySchema"])
                for g in props.get("GlobalSecondaryIndexes") or []
            },
        )
    return out


def _number_size(text: str) -> int:
    """A number: about one byte per two significant digits, plus one."""
    try:
        digits = len(Decimal(text).normalize().as_tuple().digits)
    except InvalidOperation:
        digits = len(text)
    return (digits + 1) // 2 + 1


def _binary_size(text: str) -> int:
    return len(base64.b64decode(text))


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one AttributeValue (`{"S": "..."}`, ...) as DynamoDB sizes items."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        return _number_size(str(v))
    if kind == "B":
        return _binary_size(str(v))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(x).encode()) for x in v)
    if kind == "NS":
        return sum(_number_size(str(x)) for x in v)
    if kind == "BS":
        return sum(_binary_size(str(x)) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(attribute_size(x) + 1 for x in v)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes of an item: each attribute's name plus its value."""
    return sum(len(name.encode()) + attribute_size(v) for name, v in (item or {}).items())


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, math.ceil(size / WRITE_UNIT_BYTES)))


@dataclass
class Units:
    read: float = 0.0
    write: float = 0.0


def _names_in_update(request: Mapping[str, Any]) -> set[str]:
    """Attribute names an UpdateItem sets (its expression's words and #names)."""
    expression = str(request.get("UpdateExpression") or "")
    aliases = request.get("ExpressionAttributeNames") or {}
    words = set(re.findall(r"#?[A-Za-z_][A-Za-z0-9_]*", expression))
    return {str(aliases.get(w, w)) for w in words}


def _gsi_writes(schema: TableSchema | None, attributes: set[str]) -> float:
    """One write per GSI the written item appears in (it has the index's key attributes;
    a sparse index holds only the items that do)."""
    if schema is None:
        return 0.0
    return float(sum(1 for keys in schema.indexes.values() if set(keys) <= attributes))


def _write_item(
    action: str,
    spec: Mapping[str, Any],
    returned: Mapping[str, Any] | None,
    schema: TableSchema | None,
) -> tuple[float, float]:
    """(table write units, GSI write units) of one Put, Update, Delete or ConditionCheck;
    `returned`: the item the answer carried (ReturnValues), if any."""
    if action == "Put":
        item = spec.get("Item") or {}
        size = max(item_size(item), item_size(returned))
        return write_units(size), _gsi_writes(schema, set(item))
    if action == "Update":
        if returned:
            # ALL_NEW: the item as written; otherwise its key and the values set
            return write_units(item_size(returned)), _gsi_writes(schema, set(returned))
        values = spec.get("ExpressionAttributeValues") or {}
        size = item_size(spec.get("Key")) + sum(attribute_size(v) for v in values.values())
        names = set(spec.get("Key") or {}) | _names_in_update(spec)
        return write_units(size), _gsi_writes(schema, names)
    if action == "Delete":
        size = item_size(returned) if returned else item_size(spec.get("Key"))
        return write_units(size), _gsi_writes(schema, set(returned or {}))
    return write_units(item_size(spec.get("Key"))), 0.0  # ConditionCheck


def estimate_capacity(
    operation: str,
    request: Mapping[str, Any],
    response: Mapping[str, Any] | None,
    tables: Mapping[str, TableSchema],
    error: str | None = None,
) -> dict[str, Units]:
    """Capacity units of one DynamoDB request, per table (and `Table.index` for index
    reads), estimated from the request and its answer as on-demand DynamoDB bills them:

    - reads: 4 KB per unit for a strongly consistent read, half a unit for an eventually
      consistent one (GSIs are always eventual); GetItem and BatchGetItem per item (an
      item not found costs the minimum), Query and Scan by the sum of the items read
      (scaled up by ScannedCount/Count when a filter dropped some), TransactGetItems
      double;
    - writes: 1 KB per unit per item (the larger of the item sent and the one answered),
      doubled for TransactWriteItems, plus one per GSI the written item appears in; a
      write refused by its condition still costs its units (no GSI write).

    `error`: the answer's error type, if the request failed (only conditional refusals
    cost anything). Tables not in `tables` are keyed by their physical name."""
    response = response or {}
    out: dict[str, Units] = {}

    def name(table: str) -> str:
        schema = tables.get(table)
        return schema.name if schema else table

    def add(table: str, read: float = 0.0, write: float = 0.0) -> None:
        units = out.setdefault(table, Units())
        units.read += read
        units.write += write

    if error and not error.endswith(_WRITE_FAILURES):
        return out
    refused = error is not None
    if operation == "GetItem":
        consistent = bool(request.get("ConsistentRead"))
        add(
            name(request["TableName"]), read=read_units(item_size(response.get("Item")), consistent)
        )
    elif operation == "BatchGetItem":
        for table, spec in (request.get("RequestItems") or {}).items():
            consistent = bool(spec.get("ConsistentRead"))
            found = (response.get("Responses") or {}).get(table) or []
            unprocessed = ((response.get("UnprocessedKeys") or {}).get(table) or {}).get("Keys")
            missing = len(spec.get("Keys") or []) - len(found) - len(unprocessed or [])
            read = sum(read_units(item_size(i), consistent) for i in found)
            add(name(table), read=read + max(0, missing) * read_units(0, consistent))
    elif operation == "TransactGetItems":
        answers = response.get("Responses") or []
        for n, entry in enumerate(request.get("TransactItems") or []):
            got = entry.get("Get") or {}
            item = answers[n].get("Item") if n < len(answers) else None
            add(name(got["TableName"]), read=2 * read_units(item_size(item), True))
    elif operation in ("Query", "Scan"):
        index = request.get("IndexName")
        consistent = bool(request.get("ConsistentRead")) and not index
        size = float(sum(item_size(i) for i in response.get("Items") or []))
        count, scanned = int(response.get("Count") or 0), int(response.get("ScannedCount") or 0)
        if count and scanned > count:
            size *= scanned / count
        key = name(request["TableName"]) + (f".{index}" if index else "")
        add(key, read=read_units(math.ceil(size), consistent))
    elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
        table = request["TableName"]
        action = operation.removesuffix("Item")
        table_units, gsi = _write_item(
            action, request, response.get("Attributes"), tables.get(table)
        )
        add(name(table), write=table_units + (0.0 if refused else gsi))
    elif operation == "BatchWriteItem":
        for table, entries in (request.get("RequestItems") or {}).items():
            for entry in entries:
                if "PutRequest" in entry:
                    table_units, gsi = _write_item(
                        "Put", entry["PutRequest"], None, tables.get(table)
                    )
                else:
                    table_units, gsi = _write_item(
                        "Delete", entry.get("DeleteRequest") or {}, None, tables.get(table)
                    )
                add(name(table), write=table_units + gsi)
    elif operation == "TransactWriteItems":
        for entry in request.get("TransactItems") or []:
            ((action, spec),) = entry.items()
            table = spec["TableName"]
            table_units, gsi = _write_item(action, spec, None, tables.get(table))
            add(name(table), write=2 * table_units + (0.0 if refused else gsi))
    return out


def _credential(authorization: str) -> tuple[str, str]:
    """(access key, service) from a SigV4 Authorization header's Credential scope."""
    marker = "Credential="
    at = authorization.find(marker)
    if at < 0:
        return "-", "-"
    scope = authorization[at + len(marker) :].split(",", 1)[0].split("/")
    return scope[0], (scope[3] if len(scope) > 3 else "-")


@dataclass
class AwsMeter:
    """Requests to the moto server per caller, service and operation, and the DynamoDB
    capacity units they would cost per caller and table. Thread-safe; `reset()` starts a
    measured phase, `snapshot()` reads it."""

    tables: dict[str, TableSchema] = field(default_factory=dict)
    errors: int = 0  # requests the meter could not read (never fails the request)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _requests: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _units: dict[tuple[str, str], Units] = field(default_factory=dict)
    _seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def record(
        self,
        caller: str,
        service: str,
        operation: str,
        units: Mapping[str, Units] | None = None,
        seconds: float = 0.0,
    ) -> None:
        with self._lock:
            key = (caller, service, operation)
            self._requests[key] = self._requests.get(key, 0) + 1
            spent = (caller, service)
            self._seconds[spent] = self._seconds.get(spent, 0.0) + seconds
            for table, u in (units or {}).items():
                total = self._units.setdefault((caller, table), Units())
                total.read += u.read
                total.write += u.write

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._units.clear()
            self._seconds.clear()
            self.errors = 0

    def snapshot(self) -> dict[str, Any]:
        """`{"requests": {caller: {service: {operation: n}}}, "units": {caller: {table:
        {"read", "write"}}}, "seconds": {caller: {service: seconds the server took}},
        "errors": n}`."""
        with self._lock:
            requests: dict[str, dict[str, dict[str, int]]] = {}
            for (caller, service, operation), n in sorted(self._requests.items()):
                requests.setdefault(caller, {}).setdefault(service, {})[operation] = n
            units: dict[str, dict[str, dict[str, float]]] = {}
            for (caller, table), u in sorted(self._units.items()):
                units.setdefault(caller, {})[table] = {"read": u.read, "write": u.write}
            seconds: dict[str, dict[str, float]] = {}
            for (caller, service), spent in sorted(self._seconds.items()):
                seconds.setdefault(caller, {})[service] = spent
            return {"requests": requests, "units": units, "seconds": seconds, "errors": self.errors}

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """Wrap the moto server's WSGI app: count every request, and estimate the
        capacity of DynamoDB's from its body and answer."""

        def metered(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            began = time.perf_counter()
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            caller, service = _credential(environ.get("HTTP_AUTHORIZATION", ""))
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            operation = target.rsplit(".", 1)[-1] if target else _query_action(body, environ)
            if target.startswith("DynamoDBStreams_"):
                service = "dynamodbstreams"
            status: list[str] = []

            def start(code: str, headers: Any, exc_info: Any = None) -> Any:
                status.append(code)
                return start_response(code, headers, exc_info)

            result = app(environ, start)
            try:
                answer = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            spent = time.perf_counter() - began
            if not target.startswith("DynamoDB_"):
                self.record(caller, service, operation, seconds=spent)
                return [answer]
            try:
                reply = json.loads(answer) if answer else {}
                ok = bool(status) and status[0].startswith("2")
                error = None if ok else str(reply.get("__type") or "error")
                units = estimate_capacity(
                    operation, json.loads(body or b"{}"), reply if ok else None, self.tables, error
                )
            except Exception:  # the meter never breaks a request
                with self._lock:
                    self.errors += 1
                units = {}
            self.record(caller, service, operation, units, seconds=spent)
            return [answer]

        return metered


def _query_action(body: bytes, environ: Mapping[str, Any]) -> str:
    """The Action of a query-protocol request (older SQS clients), else the method."""
    text = body.decode(errors="replace") if body else str(environ.get("QUERY_STRING", ""))
    action = parse_qs(text).get("Action")
    return action[0] if action else str(environ.get("REQUEST_METHOD", "-"))


class _MeteredMotoServer(ThreadedMotoServer):
    """moto's threaded server with its WSGI app wrapped by a meter (moto 5.x)."""

    def __init__(self, meter: AwsMeter, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._meter = meter

    def _server_entry(self) -> None:
        from moto.moto_server.threaded_moto_server import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
            make_server,
        )

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            self._ip_address,
            self._port,
            self._meter.wsgi(app),
            True,
            request_handler=MotoRequestHandler,
        )
        self._server_ready_event.set()
        self._server.serve_forever()
