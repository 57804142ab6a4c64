"""scheduler: the hourly EventBridge tick (reconcile pushes, pulls when due, token
keep-alive) and the QuickBooks Time poll (every few minutes); booksync.ops.scheduler."""

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from booksync.boot import boot
from booksync.observability import logger, metrics, tracer
from booksync.ops.scheduler import fan_out_reconcile, is_qbt_poll, poll_qbt

runtime = boot()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: Any) -> dict[str, Any]:
    if is_qbt_poll(list(event.resources)):
        return {"qbt_pulls_queued": len(poll_qbt(runtime.enqueuer, tick=event.time))}
    tick = datetime.fromisoformat(event.time.replace("Z", "+00:00"))
    result = fan_out_reconcile(runtime.enqueuer, tick=event.time, tokens=runtime.tokens, now=tick)
    return {
        "reconciled": len(result.reconciled),
        "records_queued": sum(result.reconciled.values()),
        "pulls_queued": len(result.enqueued),
        "skipped": len(result.skipped),
        "tokens_refreshed": len(result.refreshed),
        "refresh_failed": len(result.refresh_failed),
    }
