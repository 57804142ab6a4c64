import socket
import struct
import threading
import time

import requests

from local.gateway import Gateway, Route, api_event
from local.pollers import rate_seconds


class _Fn:
    name = "fn"


def test_greedy_route_matches_any_depth_and_names_the_proxy():
    route = Route.make("ANY", "/v1/{proxy+}", _Fn())
    assert route.match("GET", "/v1/contacts/42") == {"proxy": "contacts/42"}
    assert route.match("POST", "/oauth/qbo/connect") is None


def test_specific_route_is_preferred_over_greedy_one():
    greedy = Route.make("ANY", "/{proxy+}", _Fn())
    specific = Route.make("GET", "/oauth/{provider}/connect", _Fn())
    ordered = sorted([greedy, specific], key=lambda r: r.specificity)
    assert ordered[0] is specific


def test_event_is_an_http_api_v2_payload():
    route = Route.make("POST", "/webhooks/qbo", _Fn())
    event = api_event(
        "POST",
        "/webhooks/qbo",
        "a=1&a=2",
        {"content-type": "application/json"},
        b'{"x":1}',
        route,
        {},
        "127.0.0.1",
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhooks/qbo"
    assert event["body"] == '{"x":1}'
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"a": "1,2"}


def test_binary_body_is_base64_encoded():
    route = Route.make("POST", "/x", _Fn())
    event = api_event(
        "POST",
        "/x",
        "",
        {"content-type": "application/octet-stream"},
        b"\x00\x01",
        route,
        {},
        "127.0.0.1",
    )
    assert event["isBase64Encoded"] is True
    assert event["body"] == "AAE="


def test_rate_expressions():
    assert rate_seconds("rate(1 hour)") == 3600
    assert rate_seconds("rate(5 minutes)") == 300


class _AnswersAfterTheCallerLeft:
    name = "slow"

    def __init__(self) -> None:
        self.caller_gone = threading.Event()

    def invoke(self, event: dict) -> dict:
        self.caller_gone.wait(5)
        return {"statusCode": 200, "body": "x" * 100_000}


def test_a_caller_that_hangs_up_gets_one_log_line_and_the_gateway_serves_on(capsys):
    slow = _AnswersAfterTheCallerLeft()
    gateway = Gateway([Route.make("POST", "/webhooks/qbo", slow)], {})
    gateway.start()
    try:
        host, port = gateway.server.server_address[:2]
        caller = socket.create_connection((host, port))
        # close with a reset, as a sender whose timeout ran out does
        caller.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        caller.sendall(b"POST /webhooks/qbo HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        time.sleep(0.2)
        caller.close()
        slow.caller_gone.set()
        for _ in range(50):
            if "caller hung up" in capsys.readouterr().out:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the gateway did not say the caller hung up")
        answer = requests.post(f"{gateway.url}/nowhere", timeout=5)
        assert answer.status_code == 404
    finally:
        gateway.stop()
