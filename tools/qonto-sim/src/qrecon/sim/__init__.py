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

Strict also for invoices: client invoices filter on ``filter[status]``,
``filter[created_at_from/_to]``, ``filter[updated_at_from/_to]`` and supplier invoices on
``filter[status][]`` and the same time filters; other names are ignored (lenient: the old
bare ``status``/``created_at_from`` too). Webhooks spell the nested counterparty as the
webhook page does (``iban``/``account_number``, ``bic``; REST: ``IBAN``/``SWIFT_BIC``);
``subject_type`` comes in either case (``WebhookSettings.subject_type_case``,
``Simulator.rest_subject_type_case``). The OAuth token endpoint answers at
``/oauth2/token`` and ``/v2/oauth2/token``.
"""
