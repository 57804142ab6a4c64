"""Time off: a day (or part of one) a user is away on a time-off code: holiday, sickness.

Entered in QuickBooks Time as a timesheet on a time-off code (a jobcode of type `pto`,
providers/qbt/time_off.py), it comes into the hub; once approved there (on or before its
user's `approved_to`), it goes to Xero Payroll as a leave application of the leave type
the firm mapped its code to (providers/xero/leave.py; unpaid leave never goes). Kept in
step both ways with Xero's application: an edit or deletion in QBT before the pay run
changes or removes it; a pay period already paid is a sync error with the reason.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, Field

from booksync.errors import InvalidInput
from booksync.hub.entity import Entity, ListFilter, adopt_as_new, date_range
from booksync.store import records as store

KIND = "time_off"


class TimeOff(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    user_id: str = Field(min_length=1, max_length=64)
    date: date
    duration_minutes: int = Field(gt=0, le=24 * 60, description="1 to 1,440 minutes")
    code_id: str = Field(
        min_length=1, max_length=64, description="the QuickBooks Time time-off code's id"
    )
    code_name: str = Field(default="", max_length=100, description="e.g. Holiday, Sick")
    notes: str = Field(default="", max_length=2000)
    approved: bool = Field(
        default=False, description="approved in QuickBooks Time: only approved time off goes"
    )


def _check(
    tenant_id: str, record_id: str | None, content: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    user_id = str(content["user_id"])
    if user_id != before.get("user_id"):
        user = store.get(tenant_id, "user", user_id)
        if user is None or user.deleted:
            raise InvalidInput(f"no user {user_id}", field="user_id")
    return content


ENTITY = Entity(
    kind=KIND,
    model=TimeOff,
    path="time-off",
    label="time off",
    parents=("user",),
    filters=(
        ListFilter("user_id", Annotated[str | None, Query(max_length=64)]),
        ListFilter("approved", Annotated[bool | None, Query()]),
        *date_range("date"),
    ),
    indexed="user_id",
    dated="date",
    check=_check,
    adopt=adopt_as_new(KIND),  # QBT's time off is the firm's own: never matched
    group_of=lambda record_id, data: str(data.get("user_id") or record_id),
)
