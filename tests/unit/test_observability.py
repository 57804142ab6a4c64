import json

from booksync.observability import make_logger, redact


def test_redact_masks_secret_keys_at_any_depth():
    data = {
        "tenant_id": "t1",
        "tokens": {"access_token": "abc", "nested": [{"refresh_token": "r"}]},
        "headers": {"Authorization": "Bearer x"},
    }
    masked = redact(data)
    assert masked["tenant_id"] == "t1"
    assert masked["tokens"] == "***"
    assert masked["headers"]["Authorization"] == "***"


def test_logger_never_writes_a_token_passed_as_extra(capsys):
    log = make_logger("test")
    log.info("refreshed", extra={"connection_id": "c1", "refresh_token": "rt-very-secret"})
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["connection_id"] == "c1"
    assert "rt-very-secret" not in json.dumps(line)


def _emf(out: str, name: str) -> list[dict]:
    """The EMF lines of metric `name` among what a function printed."""
    found = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            doc = json.loads(line)
            if name in doc:
                found.append(doc)
    return found


def test_a_provider_429_is_counted_per_provider_without_tenant_ids(stack_env, capsys):
    import requests as http

    from booksync.engine.seam import ProviderSession
    from booksync.store import connections as connection_rows

    conn = connection_rows.new("tenant-1", "xero", "conn-1")

    class Answer429(http.Session):
        def request(self, method, url, **kwargs):  # what Xero says past its minute limit
            reply = http.Response()
            reply.status_code = 429
            reply.headers["Retry-After"] = "7"
            return reply

    class Tokens:
        def call(self, session, send):
            return send("access")

    session = ProviderSession(conn, Tokens(), http=Answer429(), api_base="https://x.example")
    reply = session.request("POST", "https://x.example/api.xro/2.0/Contacts")
    assert reply.status_code == 429
    (line,) = _emf(capsys.readouterr().out, "ThrottlesReceived")
    assert line["provider"] == "xero"
    assert line["service"] == "booksync"
    assert line["ThrottlesReceived"] == [1.0]
    assert "tenant-1" not in json.dumps(line)
    assert "conn-1" not in json.dumps(line)


def test_a_sync_error_counts_once_when_opened_not_per_attempt(stack_env, capsys):
    from booksync.errors import SyncFailure
    from booksync.store.sync_errors import upsert_error

    for _ in range(3):  # the same record failing three times: one error, three attempts
        row = upsert_error(
            tenant_id="tenant-1",
            provider="qbo",
            connection_id="conn-1",
            kind="contact",
            record_id="rec-1",
            failure=SyncFailure("qbo.unavailable", "503"),
        )
    assert row.attempts == 3
    (line,) = _emf(capsys.readouterr().out, "SyncErrorsOpened")
    assert (line["provider"], line["SyncErrorsOpened"]) == ("qbo", [1.0])
