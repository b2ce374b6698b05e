-- The inbox's pending rows move from a published_at column (+ partial index) to a narrow
-- table (qrecon.common.outbox): marking a row published rewrote its ~2 KB tuple (WAL,
-- index entries, dead tuples); deleting its id from ingest_inbox_pending costs a tenth.
-- Rows are enqueued by a statement trigger, so a writer of any version enqueues; a relay of
-- the previous version fails on the dropped column and backs off until it is replaced.
CREATE TABLE ingest_inbox_pending (id bigint PRIMARY KEY);
INSERT INTO ingest_inbox_pending (id) SELECT id FROM ingest_inbox WHERE published_at IS NULL;

CREATE FUNCTION ingest_inbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ingest_inbox_pending (id) SELECT id FROM new_rows;
    RETURN NULL;
END
$$;
CREATE TRIGGER ingest_inbox_enqueue AFTER INSERT ON ingest_inbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ingest_inbox_enqueue();

DROP INDEX ingest_inbox_pending_idx;
ALTER TABLE ingest_inbox DROP COLUMN published_at;
