"""Time: sending it to QuickBooks Online (once, when the firm asks) and what QuickBooks
Time holds back. The rules live in engine/send.py and the families; this shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, ConfigDict, Field, model_validator

from booksync.api.auth import require
from booksync.connections.manager import active_connection
from booksync.engine import send
from booksync.errors import SyncFailure
from booksync.hub.kinds import time_entries
from booksync.providers import registry
from booksync.providers.qbt.timesheets import held_time

RuntimeFactory = Callable[[], Any]  # -> booksync.boot.Runtime
SendId = Annotated[str, Path(min_length=1, max_length=64, description="the send's id")]
MAX_DAYS = 366


class SendTime(BaseModel):
    """Which entries to send: dated within the range, of these users and contacts."""

    model_config = ConfigDict(extra="forbid")

    date_from: date
    date_to: date
    user_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=500, description="none: every user"
    )
    contact_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=500, description="none: every contact"
    )
    approved_only: bool = True
    dry_run: bool = Field(default=False, description="say what would be sent, send nothing")

    @model_validator(mode="after")
    def _range(self) -> SendTime:
        if self.date_to < self.date_from:
            raise ValueError("date_to: the range ends before it starts")
        if (self.date_to - self.date_from).days >= MAX_DAYS:
            raise ValueError(f"date_to: a send covers at most {MAX_DAYS} days")
        return self


def make_time_router(runtime: RuntimeFactory) -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    def tenant() -> str:
        tenant_id: str = router.context["tenant_id"]
        return tenant_id

    def active(provider: str) -> Any:
        return active_connection(tenant(), provider)

    @router.post("/v1/connections/qbo/time-activities/send")
    def send_time(body: SendTime) -> Response[str]:
        """Send time entries to QuickBooks Online as time activities, once each. Answers
        every entry in the range: queued (202; follow the send at its Location), already
        sent (with the TimeActivity id), or not sent with the reason and what to do."""
        require(router, "admin")
        conn = active("qbo")
        family = registry.family("qbo", time_entries.KIND)
        assert family is not None
        entries = time_entries.chosen(
            tenant(), body.date_from, body.date_to, body.user_ids, body.contact_ids
        )
        excluded = {}
        if body.approved_only:
            excluded = {
                str(r.record_id): SyncFailure("time.not_approved", "")
                for r in entries
                if not (r.data or {}).get("approved")
            }
            entries = [r for r in entries if str(r.record_id) not in excluded]
        rt = runtime()
        result = send.send(
            rt.session(conn), family, rt.enqueuer, entries, dry_run=body.dry_run, excluded=excluded
        )
        shown = json.dumps(result.shown())
        if body.dry_run:
            return Response(200, content_type="application/json", body=shown)
        location = f"/v1/connections/qbo/time-activities/sends/{result.send_id}"
        return Response(
            202, content_type="application/json", body=shown, headers={"Location": location}
        )

    @router.get("/v1/connections/qbo/time-activities/sends/<send_id>")
    def follow_send(send_id: SendId) -> dict[str, Any]:
        """A send as it stands: each entry sent (with the TimeActivity id), failed (with
        QuickBooks' words and what to do), not sent, or still queued."""
        return send.follow(tenant(), "qbo", send_id).shown()

    @router.get("/v1/connections/qbt/held-time")
    def held_qbt_time() -> dict[str, Any]:
        """Timesheets entered in QuickBooks Time that wait for their user or jobcode to be
        linked to a booksync record; each lands on the next poll after its link appears."""
        conn = active("qbt")
        held = held_time(str(conn.connection_id))
        return {
            "items": [
                {"timesheet_id": tid, "reason": reason} for tid, reason in sorted(held.items())
            ]
        }

    return router
