"""A seeded synthetic French SME world, shared by the Qonto emulator's scenarios
(``qrecon.sim.scenario``) and the matcher's labelled evaluation data
(``qrecon.matcher_eval``).

Pure functions of a ``random.Random`` and plain data, no I/O:

- ``names``: surnames, first names, activities, cities, legal forms (and how banks spell them)
- ``vocabulary``: what a French bank statement says: suppliers paid by direct debit, card
  merchants, payout and refund sources, tax creditors, label prefixes, notes
- ``parties``: company, shop and person names; how a payer's bank writes them
- ``ibans``: valid IBANs (French ones at real banks, foreign ones) and their BICs
- ``references``: ISO 11649 RF creditor references, invoice numbers written messily, typos
- ``numbering``: invoice numbering schemes
- ``behaviours``: how customers pay (in full, messy, grouped, in instalments, late...)
- ``text``: accent folding; ``ids``: UUIDs drawn from the seeded generator

Every function draws from the ``random.Random`` it is given, in a fixed order: the same
seed gives the same world.
"""
