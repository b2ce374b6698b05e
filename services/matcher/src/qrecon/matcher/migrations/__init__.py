"""PostgreSQL migrations of the matcher service (``NNNN_name.sql``, applied in order)."""
