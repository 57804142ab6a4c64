"""Drive the real oauth handler through a provider simulator's consent, as a browser would."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests

from tests.conftest import lambda_context, load_event

CALLBACK_HOST = "127.0.0.1:3999"  # the simulators accept loopback redirect URIs


def oauth_event(
    method: str,
    path: str,
    query: dict[str, str] | None = None,
    key: str | None = None,
    cookies: list[str] | None = None,
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
    if cookies:
        event["cookies"] = list(cookies)
    return event


def handoff_link(page: str) -> str:
    """The hand-off page's "Continue" link: the provider's sign-in URL."""
    found = re.search(r'id="continue" href="([^"]+)"', page)
    assert found, page
    return html.unescape(found.group(1))


@dataclass
class Dance:
    """One person's browser: it keeps the cookies booksync sets (the browser binding)."""

    handler: Any
    key: str
    cookies: dict[str, str] = field(default_factory=dict)

    def handoff_url(self, provider: str, **query: str) -> str:
        """The practice app asks to connect: the hand-off page's URL."""
        answer = self.handler(
            oauth_event("GET", f"/oauth/{provider}/connect", query, self.key), lambda_context()
        )
        assert answer["statusCode"] == 200, answer
        url: str = json.loads(answer["body"])["authorize_url"]
        return url

    def open_handoff(self, url: str) -> tuple[int, str]:
        """The browser opens the hand-off page: it keeps the cookie; answers the page."""
        parts = urlsplit(url)
        answer = self.handler(
            oauth_event("GET", parts.path, dict(parse_qsl(parts.query))), lambda_context()
        )
        for cookie in answer.get("cookies") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return answer["statusCode"], answer["body"]

    def connect_url(self, provider: str, **query: str) -> str:
        """Connect, then open the hand-off page in this browser: the provider's sign-in URL."""
        status, page = self.open_handoff(self.handoff_url(provider, **query))
        assert status == 200, page
        return handoff_link(page)

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
        cookies = [f"{k}={v}" for k, v in self.cookies.items()]
        answer = self.handler(
            oauth_event("GET", f"/oauth/{provider}/callback", query, cookies=cookies),
            lambda_context(),
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
