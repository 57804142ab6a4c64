"""api: the practice API (/v1) and the operator page (/ops). Routes live in
booksync.api.app and booksync.api.ops_page."""

from typing import Any

from booksync.api.app import handle, make_app
from booksync.api.ops_page import handle_ops
from booksync.boot import REQUEST_SECONDS, boot
from booksync.observability import logger, metrics, tracer

runtime = boot(request_seconds=REQUEST_SECONDS)
app = make_app(lambda: runtime)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    path = str(event.get("rawPath") or "")
    if path == "/ops" or path.startswith("/ops/"):
        return handle_ops(event, lambda: runtime)
    return handle(app, event, context)
