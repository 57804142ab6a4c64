"""QBO jobs (sub-customers) <- hub work items, under their contact's customer.

A job is a Customer with Job=true and ParentRef (PROVIDERS.md 1.3 Customer). Its name
shares the pool of every customer, vendor and employee, jobs of other clients included,
so a clash asks for a rename rather than a link (qbo.duplicate_job_name). A rename in
QBO comes back through CDC as the work item's new name; its status stays the hub's (QBO
has only active or not).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from booksync.engine.seam import ProviderSession, PushItem
from booksync.errors import SyncFailure
from booksync.hub import content as hub
from booksync.providers.qbo.changes import QboChanges
from booksync.providers.qbo.mapping import display_name
from booksync.providers.qbo.namelist import NameListFamily, list_all, parent_id


def sub_customer_from_work_item(work_item: hub.WorkItem, parent_ref: str) -> dict[str, Any]:
    """A work item as a sub-customer (job) of its contact's customer, billed with it."""
    return {
        "DisplayName": display_name(work_item.name),
        "Job": True,
        "ParentRef": {"value": parent_ref},
        "BillWithParent": True,
        "Active": work_item.status == "active",
    }


def _job_hash(name: str, active: bool) -> str:
    return hub.content_hash({"name": display_name(name), "active": active})


def work_item_fingerprint(work_item: hub.WorkItem) -> str:
    return _job_hash(work_item.name, work_item.status == "active")


def job_fingerprint(raw: dict[str, Any]) -> str:
    """work_item_fingerprint of the work item a job holds."""
    return _job_hash(str(raw.get("DisplayName") or ""), raw.get("Active") is not False)


def _work_item(content: Any) -> hub.WorkItem:
    return content if isinstance(content, hub.WorkItem) else hub.WorkItem.model_validate(content)


class Jobs(NameListFamily):
    kind = "work_item"
    object_type = "Customer"  # jobs share the customers' id space
    entity = "Customer"
    managed_fields = ("name",)
    settings = {
        "work_items_as_sub_customers": (
            bool,
            Field(default=False, description="send work items as sub-customers (jobs)"),
        )
    }
    source = QboChanges

    def wants(self, settings: dict[str, Any], data: dict[str, Any]) -> bool:
        return bool(settings.get("work_items_as_sub_customers"))

    def plan(
        self, session: ProviderSession, item: PushItem, pushed: dict[str, str], context: Any = None
    ) -> tuple[dict[str, Any], str]:
        work = _work_item(item.content)
        parent = parent_id(session, "contact", work.contact_id, {})
        return sub_customer_from_work_item(work, parent), work_item_fingerprint(work)

    def fingerprint_of(self, raw: dict[str, Any]) -> str:
        return job_fingerprint(raw)

    def intent(self, item: PushItem) -> dict[str, Any]:
        return {"name": display_name(_work_item(item.content).name)}

    def clash_code(self, failure: SyncFailure) -> str:
        return "qbo.duplicate_job_name"  # never the same thing as another client's entry

    def from_provider(self, raw: dict[str, Any]) -> dict[str, Any] | None:
        return {"name": display_name(str(raw.get("DisplayName") or ""))}

    def deleted_content(self, current: dict[str, Any]) -> dict[str, Any]:
        return current  # a job made inactive in QBO keeps the work item as it is

    def listing(self, session: ProviderSession) -> list[dict[str, Any]] | None:
        """Every customer (drift reads the one listing the customers family reads and
        compares the jobs linked to work items)."""
        return list_all(session, self.entity)
