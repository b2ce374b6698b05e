"""Thin adapters around the core: HTTP (FastAPI), PostgreSQL (the inbox), Kafka (the relay)."""
