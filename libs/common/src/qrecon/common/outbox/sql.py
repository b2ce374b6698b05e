"""The outbox's SQL: checked table names, the DDL, the writer's insert, the relay's statements.

Table names are interpolated into SQL: only plain lower-case identifiers pass
(``check_table``). See the package doc for the tables and why a separate pending table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

__all__ = [
    "RelayStatements",
    "check_table",
    "enqueue",
    "notify_channel",
    "pending_table",
    "table_ddl",
]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_table(table: str) -> str:
    """Table names are interpolated into SQL: only plain lower-case identifiers pass."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a plain table name: {table!r}")
    return table


def notify_channel(table: str) -> str:
    """The ``LISTEN/NOTIFY`` channel on which writers of ``table`` wake its relay."""
    return f"{check_table(table)}_outbox"


def pending_table(table: str) -> str:
    """The table of ``table``'s ids not yet published."""
    name = f"{check_table(table)}_pending"
    if len(name) > 63:  # PostgreSQL would truncate it silently
        raise ValueError(f"outbox table name too long for its pending table: {table!r}")
    return name


def table_ddl(table: str) -> str:
    """DDL of an outbox table, its pending table and trigger (copy it into a migration)."""
    t = check_table(table)
    p = pending_table(t)
    return f"""
CREATE TABLE IF NOT EXISTS {t} (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE TABLE IF NOT EXISTS {p} (id bigint PRIMARY KEY);
CREATE OR REPLACE FUNCTION {t}_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {p} (id) SELECT id FROM new_rows;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER {t}_enqueue AFTER INSERT ON {t}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {t}_enqueue();
"""  # noqa: S608 - checked identifiers


def _key_bytes(key: str | bytes | None) -> bytes | None:
    if key is None or isinstance(key, bytes):
        return key
    return key.encode()


async def enqueue(
    conn: asyncpg.Connection,
    table: str,
    *,
    topic: str,
    key: str | bytes | None,
    value: bytes,
    headers: Mapping[str, str],
) -> None:
    """Write one record to the outbox ``table`` on ``conn``.

    Call it inside the caller's transaction (``async with conn.transaction():``): the record
    is published if and only if that transaction commits. The relay is woken at commit.
    """
    t = check_table(table)
    await conn.execute(
        f"WITH ins AS (INSERT INTO {t} (topic, key, value, headers)"  # noqa: S608 - checked name
        " VALUES ($1, $2, $3, $4::text::jsonb) RETURNING id)"
        " SELECT pg_notify($5, '') FROM ins",
        topic,
        _key_bytes(key),
        value,
        json.dumps(dict(headers)),
        notify_channel(t),
    )


@dataclass(frozen=True, slots=True)
class RelayStatements:
    """The relay's statements on one outbox table (``for_table``)."""

    claim: str  # $1 batch size -> id, topic, key, value, headers (text), created_at
    fail: str  # $1 ids, $2 errors: put back as pending, attempts + 1, last_error
    cleanup: str  # $1 retention, $2 limit: delete published rows older than retention
    count: str  # -> how many rows are pending

    @classmethod
    def for_table(cls, table: str) -> RelayStatements:
        t = check_table(table)
        p = pending_table(t)
        return cls(
            # Claim a batch by deleting its ids in the transaction that stays open while the
            # batch is published: undone by a rollback if the relay dies, and put back
            # explicitly for the rows Kafka refused.
            claim=(
                f"WITH claimed AS (DELETE FROM {p} WHERE id IN ("  # noqa: S608
                f"SELECT id FROM {p} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id)"
                " SELECT o.id, o.topic, o.key, o.value, o.headers::text AS headers, o.created_at"
                f" FROM {t} AS o JOIN claimed USING (id)"
            ),
            fail=(
                f"WITH back AS (INSERT INTO {p} (id) SELECT unnest($1::bigint[]))"  # noqa: S608
                f" UPDATE {t} AS o SET attempts = o.attempts + 1, last_error = f.err"
                " FROM unnest($1::bigint[], $2::text[]) AS f(id, err) WHERE o.id = f.id"
            ),
            cleanup=(
                f"DELETE FROM {t} WHERE id IN (SELECT o.id FROM {t} AS o"  # noqa: S608
                " WHERE o.created_at < now() - $1::interval"
                f" AND NOT EXISTS (SELECT 1 FROM {p} AS q WHERE q.id = o.id)"
                " ORDER BY o.id LIMIT $2)"
            ),
            count=f"SELECT count(*) FROM {p}",  # noqa: S608
        )
