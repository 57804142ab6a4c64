from local.gateway import Route, api_event
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
