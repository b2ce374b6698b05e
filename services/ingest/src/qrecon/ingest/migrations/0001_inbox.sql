-- ingest_inbox: every accepted webhook, once per (connection_id, event_id), and the
-- outbox its relay publishes from. The standard outbox columns (qrecon.common.outbox)
-- come first; connection_id / event_id / event_type are ingest's own.
CREATE TABLE ingest_inbox (
    id            bigserial PRIMARY KEY,
    topic         text NOT NULL,
    key           bytea,
    value         bytea NOT NULL,
    headers       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    connection_id text NOT NULL,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    CONSTRAINT ingest_inbox_event_uniq UNIQUE (connection_id, event_id)
);

CREATE INDEX ingest_inbox_pending_idx ON ingest_inbox (id) WHERE published_at IS NULL;
