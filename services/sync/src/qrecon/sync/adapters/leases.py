"""Leases in PostgreSQL (``sync_leases``, ``sync_replicas``): one owner at a time per unit
of work, a fencing token, and the check every checkpoint makes in its own transaction.

All times are PostgreSQL's (``clock_timestamp()``): replicas' clocks never matter. A lease
is held while ``expires_at`` is in the future; its owner renews it (``ttl / 3`` by
default); a replica that dies stops renewing and the lease is free ``ttl`` later at most.
A graceful stop releases at once.

Correctness does not rest on timing: every acquisition increments ``token``, and every
checkpoint (``assert_held``) locks the lease row ``FOR SHARE`` and checks owner, token and
expiry *inside the checkpoint's transaction*. A takeover (an ``UPDATE`` of that row) waits
for a checkpoint in progress and makes any later one fail with ``LeaseLost``: a stale
owner (paused, partitioned, slow) can publish duplicates — harmless, same event ids — but
never move a watermark or a cursor after another replica took over.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence

import asyncpg

from qrecon.common.logging import get_logger
from qrecon.sync.app.ports import Fence, Holder, LeaseLost
from qrecon.sync.core.leases import ReplicaLoad

log = get_logger(__name__)


_CHECK = """
SELECT 1 FROM sync_leases
 WHERE name = $1 AND owner = $2 AND token = $3 AND expires_at > clock_timestamp()
   FOR SHARE
"""


async def assert_held(conn: asyncpg.Connection, fence: Fence) -> None:
    """Inside a transaction: raise ``LeaseLost`` unless ``fence`` still holds its lease.

    The row stays locked ``FOR SHARE`` until the transaction ends, so nobody can take
    the lease over between this check and the commit.
    """
    if await conn.fetchval(_CHECK, fence.name, fence.owner, fence.token) is None:
        raise LeaseLost(fence.name)


_ACQUIRE = """
INSERT INTO sync_leases AS l (name, owner, token, acquired_at, renewed_at, expires_at)
SELECT n, $2, 1, clock_timestamp(), clock_timestamp(),
       clock_timestamp() + make_interval(secs => $3)
  FROM unnest($1::text[]) AS n
ON CONFLICT (name) DO UPDATE
   SET owner = excluded.owner, token = l.token + 1, acquired_at = excluded.acquired_at,
       renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
 WHERE l.owner IS NULL OR l.expires_at <= clock_timestamp()
RETURNING name, token
"""

_RENEW = """
UPDATE sync_leases AS l
   SET renewed_at = clock_timestamp(),
       expires_at = clock_timestamp() + make_interval(secs => $4)
  FROM unnest($2::text[], $3::bigint[]) AS m(name, token)
 WHERE l.name = m.name AND l.token = m.token AND l.owner = $1
RETURNING l.name
"""

_RELEASE = """
UPDATE sync_leases SET owner = NULL, expires_at = clock_timestamp()
 WHERE name = $1 AND owner = $2 AND token = $3
"""

_HOLDERS = """
SELECT n AS name,
       CASE WHEN l.expires_at > clock_timestamp() THEN l.owner END AS owner,
       coalesce(l.token, 0) AS token,
       CASE WHEN l.expires_at > clock_timestamp() AND l.owner IS NOT NULL
            THEN l.expires_at END AS expires_at
  FROM unnest($1::text[]) AS n LEFT JOIN sync_leases AS l ON l.name = n
"""

_HEARTBEAT = """
INSERT INTO sync_replicas AS r (replica_id, host, pid, heartbeat_at, expires_at, owned, wanted)
VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp() + make_interval(secs => $4), $5, $6)
ON CONFLICT (replica_id) DO UPDATE
   SET host = excluded.host, pid = excluded.pid, heartbeat_at = excluded.heartbeat_at,
       expires_at = excluded.expires_at, owned = excluded.owned, wanted = excluded.wanted
"""


class LeaseStore:
    """The SQL of leases and replica heartbeats (every call is one short statement)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def acquire(self, names: Sequence[str], owner: str, ttl: float) -> dict[str, int]:
        """Take those of ``names`` that are free (never held, released or expired).
        Returns ``{name: token}`` of the ones taken."""
        wanted = sorted(set(names))  # one lock order for every replica
        if not wanted:
            return {}
        rows = await self.pool.fetch(_ACQUIRE, wanted, owner, float(ttl))
        return {r["name"]: int(r["token"]) for r in rows}

    async def renew(self, owner: str, fences: Sequence[Fence], ttl: float) -> set[str]:
        """Extend the leases still held under these tokens; returns the names renewed."""
        if not fences:
            return set()
        ordered = sorted(fences, key=lambda f: f.name)
        rows = await self.pool.fetch(
            _RENEW,
            owner,
            [f.name for f in ordered],
            [f.token for f in ordered],
            float(ttl),
        )
        return {r["name"] for r in rows}

    async def release(self, fence: Fence) -> bool:
        """Give the lease up now (another replica may take it at once)."""
        status: str = await self.pool.execute(_RELEASE, fence.name, fence.owner, fence.token)
        return status.endswith(" 1")

    async def holders(self, names: Sequence[str]) -> dict[str, Holder]:
        if not names:
            return {}
        rows = await self.pool.fetch(_HOLDERS, sorted(set(names)))
        return {
            r["name"]: Holder(r["name"], r["owner"], int(r["token"]), r["expires_at"]) for r in rows
        }

    async def heartbeat(
        self, replica_id: str, ttl: float, *, owned: int, wanted: int
    ) -> list[ReplicaLoad]:
        """Say this replica is alive (for ``ttl``); returns every live replica."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                _HEARTBEAT,
                replica_id,
                socket.gethostname(),
                os.getpid(),
                float(ttl),
                owned,
                wanted,
            )
            rows = await conn.fetch(
                "SELECT replica_id, owned, wanted FROM sync_replicas"
                " WHERE expires_at > clock_timestamp()"
            )
            await conn.execute(
                "DELETE FROM sync_replicas WHERE expires_at < clock_timestamp() - interval '1 day'"
            )
        return [ReplicaLoad(r["replica_id"], int(r["owned"]), int(r["wanted"])) for r in rows]

    async def leave(self, replica_id: str) -> None:
        await self.pool.execute("DELETE FROM sync_replicas WHERE replica_id = $1", replica_id)


__all__ = ["Fence", "Holder", "LeaseLost", "LeaseStore", "assert_held"]
