"""qonto-sim: a local Qonto (API, OAuth, webhooks) for tests, the demo and benchmarks.

- ``qrecon.sim.state.Simulator``: the in-memory state (thread-safe), ``sim.clock``; a
  facade over the stores of ``qrecon.sim.stores`` (``sim.accounts``, ``sim.auth``,
  ``sim.transactions``, ``sim.invoices``, ``sim.subscriptions``, ``sim.fault_state``,
  ``sim.truth``), ``sim.webhooks`` (``qrecon.sim.webhooks``) and ``sim.idempotency``.
- ``qrecon.sim.app.create_app(sim)``: Qonto's ``/v2`` API, ``/oauth2``, admin ``/_sim``,
  one router per resource in ``qrecon.sim.routes``.
- ``qrecon.sim.testing.run_emulator()`` / ``arun_emulator()``: serve it on loopback.
- ``qrecon.sim.scenario.generate()`` / ``qrecon.sim.player``: a seeded company's life,
  loaded at once or played at a chosen speed, with its ground truth.
- ``qonto-sim`` (``qrecon.sim.__main__``): serve, play, load, faults, subscribe, export.

Strict by default (``Simulator(strict=True)``, ``qonto-sim serve --strict``): the
transactions list answers as Qonto really does, not as its documentation reads: one
status per request (the first of ``status[]``) and a 422 without ``bank_account_id`` or
``iban``. ``strict=False`` / ``--no-strict`` answers every status listed and the whole
organization.
"""
