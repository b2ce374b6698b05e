"""Adapters of the matcher service: PostgreSQL, Kafka consumers, the HTTP review API."""
