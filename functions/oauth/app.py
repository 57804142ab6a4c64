"""oauth: connect, hand-off, callback and disconnect for qbo, qbt and xero (booksync.api.oauth)."""

from typing import Any

from booksync.api.oauth import handle, make_oauth_app
from booksync.api.ratelimit import Limits
from booksync.boot import boot
from booksync.observability import logger, tracer

runtime = boot()
app = make_oauth_app(runtime)
limits = Limits(runtime.settings.api_key_rate_per_second, runtime.settings.api_key_burst)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId", clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context, limits)
