"""Drive the real oauth handler through a provider simulator's consent, as a browser would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from tests.conftest import lambda_context, load_event

CALLBACK_HOST = "127.0.0.1:3999"  # the simulators accept loopback redirect URIs


def oauth_event(
    method: str, path: str, query: dict[str, str] | None = None, key: str | None = None
) -> dict[str, Any]:
    event = load_event("oauth/connect_qbo.json", API_KEY=key or "")
    provider = path.split("/")[2]
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = (
        f"{method} {path.replace(provider, '{provider}', 1)}"
    )
    event["requestContext"]["domainName"] = CALLBACK_HOST
    event["headers"]["host"] = CALLBACK_HOST
    event["headers"]["x-forwarded-proto"] = "http"
    event["pathParameters"] = {"provider": provider}
    if key is None:
        event["headers"].pop("authorization", None)
    event["rawQueryString"] = urlencode(query or {})
    event["queryStringParameters"] = dict(query or {})
    if not query:
        event.pop("queryStringParameters")
    return event


@dataclass
class Dance:
    handler: Any
    key: str

    def connect_url(self, provider: str, **query: str) -> str:
        answer = self.handler(
            oauth_event("GET", f"/oauth/{provider}/connect", query, self.key), lambda_context()
        )
        assert answer["statusCode"] == 200, answer
        url: str = json.loads(answer["body"])["authorize_url"]
        return url

    def consent(self, url: str, **extra: str) -> dict[str, str]:
        """The person consents at the provider: returns the callback's query."""
        if extra:
            url = f"{url}&{urlencode(extra)}"
        reply = requests.get(url, allow_redirects=False, timeout=10)
        assert reply.status_code in (302, 303), reply.text
        location = urlsplit(reply.headers["Location"])
        assert location.path.endswith("/callback"), location
        return dict(parse_qsl(location.query))

    def callback(self, provider: str, query: dict[str, str]) -> tuple[int, str]:
        answer = self.handler(
            oauth_event("GET", f"/oauth/{provider}/callback", query), lambda_context()
        )
        assert answer["headers"]["Content-Type"].startswith("text/html")
        return answer["statusCode"], answer["body"]

    def connect(
        self, provider: str, sim_company: str | None = None, **connect_query: str
    ) -> tuple[int, str]:
        extra = {"sim_company": sim_company} if sim_company else {}
        return self.callback(
            provider, self.consent(self.connect_url(provider, **connect_query), **extra)
        )

    def disconnect(self, provider: str) -> tuple[int, dict[str, Any]]:
        answer = self.handler(
            oauth_event("POST", f"/oauth/{provider}/disconnect", None, self.key), lambda_context()
        )
        return answer["statusCode"], json.loads(answer["body"])
