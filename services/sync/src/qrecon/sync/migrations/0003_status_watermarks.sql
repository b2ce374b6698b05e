-- One watermark and one sweep in progress per (connection, bank account, transaction status).
--
-- Qonto answers a multi-status `status[]` request with one status only, so sync polls each
-- status (pending, declined, completed) separately, each with its own updated_at watermark.
-- status 'all' is the old single request for every status (SYNC_STATUS_PER_REQUEST=false).
--
-- Existing rows keep their watermark as status 'all', and each status starts from it: every
-- version with an updated_at below it was on the topic (whatever its status), so a per-status
-- sweep may start there, an overlap before it. A sweep in progress is copied to each status
-- with its keyset cursor (everything before it is handled) but back on page 1: an offset
-- inside a tie group of every status means nothing for one status's subset of it.
ALTER TABLE sync_watermarks ADD COLUMN status text NOT NULL DEFAULT 'all';
ALTER TABLE sync_watermarks DROP CONSTRAINT sync_watermarks_pkey;
ALTER TABLE sync_watermarks ADD PRIMARY KEY (connection_id, bank_account_id, status);

INSERT INTO sync_watermarks
    (connection_id, bank_account_id, status, watermark, sweep, last_success_at, last_error,
     updated_at)
SELECT w.connection_id, w.bank_account_id, s.status, w.watermark,
       CASE WHEN w.sweep IS NULL THEN NULL
            ELSE w.sweep || jsonb_build_object(
                'status', s.status, 'page', 1, 'tie_total', NULL, 'tie_restarts', 0)
       END,
       w.last_success_at, w.last_error, w.updated_at
  FROM sync_watermarks w
 CROSS JOIN (VALUES ('pending'), ('declined'), ('completed')) AS s (status)
 WHERE w.status = 'all';

ALTER TABLE sync_watermarks ALTER COLUMN status DROP DEFAULT;
