"""Powertools Logger, Tracer and Metrics for every function, set up one way.

Logs are JSON with tenant, connection and record ids appended by the caller. Values
under keys that name a secret are masked before they are written, so a token that
slips into a log call never reaches CloudWatch.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SECRET_KEYS = re.compile(
    r"(token|secret|password|authorization|api_key|apikey|code_verifier|signature)",
    re.IGNORECASE,
)
MASK = "***"


def redact(value: Any) -> Any:
    """Mask every value whose key names a secret, at any depth."""
    if isinstance(value, dict):
        return {
            k: (MASK if isinstance(k, str) and SECRET_KEYS.search(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        return super().serialize(redact(log))


def make_logger(service: str | None = None) -> Logger:
    """A JSON logger; the service name comes from POWERTOOLS_SERVICE_NAME when not given."""
    return Logger(service=service, logger_formatter=RedactingFormatter(), utc=True)


logger = make_logger()
tracer = Tracer()
# booksync's one namespace; template.yaml sets the same value for every function
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "booksync")
metrics = Metrics(namespace=NAMESPACE)


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """One EMF count, written now from whichever function it happens in (no handler
    decorator needed), under service=booksync and `dimensions`: never a tenant, connection
    or record id (a dimension per firm would be a metric per firm). template.yaml's alarms
    and dashboard read these: ThrottlesReceived, ConnectionsNeedingReauth, SyncErrorsOpened,
    each per provider."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": "booksync"},
    ) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)


# botocore and urllib3 at DEBUG would print request headers (Authorization); keep them quiet.
for noisy in ("botocore", "urllib3", "pynamodb"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
