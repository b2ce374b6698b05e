"""Ingest's use case, receiving a webhook (``webhooks``); it depends on ``app.ports`` only."""
