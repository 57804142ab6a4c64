"""oauth: connect, callback and disconnect for qbo, qbt and xero (booksync.connections)."""

from typing import Any

from booksync.api.problems import problem_response
from booksync.boot import boot
from booksync.observability import logger, tracer

runtime = boot()


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    provider = (event.get("pathParameters") or {}).get("provider", "")
    if provider not in ("qbo", "qbt", "xero"):
        resp = problem_response(404, "Not found", f"unknown provider {provider!r}", "not-found")
    else:
        resp = problem_response(
            501, "Not implemented", f"connecting {provider} is not available yet", "not-implemented"
        )
    return {"statusCode": resp.status_code, "headers": resp.headers, "body": resp.body}
