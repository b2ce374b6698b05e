"""``qonto-matcher people``: the review desk's accounts (an administrator's command).

  qonto-matcher people create --email ana@example.fr --name "Ana Martin" \\
      --org acme:reviewer --org globex:viewer          # password read from stdin or asked
  qonto-matcher people list
  qonto-matcher people disable --email ana@example.fr  # also ends their sessions
  qonto-matcher people enable --email ana@example.fr

Roles: ``reviewer`` (confirms, rejects, matches, undoes) and ``viewer`` (reads only).
Reads ``DATABASE_URL`` (applies the matcher's migrations first). Passwords are hashed with
argon2id; none is ever printed or logged.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from qrecon.common.db import create_pool
from qrecon.common.timeutil import utcnow
from qrecon.matcher.adapters.postgres_desk import PgDeskStore
from qrecon.matcher.adapters.web.security import Argon2Hasher
from qrecon.matcher.app.desk_people import People, parse_membership
from qrecon.matcher.app.errors import ServiceError
from qrecon.matcher.bootstrap import migrate
from qrecon.matcher.settings import MatcherSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create an account")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument(
        "--org",
        action="append",
        required=True,
        metavar="ORGANISATION:ROLE",
        help="an organisation and the role in it (reviewer or viewer); repeatable",
    )
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    sub.add_parser("list", help="list the accounts and their organisations")
    for name in ("disable", "enable"):
        command = sub.add_parser(name, help=f"{name} an account")
        command.add_argument("--email", required=True)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise ServiceError("the two passwords differ")
    return first


async def _run(args: argparse.Namespace) -> int:
    settings = MatcherSettings()
    pool = await create_pool(settings.database_url.get_secret_value(), min_size=1, max_size=2)
    try:
        await migrate(pool)
        people = People(PgDeskStore(pool), Argon2Hasher(), clock=utcnow)
        if args.action == "create":
            memberships = [parse_membership(text) for text in args.org]
            person_id = await people.create(args.email, args.name, _password(args), memberships)
            print(f"created {args.email} (id {person_id})")
        elif args.action == "list":
            for person, memberships in await people.list():
                orgs = ", ".join(f"{m.organization_id}:{m.role}" for m in memberships)
                state = "disabled" if person.disabled else "active"
                print(f"{person.email}\t{person.name}\t{state}\t{orgs}")
        else:
            await people.disable(args.email, args.action == "disable")
            print(f"{args.action}d {args.email}")
    finally:
        await pool.close()
    return 0


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except ServiceError as exc:
        print(f"qonto-matcher people: {exc.detail}", file=sys.stderr)
        return 2
