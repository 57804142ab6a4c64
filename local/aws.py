"""AWS on a moto server on loopback, provisioned from template.yaml itself.

Tables, queues (with their redrive policies), the KMS key, the secret and the
parameter are created by reading their template definitions; the resulting names,
URLs and ARNs are fed back into the resolver so functions get the same environment
variables CloudFormation would give them.
"""

from __future__ import annotations

import json
import logging
import secrets as secrets_lib
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MotoAws:
    server: ThreadedMotoServer
    url: str

    @classmethod
    def start(cls, port: int = 0) -> MotoAws:
        keep_fifo_order_in_moto()
        port = port or free_port()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call otherwise
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        return cls(server=server, url=f"http://127.0.0.1:{port}")

    def stop(self) -> None:
        self.server.stop()

    def env(self) -> dict[str, str]:
        """The standard AWS SDK variables that point any client at this server."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.url}

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            aws_session_token="local",
        )


@dataclass
class LocalOverrides:
    # Redelivery after a failure waits out the queue's visibility timeout; the template's
    # (6x the function timeout) would make local retries take minutes.
    queue_visibility_seconds: int = 2


def provision(
    client: Callable[[str], Any],
    template: dict[str, Any],
    resolver: Resolver,
    overrides: LocalOverrides,
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
            attrs["VisibilityTimeout"] = str(overrides.queue_visibility_seconds)
        elif "VisibilityTimeout" in props:
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
