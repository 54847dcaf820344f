-- +goose Up
-- The event stream (GET /events/, store/events.go) is the audit trail,
-- lead_events, read in the order its transactions committed. An event is
-- written in the transaction of its change (store/audit.go, move_lead), so a
-- change that rolls back leaves no event and no change is without one.
--
-- lead is the lead after the change, in the JSON form of store.Lead (card_order
-- is its position in its column; for a delete, the lead as it went to the
-- trash, position 0). It is filled in by a trigger because moves record their
-- event inside move_lead (migration 00006), where Go cannot add it, and so that
-- every column a later migration adds to leads (the version, say) is in it
-- without touching every writer.
ALTER TABLE lead_events ADD COLUMN lead jsonb;

-- seq is the event's place in the stream: assigned after the event's
-- transaction committed, by sequence_lead_events, one caller at a time, so
-- seq increases in the order events become visible and a reader that has seen
-- every event up to seq n never later finds one below n (the identity id does
-- not have that property: ids are drawn at insert and commit in any order).
-- NULL until assigned.
ALTER TABLE lead_events ADD COLUMN seq bigint;
CREATE UNIQUE INDEX lead_events_seq_idx ON lead_events (seq);
CREATE INDEX lead_events_unsequenced_idx ON lead_events (id) WHERE seq IS NULL;

-- lead_event_sequencer holds the last seq assigned. Its one row is the
-- sequencer's lock: sequence_lead_events locks it for update, so sequencers
-- run one at a time across every server, and the counter never goes back
-- (purging the trash deletes events, never this row).
CREATE TABLE lead_event_sequencer (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq bigint NOT NULL
);

-- lead_snapshot is lead p_id as store.Lead's JSON: from leads with its
-- position, or from the trash.
-- +goose StatementBegin
CREATE FUNCTION lead_snapshot(p_id uuid) RETURNS jsonb
LANGUAGE sql
AS $$
    SELECT coalesce(
        (SELECT to_jsonb(l) || jsonb_build_object('card_order',
                    (SELECT count(*) FROM leads o WHERE o.status = l.status AND o.card_order < l.card_order))
         FROM leads l WHERE l.id = p_id),
        (SELECT (to_jsonb(t) - 'deleted_at' - 'deleted_by') || jsonb_build_object('card_order', 0)
         FROM trashed_leads t WHERE t.id = p_id));
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION lead_events_snapshot() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.lead IS NULL THEN
        NEW.lead := lead_snapshot(NEW.lead_id);
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER lead_events_snapshot BEFORE INSERT ON lead_events
FOR EACH ROW EXECUTE FUNCTION lead_events_snapshot();

-- The events before this migration keep their ids as stream positions, with
-- the lead as it is now.
UPDATE lead_events SET seq = id, lead = lead_snapshot(lead_id);
INSERT INTO lead_event_sequencer (last_seq) SELECT coalesce(max(id), 0) FROM lead_events;

-- sequence_lead_events numbers the committed events that have no seq yet, in id
-- order, after the last seq assigned, and returns the last seq assigned. One
-- round trip: it runs after every write that recorded events, on every server
-- (store/events.go).
--
-- Why the order is safe: the sequencer row's lock makes callers run one after
-- another, and each statement of this function reads what was committed when it
-- starts, so after waiting for the lock a caller sees the numbers the one before
-- it committed and numbers only what is left. An event whose transaction has not
-- committed is invisible here and is numbered by a later call, after everything
-- numbered before it. So numbers become visible in increasing order, a batch at
-- a time, and a reader that asks for seq > n never misses one.
-- +goose StatementBegin
CREATE FUNCTION sequence_lead_events() RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    last bigint;
    newest bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM lead_events WHERE seq IS NULL) THEN
        SELECT s.last_seq INTO last FROM lead_event_sequencer s;
        RETURN last;
    END IF;
    SELECT s.last_seq INTO last FROM lead_event_sequencer s FOR UPDATE;
    WITH todo AS (
        SELECT e.id, row_number() OVER (ORDER BY e.id) AS n
        FROM lead_events e
        WHERE e.seq IS NULL
        ORDER BY e.id
        LIMIT 10000
    ), numbered AS (
        UPDATE lead_events e
        SET seq = last + todo.n
        FROM todo
        WHERE e.id = todo.id
        RETURNING e.seq
    )
    SELECT max(numbered.seq) INTO newest FROM numbered;
    IF newest IS NOT NULL THEN
        last := newest;
        UPDATE lead_event_sequencer SET last_seq = last;
    END IF;
    RETURN last;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION sequence_lead_events();
DROP TRIGGER lead_events_snapshot ON lead_events;
DROP FUNCTION lead_events_snapshot();
DROP FUNCTION lead_snapshot(uuid);
DROP TABLE lead_event_sequencer;
DROP INDEX lead_events_unsequenced_idx;
DROP INDEX lead_events_seq_idx;
ALTER TABLE lead_events DROP COLUMN seq;
ALTER TABLE lead_events DROP COLUMN lead;
