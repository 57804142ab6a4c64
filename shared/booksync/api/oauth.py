"""Routes of the oauth function: connect, start (the hand-off page), callback, disconnect.

connect and disconnect are called by the practice app with its API key (connect needs the
write scope, with `reset=true` admin; disconnect admin; `settings=` a JSON object of the
connection's settings, kept from before its first pull: import options hold from the
first import). connect answers the URL of the
hand-off page, `start`, which the person's browser opens: it names the firm the books will
be connected to, sets a browser-binding cookie and links on to the provider's sign-in.
callback is opened by the browser coming back from the provider: it needs that cookie,
and answers a page. Redirect URIs come from the configured base URL (PUBLIC_BASE_URL) or
the host API Gateway served the request on, never from a header the client sets.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from booksync.api import ratelimit
from booksync.api.auth import authenticate_event, refusal, require
from booksync.api.problems import from_problem, problem_response
from booksync.boot import Runtime
from booksync.connections.manager import (
    HANDOFF_TTL,
    PROVIDER_NAMES,
    STATE_TTL,
    ConnectRefused,
    HandOff,
    Outcome,
    check_provider,
    validate_settings,
)
from booksync.errors import InvalidInput, Problem
from booksync.observability import logger
from booksync.providers.registry import settings_schema

COOKIE = "booksync_oauth"  # the browser binding: set by the hand-off page, read by callback
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
h1{{font-size:1.4rem}} li{{margin:.4rem 0}}</style></head>
<body><h1>{title}</h1><p>{message}</p>{extra}<p>You can close this window.</p></body></html>
"""


def _initial_settings(provider: str, raw: str | None) -> dict[str, Any]:
    """`?settings=` of a connect: a JSON object of the provider's settings, checked as
    `PUT /v1/connections/{provider}/settings` checks them; only the fields given are kept
    (a reconnect keeps the rest)."""
    if not raw:
        return {}
    try:
        given = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput("settings: not JSON", field="settings") from exc
    if not isinstance(given, dict):
        raise InvalidInput("settings: a JSON object of the provider's settings", field="settings")
    checked = validate_settings(provider, given, settings_schema(provider))
    return {k: checked[k] for k in given}


def page(outcome: Outcome, provider: str) -> Response[str]:
    extra = ""
    if outcome.choices:
        links = []
        for choice in outcome.choices:
            href = html.escape(
                "callback?" + urlencode({"pending": choice["pending"], "company": choice["id"]})
            )
            links.append(f'<li><a href="{href}">{html.escape(choice["name"])}</a></li>')
        items = "".join(links)
        extra = f"<ul>{items}</ul>"
    body = PAGE.format(
        title=html.escape(outcome.title), message=html.escape(outcome.message), extra=extra
    )
    return Response(
        status_code=outcome.status,
        content_type="text/html; charset=utf-8",
        body=body,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def public_base(event: dict[str, Any], configured: str = "") -> str:
    """This API's public base URL: the configured one (PUBLIC_BASE_URL, the base of the
    redirect URIs registered with the providers), else https on the host API Gateway
    served the request on (requestContext.domainName is API Gateway's, not a header the
    client sets). A loopback host is plain http: the embedded local stack (RFC 8252 7.3)."""
    if configured:
        return configured.rstrip("/")
    host = str(event["requestContext"]["domainName"])
    scheme = "http" if host.rsplit(":", 1)[0] in LOOPBACK else "https"
    return f"{scheme}://{host}"


def callback_uri(event: dict[str, Any], provider: str, configured: str = "") -> str:
    """Where the provider sends the browser back: this API's own callback route."""
    return f"{public_base(event, configured)}/oauth/{provider}/callback"


def binding_cookie(event: dict[str, Any]) -> str | None:
    """The browser-binding cookie of an API Gateway (payload 2.0) event, if sent."""
    for raw in event.get("cookies") or []:
        name, _, value = str(raw).partition("=")
        if name.strip() == COOKIE and value.strip():
            return value.strip()
    return None


def set_cookie(provider: str, value: str, secure: bool) -> Cookie:
    # SameSite=Lax: sent on the provider's top-level redirect back, not on cross-site posts
    return Cookie(
        name=COOKIE,
        value=value,
        path=f"/oauth/{provider}/",
        max_age=STATE_TTL + 300,
        secure=secure,
        http_only=True,
        same_site=SameSite.LAX_MODE,
    )


HANDOFF_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect {provider} to {firm}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
h1{{font-size:1.4rem}} .firm{{font-weight:600}} a.go{{display:inline-block;padding:.6rem 1rem;
background:#1a5fb4;color:#fff;border-radius:.3rem;text-decoration:none}}</style></head>
<body><h1>Connect {provider} to <span class="firm">{firm}</span></h1>
<p>You are about to let booksync keep <span class="firm">{firm}</span>'s practice records in
sync with the {provider} company you choose on the next page.</p>
<p>If you do not work for <span class="firm">{firm}</span>, or did not start this from
booksync yourself, close this window: nothing is connected unless you continue.</p>
<p><a class="go" id="continue" href="{url}" rel="noreferrer">Continue to {provider}</a></p>
</body></html>
"""


def handoff_page(handoff: HandOff, secure: bool) -> Response[str]:
    provider = PROVIDER_NAMES[handoff.provider]
    body = HANDOFF_PAGE.format(
        provider=html.escape(provider),
        firm=html.escape(handoff.firm_name),
        url=html.escape(handoff.authorize_url),
    )
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=body,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "frame-ancestors 'none'",
        },
        cookies=[set_cookie(handoff.provider, handoff.browser_secret, secure)],
    )


def make_oauth_app(runtime: Runtime) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.exception_handler(Problem)
    def _problem(exc: Problem) -> Response[str]:
        return from_problem(exc)

    configured = runtime.settings.public_base_url

    @app.get("/oauth/<provider>/connect")
    def connect(provider: str) -> Response[str]:
        check_provider(provider)
        query = app.current_event.query_string_parameters or {}
        reset = query.get("reset", "").lower() in ("1", "true", "yes")
        caller = require(app, "admin" if reset else "write")  # a reset forgets links
        token = runtime.connections.start(
            caller.tenant_id,
            provider,
            reset=reset,
            by=caller.key_id,
            settings=_initial_settings(provider, query.get("settings")),
        )
        base = public_base(app.current_event.raw_event, configured)
        url = f"{base}/oauth/{provider}/start?{urlencode({'handoff': token})}"
        if query.get("redirect", "").lower() in ("1", "true", "yes"):
            return Response(status_code=302, headers={"Location": url}, body="")
        return Response(
            status_code=200,
            content_type="application/json",
            # authorize_url: where to send the person's browser (booksync's hand-off page,
            # which names the firm and continues to the provider's sign-in)
            body=json.dumps({"authorize_url": url, "expires_in": HANDOFF_TTL}),
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/oauth/<provider>/start")
    def start(provider: str) -> Response[str]:
        check_provider(provider)
        query = app.current_event.query_string_parameters or {}
        event = app.current_event.raw_event
        try:
            handoff = runtime.connections.begin(
                provider,
                str(query.get("handoff", ""))[:64],
                callback_uri(event, provider, configured),
            )
        except ConnectRefused as exc:
            return page(Outcome(exc.status, exc.title, exc.message), provider)
        logger.info("connect hand-off opened", extra={"provider": provider})
        return handoff_page(handoff, public_base(event, configured).startswith("https:"))

    @app.get("/oauth/<provider>/callback")
    def callback(provider: str) -> Response[str]:
        query = {
            k: str(v)[:2048] for k, v in (app.current_event.query_string_parameters or {}).items()
        }
        browser = binding_cookie(app.current_event.raw_event)
        try:
            return page(runtime.connections.callback(provider, query, browser), provider)
        except ConnectRefused as exc:
            logger.warning("connect refused", extra={"provider": provider, "reason": exc.title})
            return page(Outcome(exc.status, exc.title, exc.message), provider)

    @app.post("/oauth/<provider>/disconnect")
    def disconnect(provider: str) -> dict[str, Any]:
        caller = require(app, "admin")
        return runtime.connections.disconnect(caller.tenant_id, provider, by=caller.key_id)

    @app.not_found
    def _not_found(_exc: Exception) -> Response[str]:
        return problem_response(404, "Not found", f"no route {app.current_event.path}", "not-found")

    return app


BROWSER_ROUTES = ("/callback", "/start")  # opened by a person's browser, without a key


def handle(
    app: APIGatewayHttpResolver, event: dict[str, Any], context: Any, limits: ratelimit.Limits
) -> dict[str, Any]:
    app.clear_context()  # type: ignore[no-untyped-call]
    if not event.get("rawPath", "").endswith(BROWSER_ROUTES):
        try:
            caller = authenticate_event(event)
            ratelimit.take(caller.key_id, limits)
        except Problem as exc:
            return refusal(exc)
        app.append_context(tenant_id=caller.tenant_id, caller=caller)  # type: ignore[no-untyped-call]
        logger.append_keys(tenant_id=caller.tenant_id, key_id=caller.key_id)
    return app.resolve(event, context)
