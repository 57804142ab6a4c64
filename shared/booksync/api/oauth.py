"""Routes of the oauth function: connect, callback, disconnect.

connect and disconnect are called by the practice app with its API key; callback is
opened by the person's browser coming back from the provider, so it answers a page.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from booksync.api.auth import tenant_of, unauthorized
from booksync.api.problems import from_problem, problem_response
from booksync.boot import Runtime
from booksync.connections.manager import ConnectRefused, Outcome, check_provider
from booksync.errors import Problem, Unauthorized
from booksync.observability import logger

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
h1{{font-size:1.4rem}} li{{margin:.4rem 0}}</style></head>
<body><h1>{title}</h1><p>{message}</p>{extra}<p>You can close this window.</p></body></html>
"""


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


def callback_uri(event: dict[str, Any], provider: str) -> str:
    """Where the provider sends the browser back: this API's own callback route."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    proto = headers.get("x-forwarded-proto", "https")
    host = event["requestContext"]["domainName"]
    return f"{proto}://{host}/oauth/{provider}/callback"


def make_oauth_app(runtime: Runtime) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.exception_handler(Problem)
    def _problem(exc: Problem) -> Response[str]:
        return from_problem(exc)

    @app.get("/oauth/<provider>/connect")
    def connect(provider: str) -> Response[str]:
        check_provider(provider)
        query = app.current_event.query_string_parameters or {}
        url = runtime.connections.start(
            app.context["tenant_id"],
            provider,
            callback_uri(app.current_event.raw_event, provider),
            reset=query.get("reset", "").lower() in ("1", "true", "yes"),
        )
        if query.get("redirect", "").lower() in ("1", "true", "yes"):
            return Response(status_code=302, headers={"Location": url}, body="")
        return Response(
            status_code=200,
            content_type="application/json",
            body=json.dumps({"authorize_url": url}),
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/oauth/<provider>/callback")
    def callback(provider: str) -> Response[str]:
        query = dict(app.current_event.query_string_parameters or {})
        try:
            return page(runtime.connections.callback(provider, query), provider)
        except ConnectRefused as exc:
            logger.warning("connect refused", extra={"provider": provider, "reason": exc.title})
            return page(Outcome(exc.status, exc.title, exc.message), provider)

    @app.post("/oauth/<provider>/disconnect")
    def disconnect(provider: str) -> dict[str, Any]:
        return runtime.connections.disconnect(app.context["tenant_id"], provider)

    @app.not_found
    def _not_found(_exc: Exception) -> Response[str]:
        return problem_response(404, "Not found", f"no route {app.current_event.path}", "not-found")

    return app


def handle(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    app.clear_context()  # type: ignore[no-untyped-call]
    if not event.get("rawPath", "").endswith("/callback"):
        try:
            tenant_id = tenant_of(event)
        except Unauthorized as exc:
            return unauthorized(exc)
        app.append_context(tenant_id=tenant_id)  # type: ignore[no-untyped-call]
        logger.append_keys(tenant_id=tenant_id)
    return app.resolve(event, context)
