"""A schedule fired through the local stack with a time stands for that tick."""

from typing import Any

from local.pollers import Schedule
from local.stack import LocalStack


class _Function:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> str:
        self.events.append(event)
        return "done"


def test_fire_at_sends_the_given_time_as_the_events_own():
    function = _Function()
    schedule = Schedule("Hourly", ("Hourly",), 3600, function)  # type: ignore[arg-type]
    assert LocalStack.fire_at(schedule, "2030-01-01T05:00:00Z") == "done"
    (event,) = function.events
    assert event["time"] == "2030-01-01T05:00:00Z"
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"][0].endswith("rule/Hourly")
    assert schedule.fired == 1
