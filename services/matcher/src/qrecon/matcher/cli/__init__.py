"""Subcommands of qonto-matcher: each module has add_arguments(parser) and main(args) -> int."""
