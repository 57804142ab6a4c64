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
