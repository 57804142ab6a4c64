"""The Lambda handler of every sync worker, built from (provider, direction).

functions/<provider>_<direction>/app.py is one line that calls `worker_handler`; the
steps each worker runs are here: push (a batch step: one provider call per batch of
records, via the adapter registry) and pull (changes since the cursor).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from booksync.boot import Runtime, boot
from booksync.engine.messages import Pull, PushRecord
from booksync.engine.seam import TIMEOUT
from booksync.engine.sync import PullDeps, covered_by_a_later_pull, pull_changes, push_batch
from booksync.engine.worker import BatchStep, Step, WorkContext, Worker, record_pull_run
from booksync.errors import SyncFailure
from booksync.observability import logger, metrics, tracer
from booksync.providers import registry
from booksync.store.models import Connection

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
# what an invocation keeps for its last provider call (which may take up to the HTTP read
# timeout) and for what follows it: links, error rows, the answer
DEADLINE_MARGIN_SECONDS = int(TIMEOUT[1]) + 10


def push_step(rt: Runtime, provider: str) -> BatchStep:
    def run(
        ctx: WorkContext, messages: list[tuple[str, PushRecord]]
    ) -> dict[str, Exception | None]:
        groups: dict[tuple[str, str, str], list[tuple[str, PushRecord]]] = defaultdict(list)
        for message_id, message in messages:
            groups[(message.tenant_id, message.connection_id, message.kind)].append(
                (message_id, message)
            )
        outcomes: dict[str, Exception | None] = {}
        for (tenant_id, connection_id, kind), group in groups.items():
            try:
                conn = Connection.get(tenant_id, provider, consistent_read=True)
            except Connection.DoesNotExist:
                continue  # the per-message loop drops it, with a log line
            if conn.status != "active" or conn.connection_id != connection_id:
                continue  # the per-message loop parks or drops it
            adapter = registry.push_adapter(provider, kind, rt.settings, conn.settings or {})
            if adapter is None:
                logger.info("no adapter sends this kind", extra={"kind": kind})
                outcomes.update({mid: None for mid, _ in group})
                continue
            session = rt.session(conn, ctx.deadline)
            try:
                outcome = push_batch(session, adapter, group)
            except SyncFailure as failure:
                outcomes.update({mid: failure for mid, _ in group})
                continue
            outcomes.update(outcome.results)
            metrics.add_metric(name="ProviderCalls", unit=MetricUnit.Count, value=session.calls)
            metrics.add_metric(name="RecordsPushed", unit=MetricUnit.Count, value=outcome.sent)
            metrics.add_metric(
                name="SyncErrorsResolved", unit=MetricUnit.Count, value=outcome.resolved
            )
        return outcomes

    return run


def pull_step(rt: Runtime, provider: str) -> Step:
    def run(ctx: WorkContext, message: Pull) -> None:
        adapter = registry.pull_adapter(provider, rt.settings)
        if ctx.connection is not None and covered_by_a_later_pull(
            ctx.connection.connection_id, ctx.sent_at
        ):
            logger.info("a pull that began after this notice has run; nothing to do")
            return
        if adapter is not None and ctx.connection is not None:
            from booksync.hub import records

            deps = PullDeps(
                save_record=records.save_record,
                fanout=lambda record, exclude: records.fanout(
                    rt.enqueuer, record, exclude_provider=exclude
                ),
                adopt_new=lambda conn, changes: registry.adopt_new(rt, conn, changes),
            )
            session = rt.session(ctx.connection, ctx.deadline)
            pull_changes(session, adapter, message, deps)
            metrics.add_metric(name="ProviderCalls", unit=MetricUnit.Count, value=session.calls)
        record_pull_run(ctx, message)

    return run


def worker_handler(provider: str, direction: str, runtime: Runtime | None = None) -> Handler:
    """Build the handler at cold start; configuration errors fail here, by name."""
    rt = runtime or boot()
    if direction == "push":
        worker = Worker(provider, direction, {}, batch=push_step(rt, provider))
    else:
        worker = Worker(provider, direction, {Pull: pull_step(rt, provider)})

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(provider=provider, direction=direction)
        ctx = rt.work_context(provider, direction)
        remaining = context.get_remaining_time_in_millis() / 1000
        ctx.deadline = time.time() + remaining - DEADLINE_MARGIN_SECONDS
        result = worker.handle(event, ctx)
        failed = len(result.get("batchItemFailures", []))
        total = len(event.get("Records", []))
        metrics.add_dimension(name="worker", value=f"{provider}_{direction}")
        metrics.add_metric(name="MessagesProcessed", unit=MetricUnit.Count, value=total - failed)
        metrics.add_metric(name="MessagesFailed", unit=MetricUnit.Count, value=failed)
        return result

    handler: Handler = lambda_handler
    return handler
