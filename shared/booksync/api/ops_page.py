"""/ops: the operator page of one firm, served by the api function (issue 16).

Plain server-rendered HTML, no build step and no JavaScript: every screen reads with a
GET, every action is a form that POSTs and is answered with a redirect back (303) and a
line saying what happened. Signed in with an admin API key, kept in an HttpOnly,
SameSite=Strict cookie scoped to /ops (a form on another site cannot act with it).

Screens: the firm's connections (status, last sync, open errors), its sync errors (retry
one, retry all), the dead-letter queues (depth, this firm's messages decoded, re-drive
them), drift per connection (find, repair) and the audit trail. Each calls the same core
function as the API route or CLI command that does the same."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote

from booksync.connections import manager as connections
from booksync.engine import drift
from booksync.engine.retry import retry, retry_all
from booksync.errors import Problem
from booksync.observability import logger
from booksync.ops import dlq
from booksync.store import audit, sync_errors
from booksync.store.tenants import Caller, authenticate

COOKIE = "booksync_ops"
SCREENS = (
    ("/ops", "Connections"),
    ("/ops/errors", "Sync errors"),
    ("/ops/dead-letters", "Dead letters"),
    ("/ops/drift", "Drift"),
    ("/ops/audit", "Audit trail"),
)
DRIFT_PROVIDERS = ("qbo", "qbt", "xero")  # drift at each (engine/drift.py)
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:.7em 1.2em;display:flex;gap:1.2em;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header a.on{color:#fff;font-weight:600}
main{padding:1em 1.2em;max-width:72em}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #dde2e8;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#eef1f5}.note{background:#e7f6ec;border:1px solid #9fd4b0;padding:.5em .8em}
.bad{background:#fdecec;border:1px solid #f0a8a8;padding:.5em .8em}form.inline{display:inline}
button{font:inherit;padding:.2em .8em;cursor:pointer}code{font-size:.9em}
"""


class _Page:
    """One request to /ops: who is asking, what, and the answer being built."""

    def __init__(self, event: dict[str, Any], runtime: Callable[[], Any]) -> None:
        self.event = event
        self.runtime = runtime
        self.path = str(event.get("rawPath") or "/ops").rstrip("/") or "/ops"
        http = (event.get("requestContext") or {}).get("http") or {}
        self.method = str(http.get("method") or "GET").upper()
        self.secure = "amazonaws.com" in str((event.get("requestContext") or {}).get("domainName"))
        self.query = {k: v[0] for k, v in parse_qs(str(event.get("rawQueryString") or "")).items()}

    # -- request parts

    def cookie(self) -> str | None:
        for raw in self.event.get("cookies") or []:
            name, _, value = str(raw).partition("=")
            if name.strip() == COOKIE and value:
                return value.strip()
        return None

    def form(self) -> dict[str, str]:
        body = str(self.event.get("body") or "")
        if self.event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(body).items()}

    # -- answers

    def html(self, status: int, title: str, body: str, signed_in: bool = True) -> dict[str, Any]:
        nav = "".join(
            f'<a href="{href}"{" class=on" if href == self.path else ""}>{name}</a>'
            for href, name in SCREENS
        )
        out = (
            '<form method=post action="/ops/sign-out" class=inline style="margin-left:auto">'
            "<button>Sign out</button></form>"
        )
        said = self.query.get("done")
        notice = f'<p class="note">{_e(said)}</p>' if said else ""
        failed = self.query.get("failed")
        notice += f'<p class="bad">{_e(failed)}</p>' if failed else ""
        page = (
            f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<title>{_e(title)} · booksync</title><style>{STYLE}</style></head><body>"
            f"<header><strong>booksync</strong>{nav + out if signed_in else ''}</header>"
            f"<main><h1>{_e(title)}</h1>{notice}{body}</main></body></html>"
        )
        return {
            "statusCode": status,
            "headers": {
                "Content-Type": "text/html; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "form-action 'self'",
            },
            "body": page,
        }

    def back(self, where: str, done: str = "", failed: str = "") -> dict[str, Any]:
        joint = "&" if "?" in where else "?"
        said = f"done={quote(done)}" if done else (f"failed={quote(failed)}" if failed else "")
        location = f"{where}{joint}{said}" if said else where
        return {"statusCode": 303, "headers": {"Location": location}, "body": ""}

    def cookie_header(self, value: str, max_age: int) -> str:
        secure = "; Secure" if self.secure else ""
        return f"{COOKIE}={value}; Path=/ops; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"


def handle_ops(event: dict[str, Any], runtime: Callable[[], Any]) -> dict[str, Any]:
    """Answer one request under /ops."""
    page = _Page(event, runtime)
    if page.path == "/ops/sign-in" and page.method == "POST":
        key = page.form().get("key", "").strip()
        try:
            _admin(key)
        except Problem as exc:
            return _sign_in(page, 401, exc.detail)
        return {
            "statusCode": 303,
            "headers": {"Location": "/ops"},
            "cookies": [page.cookie_header(key, 8 * 3600)],
            "body": "",
        }
    if page.path == "/ops/sign-out":
        answer = page.back("/ops")
        answer["cookies"] = [page.cookie_header("", 0)]
        return answer
    held = page.cookie()
    if not held:
        return _sign_in(page, 200, "")
    try:
        caller = _admin(held)
    except Problem as exc:
        return _sign_in(page, 401, exc.detail)
    route = _ROUTES.get((page.method, page.path))
    if route is None:
        return page.html(404, "Not found", f"<p>No screen {_e(page.path)}.</p>")
    logger.append_keys(tenant_id=caller.tenant_id, key_id=caller.key_id)
    try:
        return route(page, caller)
    except Problem as exc:
        if page.method == "POST":
            return page.back(_screen_of(page.path), failed=f"{exc.title}: {exc.detail}")
        return page.html(exc.status, exc.title, f'<p class="bad">{_e(exc.detail)}</p>')


def _admin(key: str) -> Caller:
    from booksync.api.auth import Forbidden

    caller = authenticate(f"Bearer {key}" if key else None)
    if not caller.allows("admin"):
        raise Forbidden(f"the operator page needs an admin key; this key has {caller.scope}")
    return caller


def _sign_in(page: _Page, status: int, why: str) -> dict[str, Any]:
    said = f'<p class="bad">{_e(why)}</p>' if why else ""
    body = (
        f"{said}<form method=post action=/ops/sign-in>"
        "<p><label>Admin API key<br><input type=password name=key size=60 "
        "autocomplete=off required></label></p><p><button>Sign in</button></p></form>"
    )
    return page.html(status, "Sign in", body, signed_in=False)


def _screen_of(path: str) -> str:
    return next((href for href, _ in SCREENS[1:] if path.startswith(href)), "/ops")


# ------------------------------------------------------------------------- screens


def _connections(page: _Page, caller: Caller) -> dict[str, Any]:
    rows = "".join(
        f"<tr><td>{_e(c['name'])}</td><td>{_e(c['status'])}</td>"
        f"<td>{_e(c.get('company_name') or '')}</td>"
        f"<td>{_e(c.get('last_successful_sync') or 'never')}</td>"
        f'<td><a href="/ops/errors?provider={c["provider"]}">{c["open_errors"]}'
        f"{'+' if c.get('open_errors_capped') else ''}</a></td></tr>"
        for c in connections.describe(caller.tenant_id)
    )
    body = (
        "<table><tr><th>Provider</th><th>Status</th><th>Company</th><th>Last sync</th>"
        f"<th>Open errors</th></tr>{rows}</table>"
    )
    return page.html(200, "Connections", body)


def _errors(page: _Page, caller: Caller) -> dict[str, Any]:
    provider = page.query.get("provider") or None
    rows = sync_errors.list_errors(caller.tenant_id, provider, status="open")
    items = "".join(
        f"<tr><td>{_e(e['provider'])}</td><td><code>{_e(e['code'])}</code><br>{_e(e['title'])}"
        f"</td><td>{_e(e['record'])}</td>"
        f"<td>{_e(e.get('provider_message'))}</td><td>{_e(e.get('what_to_do'))}</td>"
        f"<td>{_e(e.get('attempts'))}</td><td>"
        f'<form method=post action="/ops/errors/retry" class=inline>'
        f'<input type=hidden name=id value="{_e(e["id"])}"><button>Retry</button></form>'
        "</td></tr>"
        for e in (sync_errors.describe(r) for r in rows)
    )
    body = (
        "<form method=post action=/ops/errors/retry-all><button>Retry all</button> "
        "(at most once every 3 minutes)</form><p></p>"
        "<table><tr><th>Provider</th><th>Error</th><th>Record</th><th>The provider said</th>"
        f"<th>What to do</th><th>Tries</th><th></th></tr>{items}</table>"
        + ("" if rows else "<p>No open sync errors.</p>")
    )
    return page.html(200, "Sync errors", body)


def _retry_one(page: _Page, caller: Caller) -> dict[str, Any]:
    row = sync_errors.get_error(caller.tenant_id, page.form().get("id", ""))
    retry(caller.tenant_id, row, page.runtime().enqueuer)
    return page.back("/ops/errors", done=f"{row.code} of {row.record_id}: sent again")


def _retry_all(page: _Page, caller: Caller) -> dict[str, Any]:
    count = retry_all(caller.tenant_id, page.runtime().enqueuer)
    audit.record(caller.tenant_id, caller.key_id, "sync_errors.retry_all", retried=count)
    return page.back("/ops/errors", done=f"{count} sync errors sent again")


def _dead_letters(page: _Page, caller: Caller) -> dict[str, Any]:
    rt = page.runtime()
    sections = []
    for queue in dlq.list_queues(rt):
        name = queue["queue"]
        mine = (
            [m for m in dlq.show(rt, name) if m.get("tenant_id") == caller.tenant_id]
            if queue["dead_letters"]
            else []
        )
        rows = "".join(
            f"<tr><td>{_e(m.get('operation'))}</td><td>{_e(m.get('kind'))} "
            f"{_e(m.get('records'))}</td><td>{_e(m.get('receive_count'))}</td>"
            f"<td>{_e(m.get('first_failure'))}</td><td>{_e(m.get('error'))}</td>"
            f"<td>{_e(m.get('redrive'))}</td></tr>"
            for m in mine
        )
        action = (
            f'<form method=post action="/ops/dead-letters/redrive" class=inline>'
            f'<input type=hidden name=queue value="{_e(name)}">'
            "<button>Re-drive this firm's messages</button></form>"
            if mine
            else ""
        )
        table = (
            "<table><tr><th>Operation</th><th>Records</th><th>Receives</th><th>First failed"
            f"</th><th>Why it failed</th><th>Re-drive</th></tr>{rows}</table>"
            if mine
            else ""
        )
        sections.append(
            f"<h2>{_e(name)}</h2><p>{queue['dead_letters']} in the queue; "
            f"{len(mine)} of this firm's. {action}</p>{table}"
        )
    return page.html(200, "Dead letters", "".join(sections))


def _redrive(page: _Page, caller: Caller) -> dict[str, Any]:
    queue = page.form().get("queue", "")
    if queue not in dlq.WORKER_QUEUES:
        return page.back("/ops/dead-letters", failed=f"no queue {queue}")
    done = dlq.redrive(
        page.runtime(), queue, tenant=caller.tenant_id, progress=logger.info, actor=caller.key_id
    )
    return page.back(
        "/ops/dead-letters",
        done=f"{queue}: moved {done.get('moved', 0)}, left {done.get('left', 0)}, "
        f"failed {done.get('failed', 0)}",
    )


def _drift(page: _Page, caller: Caller) -> dict[str, Any]:
    provider = page.query.get("provider")
    links = " ".join(
        f'<a href="/ops/drift?provider={p}">Find drift at {connections.PROVIDER_NAMES[p]}</a>'
        for p in DRIFT_PROVIDERS
    )
    if provider not in DRIFT_PROVIDERS:
        return page.html(
            200,
            "Drift",
            f"<p>{links}</p><p>Finding drift reads the provider's whole lists of what both "
            "sides change.</p>",
        )
    conn = connections.active_connection(caller.tenant_id, str(provider))
    report = drift.find(page.runtime().session(conn)).as_dict()
    parts = [f"<p>{links}</p><p>Read with {report['calls']} calls.</p>"]
    for what, title in (
        ("differs", "Content differs"),
        ("not_linked", "In the hub, not linked"),
        ("gone", "Gone at the provider"),
        ("unlinked", "At the provider, not linked"),
    ):
        rows = "".join(
            "<tr>" + "".join(f"<td>{_e(_shown(v))}</td>" for v in item.values()) + "</tr>"
            for item in report[what]
        )
        parts.append(
            f"<h2>{title}: {len(report[what])}</h2>" + (f"<table>{rows}</table>" if rows else "")
        )
    counts = report["counts"]
    if any(counts.values()):
        parts.append(
            f'<form method=post action="/ops/drift/repair"><input type=hidden name=provider '
            f'value="{provider}"><button>Repair</button></form>'
        )
    return page.html(200, f"Drift at {connections.PROVIDER_NAMES[str(provider)]}", "".join(parts))


def _repair(page: _Page, caller: Caller) -> dict[str, Any]:
    provider = page.form().get("provider", "")
    if provider not in DRIFT_PROVIDERS:
        return page.back("/ops/drift", failed=f"drift is not found at {provider}")
    rt = page.runtime()
    session = rt.session(connections.active_connection(caller.tenant_id, provider))
    done = drift.repair(session, drift.find(session), rt.enqueuer)
    audit.record(caller.tenant_id, caller.key_id, "drift.repair", provider=provider, **done)
    return page.back(
        f"/ops/drift?provider={provider}",
        done=f"applied {done['applied']}, imported {done['created']}, queued "
        + (", ".join(f"{n} {kind}" for kind, n in done["queued"].items()) or "nothing"),
    )


def _audit(page: _Page, caller: Caller) -> dict[str, Any]:
    items, _ = audit.list_for(caller.tenant_id, limit=100)
    rows = "".join(
        f"<tr><td>{_e(i['at'])}</td><td>{_e(i['who'])}</td><td>{_e(i['action'])}</td>"
        f"<td>{_e(_shown(i['details']))}</td></tr>"
        for i in items
    )
    body = (
        f"<table><tr><th>When</th><th>Who (key)</th><th>What</th><th>Details</th></tr>{rows}"
        "</table>"
        if items
        else "<p>Nothing yet.</p>"
    )
    return page.html(200, "Audit trail", body)


_ROUTES: dict[tuple[str, str], Callable[[_Page, Caller], dict[str, Any]]] = {
    ("GET", "/ops"): _connections,
    ("GET", "/ops/errors"): _errors,
    ("POST", "/ops/errors/retry"): _retry_one,
    ("POST", "/ops/errors/retry-all"): _retry_all,
    ("GET", "/ops/dead-letters"): _dead_letters,
    ("POST", "/ops/dead-letters/redrive"): _redrive,
    ("GET", "/ops/drift"): _drift,
    ("POST", "/ops/drift/repair"): _repair,
    ("GET", "/ops/audit"): _audit,
}


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_shown(v) for v in value)
    return "" if value is None else str(value)


def _e(value: Any) -> str:
    return html.escape(_shown(value))
