"""qonto-sim: a local Qonto (API, OAuth, webhooks) for tests, the demo and benchmarks.

- ``qrecon.sim.state.Simulator``: the in-memory state (thread-safe), ``sim.clock``.
- ``qrecon.sim.app.create_app(sim)``: Qonto's ``/v2`` API, ``/oauth2``, admin ``/_sim``.
- ``qrecon.sim.testing.run_emulator()`` / ``arun_emulator()``: serve it on loopback.
- ``qrecon.sim.scenario.generate()`` / ``qrecon.sim.player``: a seeded company's life,
  loaded at once or played at a chosen speed, with its ground truth.
- ``qonto-sim`` (``qrecon.sim.__main__``): serve, play, load, faults, subscribe, export.
"""
