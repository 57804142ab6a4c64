"""webhooks: provider notifications; verify, answer fast, enqueue a pull (booksync.webhooks)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, event_source

from booksync.api.problems import from_problem
from booksync.boot import boot
from booksync.connections.webhooks import (
    SIGNATURE_HEADERS,
    SignatureInvalid,
    WebhookIntake,
    raw_body,
)
from booksync.errors import Problem
from booksync.observability import logger, metrics, tracer

runtime = boot()
intake = WebhookIntake.for_settings(runtime.settings, runtime.enqueuer)

# Xero wants an empty body and no cookies, for 200 and 401 alike (PROVIDERS.md 3.6).
EMPTY_OK = {"statusCode": 200, "body": ""}


def _problem(provider: str, exc: Problem) -> dict[str, Any]:
    if provider == "xero" and isinstance(exc, SignatureInvalid):
        return {"statusCode": 401, "body": ""}
    resp = from_problem(exc)
    return {"statusCode": resp.status_code, "headers": resp.headers, "body": resp.body}


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
@event_source(data_class=APIGatewayProxyEventV2)
def lambda_handler(event: APIGatewayProxyEventV2, context: Any) -> dict[str, Any]:
    provider = event.raw_path.rstrip("/").rsplit("/", 1)[-1]
    logger.append_keys(provider=provider)
    try:
        body = raw_body(event.body, bool(event.is_base64_encoded))
        signature = event.headers.get(SIGNATURE_HEADERS.get(provider, "-"))
        routed = intake.receive(provider, body, signature, lambda_context=context)
    except Problem as exc:
        return _problem(provider, exc)
    metrics.add_dimension(name="provider", value=provider)
    metrics.add_metric(name="WebhookDeliveries", unit=MetricUnit.Count, value=1)
    queued = 0 if routed.replayed else len(routed.enqueued)
    metrics.add_metric(name="WebhookPullsQueued", unit=MetricUnit.Count, value=queued)
    return dict(EMPTY_OK)
