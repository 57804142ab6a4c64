"""webhooks: provider notifications; verify, answer fast, enqueue a pull (booksync.webhooks)."""

from typing import Any

from booksync.api.problems import problem_response
from booksync.boot import boot
from booksync.observability import logger, tracer

runtime = boot()


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # No connection can exist yet, so no notification can be verified or routed.
    resp = problem_response(
        401, "Unauthorized", "no webhook signing key is configured", "unauthorized"
    )
    return {"statusCode": resp.status_code, "headers": resp.headers, "body": resp.body}
