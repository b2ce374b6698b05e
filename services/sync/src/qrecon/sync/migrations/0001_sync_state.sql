-- qonto-sync state: watermarks and sweeps in progress, seen versions, backfills, invoices.

-- One row per (connection, bank account) polled continuously.
-- watermark: the upper bound of the last completed sweep (every version with an
--   updated_at up to it, visible when it was read, is on the topic).
-- sweep: the sweep in progress (keyset cursor, tie paging), checkpointed after every
--   published page, so that a restart resumes exactly there.
CREATE TABLE sync_watermarks (
    connection_id text NOT NULL,
    bank_account_id text NOT NULL,
    watermark timestamptz,
    sweep jsonb,
    last_success_at timestamptz,
    last_error text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, bank_account_id)
);

-- The newest version of each transaction known to be on qonto.transactions.v1: written
-- by sync after its own publishes are acknowledged, and by sync's consumer of the topic
-- (so that versions ingest delivered from webhooks count). A version is its updated_at.
CREATE TABLE sync_seen_versions (
    transaction_id text PRIMARY KEY,
    updated_at timestamptz NOT NULL,
    event_id text NOT NULL,
    source text NOT NULL,
    connection_id text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- Backfills (qonto-sync backfill), one row per (connection, account, requested range);
-- until_requested is NULL for an open-ended backfill (until now), whose effective end is
-- frozen in state when it starts.
CREATE TABLE sync_backfills (
    id bigserial PRIMARY KEY,
    connection_id text NOT NULL,
    bank_account_id text NOT NULL,
    since timestamptz NOT NULL,
    until_requested timestamptz,
    state jsonb NOT NULL,
    done boolean NOT NULL DEFAULT false,
    published bigint NOT NULL DEFAULT 0,
    skipped bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sync_backfills_range
    ON sync_backfills (connection_id, bank_account_id, since,
                       coalesce(until_requested, 'infinity'::timestamptz));

-- What sync last published on invoices.v1 for each Qonto invoice (publish on change only).
CREATE TABLE sync_invoice_state (
    invoice_id text PRIMARY KEY,
    connection_id text NOT NULL,
    qonto_kind text NOT NULL,
    content_hash text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);
