-- Incremental invoice polling: one updated_at watermark per (connection, invoice kind).
--
-- watermark: the latest update time Qonto showed on an invoice of that kind in the last
--   complete pass (its updated_at, or for a client invoice, which documents none, the
--   latest of paid_at, finalized_at and created_at: never later than its real update).
--   The next pass asks filter[updated_at_from] = watermark - overlap. NULL (or no row):
--   list everything, as before this migration; sync_invoice_state still publishes only
--   what changed.
CREATE TABLE sync_invoice_watermarks (
    connection_id text NOT NULL,
    qonto_kind text NOT NULL,
    watermark timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, qonto_kind)
);
