"""The Lambda handler of every sync worker, built from (provider, direction).

functions/<provider>_<direction>/app.py is one line that calls `worker_handler`; the
steps each worker runs are registered here, so a newcomer finds them in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from booksync.boot import Runtime, boot
from booksync.engine import Step, Worker, record_pull_run
from booksync.messages import Pull
from booksync.observability import logger, metrics, tracer

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def steps_for(provider: str, direction: str) -> dict[type, Step]:
    if direction == "pull":
        return {Pull: record_pull_run}
    return {}


def worker_handler(provider: str, direction: str, runtime: Runtime | None = None) -> Handler:
    """Build the handler at cold start; configuration errors fail here, by name."""
    rt = runtime or boot()
    worker = Worker(provider, direction, steps_for(provider, direction))

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(provider=provider, direction=direction)
        result = worker.handle(event, rt.work_context(provider, direction))
        failed = len(result.get("batchItemFailures", []))
        total = len(event.get("Records", []))
        metrics.add_dimension(name="worker", value=f"{provider}_{direction}")
        metrics.add_metric(name="MessagesProcessed", unit=MetricUnit.Count, value=total - failed)
        metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=failed)
        return result

    handler: Handler = lambda_handler
    return handler
