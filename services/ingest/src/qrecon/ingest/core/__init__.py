"""The pure core of ingest: signature verification and payload routing (no I/O)."""
