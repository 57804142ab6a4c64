"""fanout: the Records table's stream; each committed change queued for every connection
that wants it (booksync.engine.outbox). Partial batch failures name the first record not
queued, so the event source mapping retries from there (and bisects a failing batch)."""

from typing import Any

from booksync.boot import boot
from booksync.engine.outbox import fan_out_stream
from booksync.observability import logger, metrics, tracer

runtime = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return fan_out_stream(runtime.enqueuer, event)
