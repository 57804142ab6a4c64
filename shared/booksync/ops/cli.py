"""`booksync`: the operator's command line. It reads the same environment as the functions.

booksync tenants create NAME
booksync tenants delete TENANT_ID            (its keys stop working at once)
booksync api-keys create TENANT_ID [--scope read|write|admin] [--name N] [--expires-in-days D]
booksync api-keys list TENANT_ID
booksync api-keys revoke TENANT_ID KEY_ID
booksync errors {list,show,retry,dismiss,retry-all} TENANT_ID ...
booksync dlq list                            (each worker's dead letters and the oldest's age)
booksync dlq show QUEUE                      (each decoded, with the error that sent it there)
booksync dlq redrive QUEUE [--tenant T] [--connection C] [--dry-run]
booksync dlq purge QUEUE --tenant T --yes
booksync audit TENANT_ID                     (the firm's operator and admin actions, newest first)
booksync reconcile TENANT_ID [--provider P] [--dry-run]   (drift: find it; without --dry-run,
                                             repair it; engine/drift.py)

QUEUE is {qbo,qbt,xero}-{push,pull}. Dead letters are read without being taken away (see
ops/dlq.py). Every action above that changes something is a row of the audit trail, with
"operator-cli" as who.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from booksync.boot import Runtime, boot
from booksync.errors import Problem
from booksync.observability import logger
from booksync.ops import dlq as dead_letters
from booksync.settings import ConfigError
from booksync.store import audit
from booksync.store.tenants import (
    create_api_key,
    create_tenant,
    delete_tenant,
    list_api_keys,
    revoke_api_key,
)

WORKER_QUEUES = dead_letters.WORKER_QUEUES
CLI = audit.OPERATOR_CLI


_answer: list[TextIO] = []  # where a command's answer goes (main: the caller's stdout)


def _out(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str), file=_answer[-1] if _answer else sys.stdout)


def cmd_revoke_key(_rt: Runtime, args: argparse.Namespace) -> None:
    revoked = revoke_api_key(args.tenant_id, args.key_id)
    audit.record(args.tenant_id, CLI, "api_key.revoke", key_id=args.key_id)
    _out({"revoked": args.key_id, **revoked})


def cmd_delete_tenant(_rt: Runtime, args: argparse.Namespace) -> None:
    revoked = delete_tenant(args.tenant_id)
    audit.record(args.tenant_id, CLI, "tenant.delete", keys_revoked=revoked)
    _out({"deleted": args.tenant_id, "keys_revoked": revoked})


def cmd_create_key(_rt: Runtime, args: argparse.Namespace) -> None:
    from datetime import timedelta

    from booksync.store import utcnow

    expires = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    made = create_api_key(args.tenant_id, args.scope, name=args.name, expires_at=expires)
    audit.record(args.tenant_id, CLI, "api_key.create", key_id=made.key_id, scope=made.scope)
    _out(vars(made))


def cmd_list_keys(_rt: Runtime, args: argparse.Namespace) -> None:
    keys: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = list_api_keys(args.tenant_id, 200, cursor)
        keys += page
        if not cursor:
            break
    _out(keys)


def cmd_dlq(rt: Runtime, args: argparse.Namespace) -> None:
    if args.action == "list":
        _out(dead_letters.list_queues(rt))
    elif args.action == "show":
        _out(dead_letters.show(rt, args.queue))
    elif args.action == "redrive":
        _out(dead_letters.redrive(rt, args.queue, args.tenant, args.connection, args.dry_run))
    else:
        _out(dead_letters.purge(rt, args.queue, args.tenant, args.yes))


def cmd_audit(_rt: Runtime, args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page, cursor = audit.list_for(args.tenant_id, 200, cursor)
        rows += page
        if not cursor:
            break
    _out(rows)


def cmd_errors_list(_rt: Runtime, args: argparse.Namespace) -> None:
    from booksync.store.sync_errors import describe as error_view
    from booksync.store.sync_errors import list_errors

    rows = list_errors(args.tenant_id, args.provider, args.status, args.code)
    _out([error_view(r) for r in rows])


def cmd_errors_act(rt: Runtime, args: argparse.Namespace) -> None:
    from booksync.engine.retry import retry, retry_all
    from booksync.store.sync_errors import describe as error_view
    from booksync.store.sync_errors import dismiss, get_error

    if args.action == "retry-all":
        retried = retry_all(args.tenant_id, rt.enqueuer)
        audit.record(args.tenant_id, CLI, "sync_errors.retry_all", retried=retried)
        _out({"retried": retried})
        return
    row = get_error(args.tenant_id, args.error_id)
    if args.action == "show":
        _out(error_view(row))
    elif args.action == "retry":
        _out(error_view(retry(args.tenant_id, row, rt.enqueuer)))
    else:
        _out(error_view(dismiss(row)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="booksync", description="booksync operator commands")
    sub = parser.add_subparsers(dest="command", required=True)

    tenants = sub.add_parser("tenants", help="tenants (firms)").add_subparsers(
        dest="action", required=True
    )
    create = tenants.add_parser("create", help="create a tenant")
    create.add_argument("name")
    create.set_defaults(
        run=lambda rt, a: _out(
            {"tenant_id": (t := create_tenant(a.name)).tenant_id, "name": t.name}
        )
    )

    td = tenants.add_parser("delete", help="delete a tenant: its keys stop working")
    td.add_argument("tenant_id")
    td.set_defaults(run=cmd_delete_tenant)

    keys = sub.add_parser("api-keys", help="practice API keys").add_subparsers(
        dest="action", required=True
    )
    kc = keys.add_parser("create", help="create a key (shown once)")
    kc.add_argument("tenant_id")
    kc.add_argument("--scope", choices=["read", "write", "admin"], default="admin")
    kc.add_argument("--name")
    kc.add_argument("--expires-in-days", type=int)
    kc.set_defaults(run=cmd_create_key)
    kl = keys.add_parser("list", help="list a tenant's keys (never the keys themselves)")
    kl.add_argument("tenant_id")
    kl.set_defaults(run=cmd_list_keys)
    kr = keys.add_parser("revoke", help="revoke a key")
    kr.add_argument("tenant_id")
    kr.add_argument("key_id")
    kr.set_defaults(run=cmd_revoke_key)

    errors = sub.add_parser("errors", help="sync errors of a tenant").add_subparsers(
        dest="action", required=True
    )
    el = errors.add_parser("list", help="list sync errors")
    el.add_argument("tenant_id")
    el.add_argument("--provider", choices=["qbo", "qbt", "xero"])
    el.add_argument("--status", choices=["open", "retrying", "dismissed", "resolved"])
    el.add_argument("--code")
    el.set_defaults(run=cmd_errors_list)
    for action in ("show", "retry", "dismiss"):
        ea = errors.add_parser(action, help=f"{action} one sync error")
        ea.add_argument("tenant_id")
        ea.add_argument("error_id")
        ea.set_defaults(run=cmd_errors_act)
    ra = errors.add_parser("retry-all", help="retry every open error (once per 3 minutes)")
    ra.add_argument("tenant_id")
    ra.set_defaults(run=cmd_errors_act)

    dlq = sub.add_parser("dlq", help="dead-letter queues").add_subparsers(
        dest="action", required=True
    )
    dlq.add_parser("list", help="dead letters per worker queue, oldest age").set_defaults(
        run=cmd_dlq
    )
    ds = dlq.add_parser("show", help="each dead letter decoded, with its error")
    ds.add_argument("queue", choices=WORKER_QUEUES)
    ds.set_defaults(run=cmd_dlq)
    rd = dlq.add_parser("redrive", help="send dead letters back to their worker queue")
    rd.add_argument("queue", choices=WORKER_QUEUES)
    rd.add_argument("--tenant")
    rd.add_argument("--connection")
    rd.add_argument("--dry-run", action="store_true", help="say what would move; move nothing")
    rd.set_defaults(run=cmd_dlq)
    dp = dlq.add_parser("purge", help="delete one firm's dead letters for good")
    dp.add_argument("queue", choices=WORKER_QUEUES)
    dp.add_argument("--tenant", required=True)
    dp.add_argument("--yes", action="store_true", help="yes, delete them")
    dp.set_defaults(run=cmd_dlq)

    rc = sub.add_parser("reconcile", help="find drift between hub and provider, and repair it")
    rc.add_argument("tenant_id")
    rc.add_argument("--provider", choices=["qbo", "qbt", "xero"], action="append")
    rc.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    rc.set_defaults(run=cmd_reconcile)

    au = sub.add_parser("audit", help="a firm's operator and admin actions, newest first")
    au.add_argument("tenant_id")
    au.set_defaults(run=cmd_audit)
    return parser


def cmd_reconcile(rt: Runtime, args: argparse.Namespace) -> None:
    """Per connected provider: what reading it will cost, the drift found, and without
    --dry-run what the repair did (engine/drift.py)."""
    from booksync.engine import drift
    from booksync.store import connections as connection_rows

    answers = []
    for provider in args.provider or ["qbo", "qbt", "xero"]:
        conn = connection_rows.get(args.tenant_id, provider)
        if conn is None or conn.status != "active":
            answers.append({"provider": provider, "skipped": "not connected (or not active)"})
            continue
        session = rt.session(conn)
        planned = drift.plan(session)
        print(
            f"{provider}: comparing {', '.join(f.kind for f in planned.families)}; "
            f"reading it costs about {planned.estimated_calls} calls",
            file=sys.stderr,
        )
        report = drift.find(session, planned)
        answer = report.as_dict()
        if not args.dry_run and not report.empty:
            answer["repaired"] = drift.repair(session, report, rt.enqueuer)
            audit.record(
                args.tenant_id, CLI, "drift.repair", provider=provider, **answer["repaired"]
            )
        answers.append(answer)
    _out(answers)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # stdout is the command's JSON answer alone: what else it prints on the way (its JSON
    # log lines, metrics in EMF: Lambda's stdout carries those to CloudWatch) goes to stderr
    _answer.append(sys.stdout)
    sys.stdout = sys.stderr
    handler = logger.registered_handler
    logs_to = handler.stream if isinstance(handler, logging.StreamHandler) else None
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
    try:
        rt = boot()
        args.run(rt, args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Problem as exc:
        print(f"{exc.title}: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = _answer.pop()
        if isinstance(handler, logging.StreamHandler) and logs_to is not None:
            handler.setStream(logs_to)
    return 0


if __name__ == "__main__":
    sys.exit(main())
