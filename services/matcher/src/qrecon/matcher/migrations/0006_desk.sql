-- The review desk (qrecon.matcher.adapters.web): people, their organisations and roles,
-- their sessions, and bulk confirmations (undone as one). Organisation ids are opaque text
-- (the organisations issue owns their table); a person sees only organisations they are
-- a member of.
CREATE TABLE matcher_desk_people (
    id             bigserial PRIMARY KEY,
    email          text NOT NULL,
    name           text NOT NULL,
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX matcher_desk_people_email_idx ON matcher_desk_people (lower(email));

CREATE TABLE matcher_desk_memberships (
    person_id       bigint NOT NULL REFERENCES matcher_desk_people (id),
    organization_id text NOT NULL,
    role            text NOT NULL CHECK (role IN ('reviewer', 'viewer')),
    PRIMARY KEY (person_id, organization_id)
);

-- A session is known by the SHA-256 of its cookie (a stolen table opens no session).
CREATE TABLE matcher_desk_sessions (
    token_hash      text PRIMARY KEY,
    person_id       bigint NOT NULL REFERENCES matcher_desk_people (id),
    organization_id text NOT NULL,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX matcher_desk_sessions_person_idx ON matcher_desk_sessions (person_id);

-- A bulk confirmation: the transactions it confirmed and the result each then had, so
-- one undo reverts them all (a line changed since is left alone and reported).
CREATE TABLE matcher_desk_bulks (
    id              bigserial PRIMARY KEY,
    organization_id text NOT NULL,
    actor           text NOT NULL,
    min_confidence  double precision NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    undone_at       timestamptz
);
CREATE TABLE matcher_desk_bulk_items (
    bulk_id        bigint NOT NULL REFERENCES matcher_desk_bulks (id),
    transaction_id text NOT NULL,
    result_seq     integer NOT NULL,
    PRIMARY KEY (bulk_id, transaction_id)
);

-- The queue's full-text search (label, reference, counterparty) and its sorts.
CREATE INDEX matcher_desk_tx_search_idx ON matcher_transactions USING gin (
    to_tsvector('simple',
        coalesce(transaction ->> 'label', '') || ' ' ||
        coalesce(transaction ->> 'reference', '') || ' ' ||
        coalesce(transaction ->> 'clean_counterparty_name', ''))
) WHERE result_status IN ('suggested', 'unmatched');
CREATE INDEX matcher_desk_tx_amount_idx
    ON matcher_transactions (result_status, amount_cents DESC)
    WHERE result_status IN ('suggested', 'unmatched');
CREATE INDEX matcher_desk_invoices_open_amount_idx
    ON matcher_invoices (amount_cents) WHERE status = 'open';
-- Searching open invoices by number or customer (ILIKE '%...%'): trigrams (pg_trgm is a
-- trusted extension, PostgreSQL's contrib, which Debian's postgresql package ships).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX matcher_desk_invoices_search_idx ON matcher_invoices USING gin (
    (coalesce(invoice ->> 'number', '') || ' ' || coalesce(invoice ->> 'counterparty_name', ''))
    gin_trgm_ops
) WHERE status = 'open';
