"""AWS clients, made by a function the handler calls (tests pass their own).

Endpoints and credentials come from the AWS SDK's standard configuration
(AWS_REGION, AWS_ENDPOINT_URL, roles), never from booksync settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3)


@dataclass
class AwsClients:
    sqs: Any
    kms: Any


def make_clients(session: boto3.session.Session | None = None) -> AwsClients:
    s = session or boto3.session.Session()
    return AwsClients(sqs=s.client("sqs", config=_RETRIES), kms=s.client("kms", config=_RETRIES))
