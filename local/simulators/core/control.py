"""The `/_sim/` control endpoints: how tests, the demo and benchmarks steer a simulator.

None of this exists on a real provider; it is the same for all three so tooling can reset,
snapshot, seed, break and inspect any simulator the same way.
"""

from __future__ import annotations

from typing import Any

from .http import BadRequest, Request, Response, Router
from .provider import Provider

UI_ACTIONS = ("create", "update", "delete", "archive")


def _body(req: Request) -> dict[str, Any]:
    if not req.body.strip():
        return {}
    data = req.json()
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object")
    return data


def _ui_result(obj: Any, status: int = 200) -> Response:
    return Response.json(status, obj) if obj is not None else Response.empty(204)


def snapshot(p: Provider) -> dict[str, Any]:
    """The whole simulator state: provider data, OAuth, clock offset, faults, limits switch."""
    with p.lock:
        return {
            "provider": p.name,
            "state": p.dump_state(),
            "oauth": p.oauth.dump_state(),
            "clock": {"offset_seconds": p.clock.offset_seconds},
            "faults": [r.to_dict() for r in p.faults.rules()],
            "ratelimits": {"enabled": p.limits.enabled},
            "modes": p.modes.dump(),
            "webhooks": {
                "url": p.webhooks.url,
                "key": p.webhooks.key,
                "retry_scale": p.webhooks.retry_scale,
            },
        }


def restore(p: Provider, snap: dict[str, Any]) -> None:
    if snap.get("provider") not in (None, p.name):
        raise ValueError(f"snapshot is for {snap.get('provider')!r}, not {p.name!r}")
    with p.lock:
        p.clock.set_offset(float(snap.get("clock", {}).get("offset_seconds", 0.0)))
        p.load_state(snap.get("state", {}))
        p.oauth.load_state(snap.get("oauth", {}))
        p.faults.clear()
        for rule in snap.get("faults", []):
            spec = {k: v for k, v in rule.items() if k not in ("id", "fired")}
            p.faults.add_dict(spec)
        p.limits.reset()
        p.limits.enabled = bool(snap.get("ratelimits", {}).get("enabled", True))
        p.modes.load(snap.get("modes") or {})
        hooks = snap.get("webhooks", {})
        p.webhooks.configure(hooks.get("url"), hooks.get("key"), hooks.get("retry_scale"))


def reset(p: Provider) -> None:
    """Forget everything: data, tokens and clients, faults, limits, log, webhooks, clock."""
    with p.lock:
        p.reset()
        p.oauth.reset()
        p.faults.clear()
        p.limits.reset()
        p.limits.enabled = True
        p.calls.clear()
        p.webhooks.reset()
        p.modes.reset()
        p.clock.set_offset(0)


def company_id(p: Provider, cid: str) -> str:
    """The provider's own spelling of a company id (Xero tenant ids ignore case); KeyError
    (control 404) for a company the simulator does not have."""
    for company in p.companies():
        if str(company["id"]) == cid:
            return cid
    for company in p.companies():
        if str(company["id"]).lower() == cid.lower():
            return str(company["id"])
    raise KeyError(f"no company {cid}")


def register_control(router: Router, p: Provider) -> None:
    """Add every `/_sim/...` route of CONTRACT.md for provider `p` (no auth, no limits)."""

    def add(method: str, pattern: str, handler: Any) -> None:
        router.add(method, "/_sim" + pattern, handler, auth=False, limited=False)

    def do_reset(req: Request) -> Response:
        reset(p)
        return Response.json(200, {"reset": True})

    def do_snapshot(req: Request) -> Response:
        return Response.json(200, snapshot(p))

    def do_restore(req: Request) -> Response:
        restore(p, _body(req))
        return Response.json(200, {"restored": True})

    def list_companies(req: Request) -> Response:
        return Response.json(200, {"companies": p.companies()})

    def create_company(req: Request) -> Response:
        data = _body(req)
        seed = str(data.get("seed", "sandbox"))
        if seed not in ("sandbox", "empty"):
            raise ValueError("seed must be 'sandbox' or 'empty'")
        # extra fields (e.g. QBO's "country") go to providers that take them
        extra = {k: v for k, v in data.items() if k not in ("name", "seed")}
        with p.lock:
            try:
                company = p.seed_company(str(data.get("name") or "Sim Company"), seed, **extra)
            except TypeError as exc:
                raise ValueError(f"{p.name} companies take no such field: {sorted(extra)}") from exc
        return Response.json(201, company)

    def list_objects(req: Request) -> Response:
        pp = req.path_params
        return Response.json(200, {"objects": p.list_objects(pp["cid"], pp["kind"])})

    def create_object(req: Request) -> Response:
        pp = req.path_params
        with p.lock:
            obj = p.ui_change(pp["cid"], pp["kind"], "create", None, _body(req))
        return _ui_result(obj, 201)

    def update_object(req: Request) -> Response:
        pp = req.path_params
        with p.lock:
            obj = p.ui_change(pp["cid"], pp["kind"], "update", pp["oid"], _body(req))
        return _ui_result(obj)

    def delete_object(req: Request) -> Response:
        pp = req.path_params
        action = req.arg("action", "delete") or "delete"
        if action not in ("delete", "archive"):
            raise ValueError("action must be 'delete' or 'archive'")
        with p.lock:
            obj = p.ui_change(pp["cid"], pp["kind"], action, pp["oid"], _body(req))
        return _ui_result(obj)

    def list_faults(req: Request) -> Response:
        return Response.json(200, {"faults": [r.to_dict() for r in p.faults.rules()]})

    def add_fault(req: Request) -> Response:
        data = _body(req)
        specs = data["faults"] if isinstance(data.get("faults"), list) else [data]
        rules = [p.faults.add_dict(spec).to_dict() for spec in specs]
        return Response.json(201, rules[0] if len(rules) == 1 else {"faults": rules})

    def clear_faults(req: Request) -> Response:
        p.faults.clear()
        return Response.empty(204)

    def delete_fault(req: Request) -> Response:
        if not p.faults.remove(int(req.path_params["fid"])):
            raise KeyError(f"no fault rule {req.path_params['fid']}")
        return Response.empty(204)

    def get_limits(req: Request) -> Response:
        return Response.json(200, {"enabled": p.limits.enabled})

    def put_limits(req: Request) -> Response:
        data = _body(req)
        if not isinstance(data.get("enabled"), bool):
            raise ValueError('expected {"enabled": true|false}')
        p.limits.enabled = data["enabled"]
        if data.get("reset"):
            p.limits.reset()
        return Response.json(200, {"enabled": p.limits.enabled})

    def get_calls(req: Request) -> Response:
        return Response.json(
            200,
            {
                "calls": p.calls.entries(),
                "counts": p.calls.counts(),
                "categories": p.calls.categories(),
            },
        )

    def modes_reply(cid: str | None) -> Response:
        return Response.json(
            200,
            {
                "company": cid,
                "modes": p.modes.effective(cid),
                "set": p.modes.overrides(cid),
                "available": p.modes.describe(),
            },
        )

    def get_company_modes(req: Request) -> Response:
        return modes_reply(company_id(p, req.path_params["cid"]))

    def put_company_modes(req: Request) -> Response:
        cid = company_id(p, req.path_params["cid"])
        p.modes.set(cid, _body(req))
        return modes_reply(cid)

    def get_server_modes(req: Request) -> Response:
        return modes_reply(None)

    def put_server_modes(req: Request) -> Response:
        p.modes.set(None, _body(req))
        return modes_reply(None)

    def clear_calls(req: Request) -> Response:
        p.calls.clear()
        return Response.empty(204)

    def get_clock(req: Request) -> Response:
        return Response.json(
            200, {"now": p.clock.now().isoformat(), "offset_seconds": p.clock.offset_seconds}
        )

    def advance_clock(req: Request) -> Response:
        seconds = _body(req).get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise ValueError('expected {"seconds": n}')
        p.clock.advance(float(seconds))
        return get_clock(req)

    def webhook_info() -> dict[str, Any]:
        w = p.webhooks
        return {
            "url": w.url,
            "key": w.key,
            "retry_scale": w.retry_scale,
            "retry_delays": w.retry_delays,
            "retry_repeat_for": w.repeat_for,
            "timeout": w.timeout,
            "deliveries": w.deliveries(),
        }

    def get_webhooks(req: Request) -> Response:
        return Response.json(200, webhook_info())

    def put_webhooks(req: Request) -> Response:
        data = _body(req)
        scale = data.get("retry_scale")
        p.webhooks.configure(
            data.get("url"), data.get("key"), float(scale) if scale is not None else None
        )
        return Response.json(200, webhook_info())

    def flush_webhooks(req: Request) -> Response:
        done = p.webhooks.flush(float(_body(req).get("timeout", 10)))
        return Response.json(200 if done else 504, {"flushed": done})

    def get_oauth(req: Request) -> Response:
        return Response.json(200, p.oauth.settings())

    def put_oauth(req: Request) -> Response:
        return Response.json(200, p.oauth.configure(**_body(req)))

    def add_client(req: Request) -> Response:
        data = _body(req)
        client = p.oauth.register_client(
            str(data["client_id"]), str(data["client_secret"]), data.get("redirect_uris")
        )
        return Response.json(
            201, {"client_id": client.client_id, "redirect_uris": client.redirect_uris}
        )

    def oauth_revoke(req: Request) -> Response:
        data = _body(req)
        if "company_id" in data:
            return Response.json(200, {"revoked": p.oauth.revoke_company(str(data["company_id"]))})
        if "token" in data:
            return Response.json(200, {"revoked": int(p.oauth.revoke(str(data["token"])))})
        raise ValueError('expected {"company_id": ...} or {"token": ...}')

    def oauth_tokens(req: Request) -> Response:
        data = _body(req)
        companies = data.get("companies") or [data["company_id"]]
        tokens = p.oauth.issue_direct(
            [str(c) for c in companies],
            client_id=str(data.get("client_id", "booksync-dev")),
            scope=str(data.get("scope", "")),
        )
        now = p.clock.now()
        return Response.json(
            201,
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_in": tokens.expires_in(now),
                "refresh_expires_in": tokens.refresh_expires_in(now),
                "companies": tokens.grant.companies,
            },
        )

    add("POST", "/reset", do_reset)
    add("GET", "/snapshot", do_snapshot)
    add("POST", "/restore", do_restore)
    add("GET", "/companies", list_companies)
    add("POST", "/companies", create_company)
    add("GET", "/companies/{cid}/objects/{kind}", list_objects)
    add("POST", "/companies/{cid}/objects/{kind}", create_object)
    add("PATCH", "/companies/{cid}/objects/{kind}/{oid}", update_object)
    add("DELETE", "/companies/{cid}/objects/{kind}/{oid}", delete_object)
    add("GET", "/companies/{cid}/modes", get_company_modes)
    add("PUT", "/companies/{cid}/modes", put_company_modes)
    add("GET", "/modes", get_server_modes)
    add("PUT", "/modes", put_server_modes)
    add("GET", "/faults", list_faults)
    add("POST", "/faults", add_fault)
    add("DELETE", "/faults", clear_faults)
    add("DELETE", "/faults/{fid}", delete_fault)
    add("GET", "/ratelimits", get_limits)
    add("PUT", "/ratelimits", put_limits)
    add("GET", "/calls", get_calls)
    add("DELETE", "/calls", clear_calls)
    add("GET", "/clock", get_clock)
    add("POST", "/clock/advance", advance_clock)
    add("GET", "/webhooks", get_webhooks)
    add("PUT", "/webhooks", put_webhooks)
    add("POST", "/webhooks/flush", flush_webhooks)
    add("GET", "/oauth", get_oauth)
    add("PUT", "/oauth", put_oauth)
    add("POST", "/oauth/clients", add_client)
    add("POST", "/oauth/revoke", oauth_revoke)
    add("POST", "/oauth/tokens", oauth_tokens)
