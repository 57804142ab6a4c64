"""A read that meets a 5xx or a cut connection is tried again in the same call (twice at
most); a write never is (its idempotency key decides, on the message's own retry)."""

from types import SimpleNamespace
from typing import Any

import pytest
import requests

from booksync.engine import seam
from booksync.engine.seam import ProviderSession
from booksync.errors import SyncFailure


class Tokens:
    def call(self, session: Any, send: Any) -> requests.Response:
        return send("token")


class Provider:
    """Answers from a script: a status, or an exception to raise."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.asked.append(method)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        reply = requests.Response()
        reply.status_code = answer
        return reply


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(seam.time, "sleep", lambda seconds: None)


def session(http: Provider) -> ProviderSession:
    conn = SimpleNamespace(provider="qbo", tenant_id="t", company_id="1")
    return ProviderSession(connection=conn, tokens=Tokens(), http=http)  # type: ignore[arg-type]


def test_a_read_answered_503_then_cut_is_tried_again_and_answers():
    http = Provider(503, requests.ConnectionError("reset by peer"), 200)
    s = session(http)
    assert s.request("GET", "https://q.example/query").status_code == 200
    assert (http.asked, s.calls) == (["GET", "GET", "GET"], 3)


def test_a_read_gives_up_after_two_more_tries_with_the_providers_answer():
    http = Provider(503, 502, 503)
    assert session(http).request("GET", "https://q.example/query").status_code == 503
    assert len(http.asked) == 3


def test_a_write_is_never_repeated_in_the_call():
    http = Provider(503)
    assert session(http).request("POST", "https://q.example/batch").status_code == 503
    http = Provider(requests.ConnectionError("reset by peer"))
    with pytest.raises(SyncFailure) as info:
        session(http).request("POST", "https://q.example/batch")
    assert info.value.code == "qbo.unavailable"
    assert http.asked == ["POST"]


def test_a_read_that_timed_out_is_not_repeated():
    http = Provider(requests.ReadTimeout("30 s"))
    with pytest.raises(SyncFailure):
        session(http).request("GET", "https://q.example/query")
    assert http.asked == ["GET"]
