"""Application services of ``qonto-matcher run``: the engine fed by events, state in PostgreSQL.

See :mod:`qrecon.matcher.service.matching` for the design and its guarantees.
"""
