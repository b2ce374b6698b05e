"""The matcher's use cases (the application layer): events and reviews in, committed
decisions out. They depend on :mod:`.ports` only; :mod:`qrecon.matcher.bootstrap` wires
the adapters in.

See :mod:`.decisions` for the design and its guarantees.
"""
