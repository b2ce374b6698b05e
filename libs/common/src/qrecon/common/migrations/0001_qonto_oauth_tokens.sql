-- OAuth tokens of each Qonto connection (qrecon.common.qonto.token_store.PostgresTokenStore).
-- Refresh tokens rotate: a new pair is written here before it is ever used, so a crash
-- between Qonto's answer and this write leaves the previous refresh token, which Qonto
-- still honours for 60 s. `generation` counts rotations (observability, optimistic checks).
CREATE TABLE IF NOT EXISTS qonto_oauth_tokens (
    connection_id text PRIMARY KEY,
    access_token text NOT NULL,
    refresh_token text,
    token_type text NOT NULL DEFAULT 'bearer',
    scope text,
    id_token text,
    expires_at timestamptz NOT NULL,
    obtained_at timestamptz NOT NULL,
    generation bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now()
);
