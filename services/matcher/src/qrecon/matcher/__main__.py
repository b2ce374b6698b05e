"""``qonto-matcher``: the engine offline (``match``, ``evaluate``, ``backtest``) and the
service (``run``).

Each subcommand's module is imported only when used, so the offline commands start fast
and need no Kafka or PostgreSQL.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> (module with add_arguments(parser) and main(args) -> int, help text)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "match": ("qrecon.matcher.cli.match", "Match transactions to invoices offline (JSONL)."),
    "evaluate": ("qrecon.matcher.cli.evaluate", "Generate labelled data and score the engine."),
    "backtest": (
        "qrecon.matcher.cli.backtest",
        "Replay the history in PostgreSQL and compare with reviewers' decisions.",
    ),
    "run": ("qrecon.matcher.cli.run", "Run the streaming service and its review API."),
    "keys": ("qrecon.matcher.cli.keys", "Create, revoke and list the review API's keys."),
    "people": ("qrecon.matcher.cli.people", "Manage the review desk's accounts."),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; with ``only``, that subcommand's module alone is imported (the
    others are listed in the help but not loaded: ``run`` pulls in the whole service)."""
    parser = argparse.ArgumentParser(prog="qonto-matcher", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if only is not None and name != only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            command.set_defaults(handler=_unavailable(name))
            continue
        module.add_arguments(command)
        command.set_defaults(handler=module.main)
    return parser


def _unavailable(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(_: argparse.Namespace) -> int:
        print(f"qonto-matcher {name}: not available in this build", file=sys.stderr)
        return 2

    return handler


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    chosen = arguments[0] if arguments and arguments[0] in SUBCOMMANDS else None
    args = build_parser(chosen).parse_args(arguments)
    sys.exit(args.handler(args))


if __name__ == "__main__":
    main()
