"""``qonto-matcher keys``: the review API's keys, one per person and organisation.

  qonto-matcher keys create --organization ORG --name "Alice" [--admin]
  qonto-matcher keys revoke KEY_ID
  qonto-matcher keys list [--organization ORG]

``create`` prints the token once (only its SHA-256 digest is stored: it cannot be shown
again); give it to the person as their bearer token. ``revoke`` refuses the key from the
next request on. Reads ``DATABASE_URL`` (the matcher's database; migrations applied).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from qrecon.matcher.app.errors import InvalidRequest
from qrecon.matcher.bootstrap import key_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a key and print its token once")
    create.add_argument("--organization", required=True, help="the Qonto organisation id")
    create.add_argument("--name", required=True, help="whose key it is (the decisions' actor)")
    create.add_argument("--admin", action="store_true", help="may also list organisations")
    revoke = sub.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", help="the key id (`keys list`, or the token's prefix)")
    listing = sub.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--organization", default=None, help="only this organisation's")


async def _run(args: argparse.Namespace, database_url: str) -> int:
    async with key_store(database_url) as keys:
        if args.action == "create":
            created = await keys.create(args.organization, args.name, admin=args.admin)
            print(f"key_id: {created.key_id}")
            print(f"organization: {created.organization}")
            print(f"name: {created.name}{' (admin)' if created.admin else ''}")
            print(f"token: {created.token}")
            print("The token is shown once; only its digest is stored.", file=sys.stderr)
            return 0
        if args.action == "revoke":
            if await keys.revoke(args.key_id):
                print(f"revoked {args.key_id}")
                return 0
            print(f"qonto-matcher keys: no active key {args.key_id}", file=sys.stderr)
            return 1
        for key in await keys.list(args.organization):
            state = "revoked" if key.revoked_at else "active"
            admin = " admin" if key.admin else ""
            print(
                f"{key.key_id}\t{key.organization_id}\t{key.name}\t{state}{admin}\t"
                f"{key.created_at.isoformat()}"
            )
        return 0


def main(args: argparse.Namespace) -> int:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("qonto-matcher keys: set DATABASE_URL (the matcher's database)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(args, database_url))
    except InvalidRequest as exc:
        print(f"qonto-matcher keys: {exc.detail}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"qonto-matcher keys: cannot reach the database: {exc}", file=sys.stderr)
        return 1
