-- The re-examination window is measured from the newest bank date held
-- (SELECT max(tx_date)), which this index answers without a scan.
CREATE INDEX IF NOT EXISTS matcher_transactions_tx_date_idx
    ON matcher_transactions (tx_date DESC);
