-- The outbox's pending rows move from a published_at column (+ partial index) to a narrow
-- table (qrecon.common.outbox): marking a row published rewrote it (WAL, index entries,
-- dead tuples); deleting its id from matcher_outbox_pending is much cheaper. Rows are
-- enqueued by a statement trigger, so a writer of any version enqueues; a relay of the
-- previous version fails on the dropped column and backs off until it is replaced.
CREATE TABLE matcher_outbox_pending (id bigint PRIMARY KEY);
INSERT INTO matcher_outbox_pending (id) SELECT id FROM matcher_outbox WHERE published_at IS NULL;

CREATE FUNCTION matcher_outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO matcher_outbox_pending (id) SELECT id FROM new_rows;
    RETURN NULL;
END
$$;
CREATE TRIGGER matcher_outbox_enqueue AFTER INSERT ON matcher_outbox
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION matcher_outbox_enqueue();

DROP INDEX matcher_outbox_pending_idx;
ALTER TABLE matcher_outbox DROP COLUMN published_at;
