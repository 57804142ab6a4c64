"""QuickBooks Time stamps changes in whole seconds: a change made later in the second the
cursor was read has the cursor's own stamp, and must still be read (issue 12: no change
lost). An account QBT answered in a later second is settled: an idle poll is one call."""

import json
from typing import Any

import requests

from booksync.providers.qbt.changes import UNSETTLED, QbtChanges
from booksync.providers.qbt.users import Users

STAMP = "2026-03-02T10:00:07+00:00"


class ScriptedAccount:
    """A QBT account that answers every call at `date` (its `Date` header) with a user
    stamped `STAMP`, and logs the endpoints asked."""

    api_base = "https://rest.tsheets.example/api/v1"

    def __init__(self) -> None:
        self.date = "Mon, 02 Mar 2026 10:00:07 GMT"
        self.asked: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        endpoint = url.rsplit("/", 1)[-1]
        self.asked.append(endpoint)
        if endpoint == "last_modified_timestamps":
            body: dict[str, Any] = {"results": {"last_modified_timestamps": {"users": STAMP}}}
        else:
            user = {"id": 7, "first_name": "Ann", "last_name": "Lee", "last_modified": STAMP}
            body = {"results": {"users": {"7": user}}, "more": False}
        reply = requests.Response()
        reply.status_code = 200
        reply.headers["Date"] = self.date
        reply._content = json.dumps(body).encode()
        return reply


def poll(account: ScriptedAccount, cursor: str | None) -> str | None:
    account.asked.clear()
    return QbtChanges([Users()]).read(account, cursor).cursor  # type: ignore[arg-type]


def test_a_cursor_read_within_its_own_second_is_read_again_until_qbt_answers_later():
    account = ScriptedAccount()
    first = poll(account, None)  # QBT answered at 10:00:07, the newest stamp's own second
    assert json.loads(first or "{}")[UNSETTLED] == "users"
    # the stamp has not moved, but a change later in 10:00:07 would carry it: read again
    account.date = "Mon, 02 Mar 2026 10:00:08 GMT"
    second = poll(account, first)
    assert account.asked == ["last_modified_timestamps", "users"]
    assert UNSETTLED not in json.loads(second or "{}")
    # answered a second later: settled, and an idle poll is one call again
    account.date = "Mon, 02 Mar 2026 10:05:08 GMT"
    third = poll(account, second)
    assert account.asked == ["last_modified_timestamps"]
    assert third == second


def test_a_cursor_read_in_a_later_second_is_settled_at_once():
    account = ScriptedAccount()
    account.date = "Mon, 02 Mar 2026 10:00:09 GMT"
    first = poll(account, None)
    assert UNSETTLED not in json.loads(first or "{}")
    poll(account, first)
    assert account.asked == ["last_modified_timestamps"]
