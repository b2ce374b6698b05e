"""Implementations of ``app.ports``: PostgreSQL (store, leases), Kafka (publisher, the
seen-versions consumer), the Qonto client, HTTP routes, the console."""
