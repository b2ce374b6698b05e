-- Review API keys, one per person and organisation (qonto-matcher keys create|revoke|list).
-- Only a SHA-256 digest of the secret is stored; `key_id` is the token's public prefix (the
-- look-up), the digest is compared in constant time. `admin` keys may list organisations.
CREATE TABLE matcher_api_keys (
    key_id          text PRIMARY KEY,
    digest          bytea NOT NULL,
    organization_id text NOT NULL,
    name            text NOT NULL,
    admin           boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX matcher_api_keys_organization_idx ON matcher_api_keys (organization_id, created_at);
