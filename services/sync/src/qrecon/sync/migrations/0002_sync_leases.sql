-- Ownership of sync's work among replicas: one owner at a time per lease.

-- One row per unit of work: gapfill/<connection>/<bank account>, invoices/<connection>,
-- backfill/<connection>/<bank account>/<since>/<until|open> (qrecon.sync.core.leases).
-- owner: the replica holding it (NULL once released); it holds it while expires_at
--   (PostgreSQL's clock) is in the future, and renews it well before.
-- token: the fencing token, +1 at every acquisition. Every checkpoint write checks
--   (owner, token, not expired) in its own transaction, with the row locked FOR SHARE, so a
--   replica that lost the lease can never write after another one acquired it.
CREATE TABLE sync_leases (
    name text PRIMARY KEY,
    owner text,
    token bigint NOT NULL DEFAULT 0,
    acquired_at timestamptz,
    renewed_at timestamptz,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
);

-- Live qonto-sync run replicas (heartbeat renewed with the leases), used to share the
-- work: each aims at ceil(wanted / live replicas) leases.
CREATE TABLE sync_replicas (
    replica_id text PRIMARY KEY,
    host text,
    pid integer,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    owned integer NOT NULL DEFAULT 0,
    wanted integer NOT NULL DEFAULT 0
);
