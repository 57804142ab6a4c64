"""Billing: copying and sending invoices to the books, and what the books still need.

The rules live in the invoice families (providers/<p>/invoices.py) and the hub kinds
(hub/kinds/invoices.py, payments.py); this shapes. Every answer names, per provider, where
the invoice stands: queued, in the books (with the provider's id), or why not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from booksync.api.auth import require
from booksync.connections.manager import active_connection, check_provider
from booksync.engine.outbox import changed_from_record, messages_for
from booksync.errors import Conflict, NotFound
from booksync.hub import records
from booksync.hub.kinds import invoices
from booksync.providers import registry
from booksync.providers.qbo.invoices import (
    EMAIL_REQUEST_SECONDS,
    email_pending,
    email_request_key,
)
from booksync.store import connections as connection_rows
from booksync.store import leases, links, sync_errors
from booksync.store import records as store

RuntimeFactory = Callable[[], Any]  # -> booksync.boot.Runtime
InvoiceId = Annotated[str, Path(min_length=1, max_length=64, description="the invoice's id")]
SETUP_LOOKBACK_DAYS = 366  # invoices read for billing-setup when no sync start is set
COPYABLE = frozenset({"approved", "sent", "posted", "paid"})


class CopyInvoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: list[Literal["qbo", "xero"]] = Field(
        default_factory=list, description="none: every connected provider that takes invoices"
    )


def make_billing_router(runtime: RuntimeFactory) -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    def tenant() -> str:
        tenant_id: str = router.context["tenant_id"]
        return tenant_id

    def invoice_of(invoice_id: str) -> Any:
        return records.get_record(tenant(), invoices.KIND, invoice_id)

    def takers(wanted: list[str]) -> list[Any]:
        """Active connections whose provider takes invoices (all, or those named)."""
        conns = []
        for provider in wanted or [p for p in registry.PROVIDERS]:
            if registry.family(provider, invoices.KIND) is None:
                continue
            conn = connection_rows.get(tenant(), provider, consistent=False)
            if conn is not None and conn.status == "active":
                conns.append(conn)
            elif wanted:
                active_connection(tenant(), provider)  # raises with the reason
        if not conns:
            raise Conflict("no connected provider takes invoices: connect QuickBooks or Xero")
        return conns

    def queue(conns: list[Any], record: Any) -> None:
        """Explicit pushes of the invoice, its contact first when the provider has no
        customer for it yet (matched by name or created by the contacts push; the two
        share a FIFO group, so the contact goes first)."""
        rt = runtime()
        contact_id = str((record.data or {}).get("contact_id"))
        for conn in conns:
            changed = [changed_from_record(record)]
            if links.get_link(tenant(), str(conn.provider), "contact", contact_id) is None:
                contact = records.live(tenant(), "contact", contact_id)
                if contact is not None:
                    changed.insert(0, changed_from_record(contact))
            messages, _ = messages_for(conn, changed, explicit=True)
            rt.enqueuer.send_many(messages)

    @router.post("/v1/invoices/<invoice_id>/copy")
    def copy_invoice(invoice_id: InvoiceId, body: CopyInvoice | None = None) -> Response[str]:
        """Copy an approved (or issued) invoice to the books now; an invoice already there
        is updated in place. 202: follow it at /v1/invoices/{id}/sync."""
        require(router, "write")
        record = invoice_of(invoice_id)
        status = str((record.data or {}).get("status"))
        if status not in COPYABLE:
            raise Conflict(
                f"the invoice is {status}: approve it first (a draft or void invoice is not "
                "copied)",
                field="status",
            )
        conns = takers(list(body.providers) if body else [])
        queue(conns, record)
        return _accepted(invoice_id, sync_state(tenant(), record, conns))

    @router.post("/v1/invoices/<invoice_id>/send")
    def send_invoice(
        invoice_id: InvoiceId,
        via: Annotated[Literal["qbo"], Query(description="who e-mails it")] = "qbo",
    ) -> Response[str]:
        """Copy the invoice to QuickBooks Online and have QuickBooks e-mail it to the hub's
        billing email. Without a billing email in the hub it is copied only (QuickBooks
        would otherwise use the customer's own address), and the answer says why."""
        require(router, "write")
        record = invoice_of(invoice_id)
        data = dict(record.data or {})
        if data.get("status") not in COPYABLE:
            raise Conflict(f"the invoice is {data.get('status')}: approve it first", field="status")
        conn = active_connection(tenant(), via)
        if data["status"] == "approved":  # sending issues it
            record = records.update_record(
                tenant(),
                invoices.KIND,
                invoice_id,
                {**data, "status": "sent"},
                note=f"sent via {via}",
            )
        email = data.get("billing_email")
        answer: dict[str, Any] = {"invoice_id": invoice_id, "via": via, "copied": True}
        if not email:
            answer |= {
                "emailed": False,
                "reason": "the invoice has no billing email in booksync, so it was copied "
                "to QuickBooks but not e-mailed (QuickBooks would have used the customer's "
                "own address). Add billing_email to the invoice and send it again.",
            }
        else:
            answer |= {"emailed": "after the copy", "to": email}
            leases.write_many(
                {
                    email_request_key(str(conn.connection_id), invoice_id): {
                        "to": email,
                        "version": int(record.version),
                    }
                },
                EMAIL_REQUEST_SECONDS,
            )
        link = links.get_link(tenant(), via, invoices.KIND, invoice_id)
        if link is not None and int(link.synced_version) >= int(record.version) and email:
            # already in QuickBooks as it is: nothing for the push to do, so e-mail now
            rt = runtime()
            email_pending(rt.session(conn), {invoice_id: str(link.provider_id)})
            answer["emailed"] = True
        else:
            queue([conn], record)
        answer["sync"] = sync_state(tenant(), record, [conn])
        return Response(
            202,
            content_type="application/json",
            body=_json(answer),
            headers={"Location": f"/v1/invoices/{invoice_id}/sync"},
        )

    @router.get("/v1/invoices/<invoice_id>/sync")
    def invoice_sync(invoice_id: InvoiceId) -> dict[str, Any]:
        """Where the invoice stands with each connected provider that takes invoices."""
        record = invoice_of(invoice_id)
        conns = [
            c
            for p in registry.PROVIDERS
            if registry.family(p, invoices.KIND) is not None
            and (c := connection_rows.get(tenant(), p, consistent=False)) is not None
        ]
        return {"invoice_id": invoice_id, "providers": sync_state(tenant(), record, conns)}

    @router.get("/v1/connections/<provider>/billing-setup")
    def billing_setup(provider: Annotated[str, Path(max_length=16)]) -> dict[str, Any]:
        """What is missing before invoices can go to this provider: work types with no
        service, hub tax rates with no tax code, an income account; read from the
        provider and from the firm's invoices since the sync start (or the last year)."""
        require(router, "admin")
        check_provider(provider)
        family = registry.family(provider, invoices.KIND)
        if family is None:
            raise NotFound(f"{provider} does not take invoices")
        conn = active_connection(tenant(), provider)
        settings = registry.effective_settings(provider, conn.settings)
        start = (
            settings.get("invoice_sync_start")
            or (datetime.now(UTC).date() - timedelta(days=SETUP_LOOKBACK_DAYS)).isoformat()
        )
        work_types, tax_rates = used_in_invoices(tenant(), str(start))
        gaps = family.billing_gaps(runtime().session(conn), work_types, tax_rates)
        return {
            "provider": provider,
            "ready": not gaps,
            "work_types": sorted(work_types),
            "tax_rates": sorted(tax_rates),
            "missing": [g.__dict__ for g in gaps],
        }

    return router


def used_in_invoices(tenant_id: str, since: str) -> tuple[set[str], set[str]]:
    """Work types and hub tax rates ("GST", "GST+PST"; "none" for untaxed lines) of the
    firm's invoices dated since then (by the date index), and its work items' work types."""
    keys = store.keys_between(tenant_id, invoices.KIND, since, None)
    work_types: set[str] = set()
    tax_rates: set[str] = set()
    for record in store.get_keys(tenant_id, keys, consistent=False).values():
        if record.deleted:
            continue
        for line in invoices.Invoice.model_validate(record.data or {}).lines:
            if line.work_type:
                work_types.add(line.work_type)
            tax_rates.add(line.tax_key or "none")  # "none": untaxed lines
    for work in store.all_of_kind(tenant_id, "work_item"):
        if (work.data or {}).get("work_type"):
            work_types.add(str(work.data["work_type"]))
    return work_types, tax_rates


def sync_state(tenant_id: str, record: Any, conns: list[Any]) -> dict[str, Any]:
    """Per provider: in the books at this version (with its id), behind, or failed (the
    sync error's code, words and fix), or queued."""
    out: dict[str, Any] = {}
    invoice_id = str(record.record_id)
    for conn in conns:
        provider = str(conn.provider)
        link = links.get_link(tenant_id, provider, invoices.KIND, invoice_id)
        row = sync_errors.get_many(tenant_id, provider, [(invoices.KIND, invoice_id)]).get(
            invoice_id
        )
        error = (
            sync_errors.describe(row)
            if row is not None and row.status in ("open", "retrying")
            else None
        )
        state: dict[str, Any] = {"status": "queued"}
        if link is not None:
            current = int(link.synced_version) >= int(record.version)
            state = {"status": "in_books" if current else "queued", "id": str(link.provider_id)}
        if error is not None and state["status"] != "in_books":
            state = {**state, "status": "failed", "error": error}
        out[provider] = state
    return out


def _accepted(invoice_id: str, state: dict[str, Any]) -> Response[str]:
    return Response(
        202,
        content_type="application/json",
        body=_json({"invoice_id": invoice_id, "providers": state}),
        headers={"Location": f"/v1/invoices/{invoice_id}/sync"},
    )


def _json(value: Any) -> str:
    return json.dumps(value, default=str)
