-- Connections whose consent was revoked (Qonto's v1/consent-revocations webhook, read from
-- qonto.events.v1): every replica stops polling them. Their data (watermarks, seen
-- versions, OAuth tokens) is kept; `qonto-sync reinstate <connection>` deletes the row
-- once the user has granted access again.
CREATE TABLE sync_connection_revocations (
    connection_id text PRIMARY KEY,
    organization_id text,
    client_id text,
    revoked_at timestamptz NOT NULL,
    event_id text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
