-- State of the streaming matcher (qrecon.matcher.service). PostgreSQL is the source of
-- truth: replicas cache invoices in memory, but every allocation is committed here, under
-- row locks, and checked by a constraint that no code path can bypass.

-- Invoices as last received from invoices.v1. `allocated_cents` is maintained by a trigger
-- on matcher_allocations only (never written by the application), and the CHECK keeps it
-- between 0 and the invoice amount (credit notes have a negative amount): an invoice can
-- never be allocated beyond its amount, whatever the number of replicas.
CREATE TABLE matcher_invoices (
    invoice_id       text PRIMARY KEY,
    invoice          jsonb NOT NULL,
    kind             text NOT NULL,
    currency         text NOT NULL,
    amount_cents     bigint NOT NULL,
    allocated_cents  bigint NOT NULL DEFAULT 0,
    status           text NOT NULL,
    last_event_id    text,
    last_event_at    timestamptz NOT NULL,
    row_version      bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT matcher_invoices_allocation_within_amount CHECK (
        allocated_cents BETWEEN LEAST(0, amount_cents) AND GREATEST(0, amount_cents)
    )
);
CREATE INDEX matcher_invoices_updated_idx ON matcher_invoices (updated_at);

-- One row per transaction: the version held and its one effective result.
CREATE TABLE matcher_transactions (
    transaction_id        text PRIMARY KEY,
    version               timestamptz NOT NULL,
    transaction           jsonb NOT NULL,
    side                  text NOT NULL,
    currency              text NOT NULL,
    amount_cents          bigint NOT NULL,
    qonto_status          text NOT NULL,
    tx_date               timestamptz NOT NULL,
    event_id              text,
    event_observed_at     timestamptz,
    result_status         text NOT NULL,
    result                jsonb NOT NULL,
    result_seq            integer NOT NULL,
    decided_by            text NOT NULL,
    candidate_invoice_ids text[] NOT NULL DEFAULT '{}',
    needs_redecide        boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT matcher_transactions_status CHECK (
        result_status IN ('auto_matched', 'suggested', 'unmatched', 'reverted')
    )
);
CREATE INDEX matcher_transactions_review_idx
    ON matcher_transactions (result_status, tx_date DESC, transaction_id DESC)
    WHERE result_status IN ('suggested', 'unmatched');
CREATE INDEX matcher_transactions_redecide_idx
    ON matcher_transactions (transaction_id) WHERE needs_redecide;
CREATE INDEX matcher_transactions_candidates_idx
    ON matcher_transactions USING gin (candidate_invoice_ids);

-- The effective allocations (current state; the history is in matcher_results).
CREATE TABLE matcher_allocations (
    transaction_id text NOT NULL REFERENCES matcher_transactions (transaction_id),
    invoice_id     text NOT NULL REFERENCES matcher_invoices (invoice_id),
    amount_cents   bigint NOT NULL CHECK (amount_cents <> 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, invoice_id)
);
CREATE INDEX matcher_allocations_invoice_idx ON matcher_allocations (invoice_id);

CREATE FUNCTION matcher_allocations_apply() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE matcher_invoices SET allocated_cents = allocated_cents - OLD.amount_cents
        WHERE invoice_id = OLD.invoice_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE matcher_invoices SET allocated_cents = allocated_cents + NEW.amount_cents
        WHERE invoice_id = NEW.invoice_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER matcher_allocations_apply
    AFTER INSERT OR UPDATE OR DELETE ON matcher_allocations
    FOR EACH ROW EXECUTE FUNCTION matcher_allocations_apply();

-- Every change of an invoice row moves its version (the replicas' caches apply a row only
-- when newer than the one they hold) and its clock (the incremental cache refresh).
CREATE FUNCTION matcher_invoices_touch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.row_version := OLD.row_version + 1;
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;
CREATE TRIGGER matcher_invoices_touch
    BEFORE UPDATE ON matcher_invoices
    FOR EACH ROW EXECUTE FUNCTION matcher_invoices_touch();

-- Every result ever decided, in order (seq per transaction): the audit trail.
CREATE TABLE matcher_results (
    transaction_id text NOT NULL,
    seq            integer NOT NULL,
    version        timestamptz NOT NULL,
    status         text NOT NULL,
    cause          text NOT NULL,
    result         jsonb NOT NULL,
    event_id       text NOT NULL UNIQUE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, seq)
);

-- Review decisions (confirm, reject, manual, undo) and what they taught the engine.
CREATE TABLE matcher_decisions (
    id             bigserial PRIMARY KEY,
    transaction_id text NOT NULL REFERENCES matcher_transactions (transaction_id),
    action         text NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    actor          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    undone_at      timestamptz
);
CREATE INDEX matcher_decisions_tx_idx ON matcher_decisions (transaction_id, id DESC);

-- Counterparty aliases confirmed by a reviewer (loaded into the engine's Knowledge).
CREATE TABLE matcher_aliases (
    id                        bigserial PRIMARY KEY,
    observed_counterparty     text NOT NULL DEFAULT '',
    observed_iban             text NOT NULL DEFAULT '',
    invoice_counterparty_name text NOT NULL,
    decision_id               bigint REFERENCES matcher_decisions (id),
    created_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (observed_counterparty, observed_iban, invoice_counterparty_name)
);

-- Pairs a reviewer rejected: never suggested again.
CREATE TABLE matcher_rejections (
    id             bigserial PRIMARY KEY,
    transaction_id text NOT NULL,
    invoice_id     text NOT NULL,
    decision_id    bigint REFERENCES matcher_decisions (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (transaction_id, invoice_id)
);

-- Bumped when knowledge is removed (an undo): replicas then rebuild theirs.
CREATE TABLE matcher_knowledge_epoch (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch     bigint NOT NULL
);
INSERT INTO matcher_knowledge_epoch (epoch) VALUES (0);

-- Transactional outbox of reconciliation.matches.v1 (qrecon.common.outbox columns).
CREATE TABLE matcher_outbox (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX matcher_outbox_pending_idx ON matcher_outbox (id) WHERE published_at IS NULL;
