"""`booksync`: the operator's command line. It reads the same environment as the functions.

booksync tenants create NAME
booksync tenants delete TENANT_ID            (its keys stop working at once)
booksync api-keys create TENANT_ID [--scope read|write|admin] [--name N] [--expires-in-days D]
booksync api-keys list TENANT_ID
booksync api-keys revoke TENANT_ID KEY_ID
booksync dlq list
booksync dlq redrive {qbo,qbt,xero}-{push,pull}
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from booksync.boot import Runtime, boot
from booksync.errors import Problem
from booksync.settings import ConfigError
from booksync.store.tenants import (
    create_api_key,
    create_tenant,
    delete_tenant,
    list_api_keys,
    revoke_api_key,
)

WORKER_QUEUES = [f"{p}-{d}" for p in ("qbo", "qbt", "xero") for d in ("push", "pull")]


def _out(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _dlq_url(rt: Runtime, queue_url: str) -> str:
    sqs = rt.clients.sqs
    policy = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
    arn = json.loads(policy["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
    url: str = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
    return url


def cmd_revoke_key(_rt: Runtime, args: argparse.Namespace) -> None:
    _out({"revoked": args.key_id, **revoke_api_key(args.tenant_id, args.key_id)})


def cmd_create_key(_rt: Runtime, args: argparse.Namespace) -> None:
    from datetime import timedelta

    from booksync.store import utcnow

    expires = utcnow() + timedelta(days=args.expires_in_days) if args.expires_in_days else None
    made = create_api_key(args.tenant_id, args.scope, name=args.name, expires_at=expires)
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


def cmd_dlq_list(rt: Runtime, _args: argparse.Namespace) -> None:
    rows = []
    for name in WORKER_QUEUES:
        provider, direction = name.split("-")
        dlq = _dlq_url(rt, rt.settings.queues.url(provider, direction))
        attrs = rt.clients.sqs.get_queue_attributes(
            QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        rows.append({"queue": name, "dead_letters": int(attrs["ApproximateNumberOfMessages"])})
    _out(rows)


def cmd_dlq_redrive(rt: Runtime, args: argparse.Namespace) -> None:
    """Move dead letters back to their queue with SQS's own message-move task."""
    provider, direction = args.queue.split("-")
    source = _dlq_url(rt, rt.settings.queues.url(provider, direction))
    sqs = rt.clients.sqs
    arn = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    task = sqs.start_message_move_task(SourceArn=arn)
    _out({"queue": args.queue, "task": task.get("TaskHandle")})


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
        _out({"retried": retry_all(args.tenant_id, rt.enqueuer)})
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
    td.set_defaults(
        run=lambda rt, a: _out({"deleted": a.tenant_id, "keys_revoked": delete_tenant(a.tenant_id)})
    )

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
    dlq.add_parser("list", help="dead letters per worker queue").set_defaults(run=cmd_dlq_list)
    rd = dlq.add_parser("redrive", help="move a worker's dead letters back to its queue")
    rd.add_argument("queue", choices=WORKER_QUEUES)
    rd.set_defaults(run=cmd_dlq_redrive)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rt = boot()
        args.run(rt, args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except Problem as exc:
        print(f"{exc.title}: {exc.detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
