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
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "booksync"))

# botocore and urllib3 at DEBUG would print request headers (Authorization); keep them quiet.
for noisy in ("botocore", "urllib3", "pynamodb"):
    logging.getLogger(noisy).setLevel(logging.WARNING)
