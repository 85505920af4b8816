"""The ``amphion`` command: serve, migrate, run a job worker, and a few operator chores.

    amphion serve [--port N] [--api-only] [--workers N]   console + API (or the API alone)
    amphion migrate                           apply database migrations
    amphion worker                            a separate job worker process
    amphion user create --email E --password P [--admin]
    amphion credit grant --email E --amount 10.00 --note "…"   (negative: an adjustment)
    amphion key create --email E --name N     prints the new key, once
    amphion codes create --amount 5.00 --count 10             prints the codes, once
    amphion build-console                     fetch and build the console's frontend ahead of time

Configuration comes from ``AMPHION_*`` variables or ``.env`` (see README).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from api.errors import DomainError
from api.settings import Settings, get_settings


def _database(settings: Settings):  # noqa: ANN202 - Database, imported lazily
    from api.db import Database, migrate

    migrate(settings.resolved_database_url)
    return Database.from_settings(settings)


def cmd_serve(args: argparse.Namespace) -> int:
    from api.db import migrate

    settings = get_settings()
    if args.workers > 1 and not args.api_only and not settings.redis_url:
        # Each worker would keep its own copy of every browser tab's state (and its own rate
        # limits): a tab whose websocket lands on another worker would find nothing there.
        print(
            "error: the console needs AMPHION_REDIS_URL to run more than one worker"
            " (Reflex keeps the tabs' state there); or use --api-only",
            file=sys.stderr,
        )
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url)
    port = args.port or settings.port
    if args.api_only:
        from granian import Granian
        from granian.constants import Interfaces

        from api.http.shutdown import GRANIAN_OPTIONS

        Granian(
            "api.http.app:create_api",
            factory=True,
            interface=Interfaces.ASGI,
            address=args.host or settings.host,
            port=port,
            workers=args.workers,
            # SIGTERM: streams are cut and jobs handed back within 5 s (api.http.shutdown);
            # a dead worker is replaced, a stuck one ended after the kill time.
            **GRANIAN_OPTIONS,
        ).serve()
        return 0
    from console.launcher import serve_console

    # Reflex would otherwise start 2 x CPUs + 1 workers as soon as it has Redis.
    return serve_console(port, env={"GRANIAN_WORKERS": str(args.workers)})


def cmd_migrate(_args: argparse.Namespace) -> int:
    from api.db import migrate

    migrate(get_settings().resolved_database_url)
    print("database is at the latest migration")
    return 0


def cmd_worker(_args: argparse.Namespace) -> int:
    from api.jobs.worker import main as worker_main

    worker_main()
    return 0


def cmd_build_console(_args: argparse.Namespace) -> int:
    from console.launcher import build_console

    return build_console()


def cmd_user_create(args: argparse.Namespace) -> int:
    from api.accounts.service import register_user

    settings = get_settings()
    user = register_user(
        _database(settings), settings, email=args.email, password=args.password, admin=args.admin
    )
    print(f"created {user.role} {user.email} (id {user.id})")
    return 0


def cmd_credit_grant(args: argparse.Namespace) -> int:
    from api.accounts.service import find_user_by_email
    from api.billing import ledger
    from api.billing.money import format_yuan, parse_yuan

    settings = get_settings()
    amount = parse_yuan(args.amount, allow_negative=True)
    with _database(settings).write() as session:
        user = find_user_by_email(session, args.email)
        assert user.id is not None
        if amount > 0:
            entry = ledger.credit(session, user.id, amount, kind="grant", note=args.note)
        else:
            entry = ledger.adjust(session, user.id, amount, note=args.note)
    balance = format_yuan(entry.balance_after_micros)
    print(f"{entry.kind} {format_yuan(entry.amount_micros)}; balance {balance}")
    return 0


def cmd_key_create(args: argparse.Namespace) -> int:
    from api.accounts.service import find_user_by_email
    from api.keys.service import issue_key

    settings = get_settings()
    scopes = args.scopes.split(",") if args.scopes else None
    with _database(settings).write() as session:
        user = find_user_by_email(session, args.email)
        assert user.id is not None
        _key, plaintext = issue_key(
            session,
            user_id=user.id,
            name=args.name,
            secret_key=settings.secret_key,
            scopes=scopes,
        )
    print(plaintext)
    return 0


def cmd_codes_create(args: argparse.Namespace) -> int:
    from api.billing.codes import create_codes
    from api.billing.money import parse_yuan

    settings = get_settings()
    with _database(settings).write() as session:
        codes = create_codes(
            session,
            amount_micros=parse_yuan(args.amount),
            count=args.count,
            secret_key=settings.secret_key,
            batch=args.batch,
        )
    print("\n".join(codes))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amphion", description="Amphion Open Platform")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(
        parent: argparse._SubParsersAction, name: str, handler: Callable[..., int], help: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help)
        sub.set_defaults(handler=handler)
        return sub

    serve = add(commands, "serve", cmd_serve, "serve the console and the API")
    serve.add_argument("--port", type=int, default=0, help="default: AMPHION_PORT or 8888")
    serve.add_argument("--host", default="", help="API-only bind address (default 0.0.0.0)")
    serve.add_argument("--api-only", action="store_true", help="serve the HTTP API alone")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="web worker processes (the console needs AMPHION_REDIS_URL for more than one)",
    )
    add(commands, "migrate", cmd_migrate, "apply database migrations")
    add(commands, "worker", cmd_worker, "run a job worker until SIGTERM")
    add(commands, "build-console", cmd_build_console, "install and build the console frontend")

    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="action", required=True
    )
    user_create = add(user, "create", cmd_user_create, "create a user (with the welcome credit)")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--password", required=True)
    user_create.add_argument("--admin", action="store_true")

    credit = commands.add_parser("credit", help="change balances").add_subparsers(
        dest="action", required=True
    )
    grant = add(credit, "grant", cmd_credit_grant, "grant credit (negative: adjustment)")
    grant.add_argument("--email", required=True)
    grant.add_argument("--amount", required=True, help="yuan, e.g. 10.00 or -2.50")
    grant.add_argument("--note", default="")

    key = commands.add_parser("key", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    key_create = add(key, "create", cmd_key_create, "issue a key and print it once")
    key_create.add_argument("--email", required=True)
    key_create.add_argument("--name", required=True)
    key_create.add_argument("--scopes", default="", help="comma-separated; default all")

    codes = commands.add_parser("codes", help="redemption codes").add_subparsers(
        dest="action", required=True
    )
    codes_create = add(codes, "create", cmd_codes_create, "mint codes and print them once")
    codes_create.add_argument("--amount", required=True, help="yuan per code")
    codes_create.add_argument("--count", type=int, required=True)
    codes_create.add_argument("--batch", default="")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
