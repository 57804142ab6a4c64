"""/v1/connections/{provider}/...: actions on a connected provider account that need its
tokens ("save and sync", QBT users without a hub match, drift, Xero's lists as QBT custom
fields)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field, model_validator

from booksync.api.auth import require
from booksync.connections.manager import active_connection, check_provider, save_settings
from booksync.engine import drift, leave, qbt_from_xero, time_billing
from booksync.engine.messages import Pull
from booksync.engine.outbox import reconcile_push
from booksync.errors import Conflict, SyncFailure, problem_of
from booksync.providers.qbt import custom_fields
from booksync.providers.qbt.users import unmatched_users
from booksync.store import records as hub_records
from booksync.store.sync_errors import upsert_error


class LeaveMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mapping: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[str, Field(min_length=1, max_length=64)] | None,
    ] = Field(max_length=200, description="time-off code id -> Xero leave type id (null: none)")


class ImportFromXero(BaseModel):  # and archive-unmatched
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="say what it would do; change nothing")


class AddContacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=100, description="Xero ContactIDs (from non-customers)"
    )


class InvoiceTime(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date_from: date
    date_to: date
    dry_run: bool = Field(default=False, description="say what it would bill; change nothing")

    @model_validator(mode="after")
    def _period(self) -> InvoiceTime:
        if self.date_to < self.date_from:
            raise ValueError("date_to: the period ends before it starts")
        if (self.date_to - self.date_from).days > 366:
            raise ValueError("date_to: bill at most a year at a time")
        return self


RuntimeFactory = Callable[[], Any]  # -> booksync.boot.Runtime (kept lazy: cold start)


def make_connection_router(runtime: RuntimeFactory) -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    def tenant() -> str:
        tenant_id: str = router.context["tenant_id"]
        return tenant_id

    def active(provider: str) -> Any:
        return active_connection(tenant(), provider)

    @router.post("/v1/connections/<provider>/sync")
    def save_and_sync(provider: str) -> dict[str, Any]:
        """Send every record the settings want that the provider does not hold yet (or
        holds at an older version); QBT first gets its two custom fields."""
        conn = active(provider)
        rt = runtime()
        fields = None
        if provider == "qbt":
            try:
                fields = custom_fields.setup(rt.session(conn))
            except SyncFailure as failure:
                # a wait (a 5xx, a throttle) is a 503 with Retry-After; a refusal a person
                # must fix is a 409 and the connection's sync error
                problem = problem_of(failure)
                if isinstance(problem, Conflict):
                    upsert_error(
                        tenant_id=conn.tenant_id,
                        provider="qbt",
                        connection_id=conn.connection_id,
                        kind="connection",
                        record_id=conn.connection_id,
                        failure=failure,
                    )
                raise problem from failure
        queued = reconcile_push(conn, rt.enqueuer)
        # and read what changed there now, not at the next poll or tick
        rt.enqueuer.send(
            Pull(
                tenant_id=conn.tenant_id,
                connection_id=conn.connection_id,
                provider=conn.provider,
                reason="manual",
                trigger=f"sync-{uuid.uuid4()}",
            )
        )
        return {
            "provider": provider,
            "enqueued": queued.kinds,
            "pull_queued": True,
            "custom_fields": fields,
        }

    @router.get("/v1/connections/<provider>/drift")
    def drift_report(provider: str) -> dict[str, Any]:
        """Where the hub and the provider disagree (engine/drift.py): linked records whose
        content differs, wanted records not linked, links whose object is gone, objects no
        link names. Reads the provider's listing (its cost is in the answer); changes
        nothing: `booksync reconcile TENANT --provider P` repairs."""
        require(router, "admin")
        check_provider(provider)
        return drift.find(runtime().session(active(provider))).as_dict()

    @router.post("/v1/connections/qbt/import-from-xero")
    def import_from_xero(body: ImportFromXero) -> dict[str, Any]:
        """Xero's items and tracking categories as QuickBooks Time custom fields, as the
        QBT connection's settings ask (engine/qbt_from_xero.py); `{"dry_run": true}` says
        what it would do. Run again, it adds, renames and deactivates what changed."""
        require(router, "admin")
        rt = runtime()
        qbt, xero = active("qbt"), active("xero")
        try:
            return qbt_from_xero.import_from_xero(
                rt.session(qbt), rt.session(xero), dry_run=body.dry_run
            )
        except SyncFailure as failure:
            raise Conflict(f"{failure.spec.title}: {failure.provider_message}") from failure

    @router.post("/v1/connections/qbt/archive-unmatched")
    def archive_unmatched(body: ImportFromXero) -> dict[str, Any]:
        """Archive the QuickBooks Time customers (top-level jobcodes) no hub contact links;
        one with time in the last six months is kept with the reason. `{"dry_run": true}`
        lists them first (engine/qbt_from_xero.py)."""
        require(router, "admin")
        return qbt_from_xero.archive_unmatched(
            runtime().session(active("qbt")), dry_run=body.dry_run
        )

    @router.get("/v1/connections/xero/leave-mapping")
    def leave_mapping() -> dict[str, Any]:
        """QuickBooks Time's time-off codes and Xero's leave types to choose from, and
        which code's time off becomes which leave (engine/leave.py)."""
        rt = runtime()
        return leave.choices(rt.session(active("qbt")), rt.session(active("xero")))

    @router.put("/v1/connections/xero/leave-mapping")
    def set_leave_mapping(body: LeaveMapping) -> dict[str, Any]:
        """Set which time-off code becomes which Xero leave type (null: unmapped), every
        id checked against both lists first."""
        require(router, "admin")
        rt = runtime()
        xero = active("xero")
        mapping, answer = leave.checked(rt.session(active("qbt")), rt.session(xero), body.mapping)
        # the unpaid types too: their time off is never exported (providers/xero/leave.py)
        unpaid = sorted(t["id"] for t in answer["leave_types"] if not t["paid"])
        save_settings(
            tenant(),
            "xero",
            {**(xero.settings or {}), "leave_mapping": mapping, "unpaid_leave_types": unpaid},
        )
        # approved time off on a newly mapped code goes now (what is sent stays as it is)
        answer["queued"] = reconcile_push(active("xero"), rt.enqueuer).records.get("xero", 0)
        return answer

    @router.get("/v1/connections/xero/non-customers")
    def xero_non_customers() -> dict[str, Any]:
        """Xero's active contacts never invoiced that no hub contact links: what a firm
        taking in customers only (Xero setting `customers_only`) may add on request."""
        return qbt_from_xero.non_customers(runtime().session(active("xero")))

    @router.post("/v1/connections/xero/non-customers/add")
    def add_xero_contacts(body: AddContacts) -> dict[str, Any]:
        """Take these Xero contacts into the hub as an import would (linked when one
        matches exactly, a partial match to the review, else created)."""
        require(router, "admin")
        return qbt_from_xero.add_contacts(runtime().session(active("xero")), body.contact_ids)

    @router.post("/v1/connections/xero/invoice-time")
    def invoice_time(body: InvoiceTime) -> dict[str, Any]:
        """Bill the period's billable, approved QuickBooks Time hours: one draft Xero
        sales invoice per customer, each entry billed once; what is not billed is listed
        with the reason (engine/time_billing.py). `dry_run`: what it would bill."""
        require(router, "admin")
        rt = runtime()
        qbt, xero = rt.session(active("qbt")), rt.session(active("xero"))
        try:
            return time_billing.invoice_time(
                qbt, xero, body.date_from, body.date_to, dry_run=body.dry_run
            )
        except SyncFailure as failure:  # while reading, before any write: safe to retry
            raise problem_of(failure) from failure

    @router.get("/v1/connections/qbt/unmatched-users")
    def unmatched_qbt_users() -> dict[str, Any]:
        """QBT users with no hub user of the same email, each with the reason."""
        conn = active("qbt")
        users = [r.data for r in hub_records.all_of_kind(tenant(), "user")]
        return {"items": unmatched_users(runtime().session(conn), users)}

    return router
