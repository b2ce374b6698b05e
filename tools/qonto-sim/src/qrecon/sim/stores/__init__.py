"""The simulator's state, one store per concern, each with its own data and methods:

- ``accounts``: organizations and bank accounts (balances);
- ``auth``: API keys, staging tokens, OAuth clients, codes and tokens;
- ``transactions`` (with ``transaction_fields`` and ``transaction_index``): transactions,
  their versions, attachments, and the filtered, paginated listing;
- ``invoices``: client and supplier invoices;
- ``subscriptions``: webhook subscriptions;
- ``fault_state``: the faults in force, the 429 storm, answers to lose;
- ``ground_truth``: the true allocations and the ground-truth export.

They share one lock, the clock and the seeded ids (``base.StoreContext``); a store never
imports ``qrecon.sim.state`` (the facade that builds and wires them) nor the HTTP layer.
"""
