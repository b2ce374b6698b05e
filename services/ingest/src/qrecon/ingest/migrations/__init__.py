"""SQL migrations of ingest (``NNNN_name.sql``), applied at startup."""
