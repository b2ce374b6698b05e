"""Sync's use cases: gap-fill, backfill, invoices, ownership of the work among replicas;
they depend on ``app.ports`` only."""
