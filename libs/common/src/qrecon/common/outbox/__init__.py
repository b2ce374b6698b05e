"""A generic transactional outbox: rows written in PostgreSQL, relayed to Kafka.

Why: a service that must both change its state (or accept a webhook) and publish an event
cannot do both atomically across PostgreSQL and Kafka. It writes the event as a row in an
outbox table *in the same transaction* as its state change (:func:`enqueue`), and a relay
(:class:`OutboxRelay`) publishes pending rows to Kafka, then takes them off the pending
table. The event reaches Kafka if and only if the transaction committed, even when Kafka
is down at that moment or the process dies right after committing.

Tables (any name; the caller's migration creates them; :func:`table_ddl` prints the DDL)::

    <table>:
    id            bigserial PRIMARY KEY          -- publication order
    topic         text NOT NULL
    key           bytea                          -- Kafka key (NULL: no key)
    value         bytea NOT NULL                 -- Kafka value, the exact bytes
    headers       jsonb NOT NULL DEFAULT '{}'    -- {"name": "text value"}
    created_at    timestamptz NOT NULL DEFAULT now()
    attempts      integer NOT NULL DEFAULT 0     -- failed publish attempts
    last_error    text                           -- last failure, for operators

    <table>_pending:
    id            bigint PRIMARY KEY             -- a row of <table> not yet published

    + a statement-level AFTER INSERT trigger on <table> that adds every new row's id to
      <table>_pending (in the inserting transaction: whoever writes the outbox, even an
      older version of a service, enqueues).

Extra columns are allowed (ingest's inbox adds ``connection_id``, ``event_id`` and a
unique constraint on them); the relay reads and writes only the standard ones.

Why a separate pending table rather than a ``published_at`` column: marking a row
published would rewrite it (a new version of a ~2 KB row, as much WAL again as the insert,
new index entries, a dead tuple for vacuum); deleting an 8-byte id from a small table
costs a tenth of that (measured: PostgreSQL's CPU to claim a row 19.5 → 11 µs, WAL per row
1.7 KB → 0.1 KB). Outbox rows are thus written once and never updated on the happy path.

How the relay works (:meth:`OutboxRelay.run_once`): in one transaction it claims up to
``batch_size`` pending ids in order — ``DELETE FROM <table>_pending WHERE id IN (SELECT …
FOR UPDATE SKIP LOCKED) RETURNING id`` joined to the rows (several replicas claim disjoint
batches) — hands the rows in order to the broker's idempotent producer as one record batch
per partition (partition = the default partitioner's murmur2 of the key), waits for every
broker acknowledgement, puts the ids of the rows Kafka did not take back (with
``attempts`` / ``last_error`` on their rows), and commits. A crash before the commit rolls
the claim back. The loop (:meth:`start`) wakes on ``LISTEN/NOTIFY`` (:func:`enqueue`
notifies at commit) or every ``poll_interval``; with ``linger`` > 0 it then waits that long
so that rows committed meanwhile share the batch (one transaction and one produce request
for many rows). It backs off exponentially (with jitter) while Kafka or PostgreSQL fails,
and deletes published rows (not pending) older than ``retention`` every
``cleanup_interval``. Records over ``max_record_bytes`` (which Kafka would refuse) are
never sent — a refused batch would leave a gap in the idempotent producer's sequence
numbers and stall its partition — they stay pending with ``last_error`` set, without
holding back the others.

Limits: while Kafka is unreachable, the batch in flight keeps its transaction open (and
its rows locked) until Kafka answers again; a very long outage therefore holds one open
transaction, which delays vacuum. Rows that fail again and again stay pending (visible
in ``qrecon_outbox_backlog`` and ``last_error``); nothing is dropped.

Guarantee: **at least once**, and in practice exactly once. The producer is idempotent with
``acks=all`` (:func:`qrecon.common.kafka.make_broker`): while Kafka is unreachable the
relay does not give up on a record it handed to the producer, it waits for it (the
idempotent producer retries with the same producer id and sequence numbers, which the
broker deduplicates), so an outage produces no duplicate. A duplicate is possible only
when a record reached the broker but its row could not be marked: the process died (or
PostgreSQL failed) between the broker's acknowledgement and the commit, or a shutdown
gave up waiting. Such a record is published again by the next relay. Consumers therefore
deduplicate by the ``event-id`` header (or, for transactions, by version). Ordering: rows
are published in ``id`` order by one relay; several replicas may interleave, so consumers
must not rely on order across records (the contracts already don't).

The package: ``sql`` (table names, DDL, the writer's ``enqueue`` and the relay's
statements), ``producer`` (handing rows to the broker's Kafka producer: the only module
that reaches into FastStream's and aiokafka's internals) and ``relay`` (the loop: claim,
send, put back, back off, wake on ``LISTEN/NOTIFY``).
"""

from qrecon.common.outbox.producer import OutboxPublishError
from qrecon.common.outbox.relay import BACKLOG, DELAY, PUBLISH_ERRORS, PUBLISHED, OutboxRelay
from qrecon.common.outbox.sql import enqueue, notify_channel, pending_table, table_ddl

__all__ = [
    "BACKLOG",
    "DELAY",
    "PUBLISHED",
    "PUBLISH_ERRORS",
    "OutboxPublishError",
    "OutboxRelay",
    "enqueue",
    "notify_channel",
    "pending_table",
    "table_ddl",
]
