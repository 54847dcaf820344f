-- +goose Up
-- Pipeline analytics (issue "Telling other systems and people what happened",
-- README "Analytics") read the stage changes of the audit trail. lead_events
-- names stages by the name they had when the event was written, and stages may
-- be renamed later; its rows are wide (changes and the lead's snapshot as
-- jsonb), so reading a quarter of a million of them for one page costs more
-- than a page may take.
--
-- lead_stage_changes is the audit trail's stage changes, one narrow row per
-- event that set or changed a lead's stage (a create, or a move), written by a
-- trigger in the event's own transaction, so it holds exactly what lead_events
-- holds and rolls back with it. Stages are resolved to their ids when the event
-- is written, while the names in the event are the stages' current names: a
-- stage renamed later keeps its history, and a new stage given an old name
-- does not inherit it. Deleting an event (purging the trash) deletes its row.
-- rebuild_lead_stage_changes() fills it again from lead_events.
CREATE TABLE lead_stage_changes (
    event_id        bigint PRIMARY KEY REFERENCES lead_events (id) ON DELETE CASCADE,
    lead_id         uuid NOT NULL,
    at              timestamptz NOT NULL,
    -- from_stage is the stage the lead left (NULL for a create); to_stage the
    -- stage it entered. NULL also when the name matched no stage (a stage
    -- deleted before the row was written). No foreign key: a deleted stage's
    -- history stays, and the analytics leave it out when they join stages.
    from_stage      smallint,
    to_stage        smallint,
    -- from_entered_at is when the lead entered from_stage: the at of its
    -- previous stage change, else when the lead was created. NULL for a create.
    from_entered_at timestamptz
);
-- The analytics read a period's changes by at, without touching the table.
CREATE INDEX lead_stage_changes_at_idx ON lead_stage_changes (at)
    INCLUDE (lead_id, from_stage, to_stage, from_entered_at);
-- The trigger finds a lead's previous change.
CREATE INDEX lead_stage_changes_lead_idx ON lead_stage_changes (lead_id, at);

-- stage_change_of is the stage change in an event's changes: the old and new
-- stage names (old '' for a create); no row when the event changed no stage.
-- +goose StatementBegin
CREATE FUNCTION stage_change_of(p_changes jsonb) RETURNS TABLE (old_name text, new_name text)
LANGUAGE sql IMMUTABLE
AS $$
    SELECT c->>'old', c->>'new'
    FROM jsonb_array_elements(p_changes) AS c
    WHERE c->>'field' = 'status'
    LIMIT 1;
$$;
-- +goose StatementEnd

-- record_lead_stage_change writes the row of a new event that names a stage.
-- Events of one lead are written in time order (at is the transaction's
-- start, and writes to one lead are serialized by its row lock), so the
-- lead's newest row is its previous stage change.
-- +goose StatementBegin
CREATE FUNCTION record_lead_stage_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    old_name text;
    new_name text;
    prev_at timestamptz;
    prev_stage smallint;
BEGIN
    SELECT c.old_name, c.new_name INTO old_name, new_name FROM stage_change_of(NEW.changes) c;
    IF new_name IS NULL THEN
        RETURN NULL;
    END IF;
    IF coalesce(old_name, '') <> '' THEN
        SELECT p.at, p.to_stage INTO prev_at, prev_stage
        FROM lead_stage_changes p
        WHERE p.lead_id = NEW.lead_id
        ORDER BY p.at DESC, p.event_id DESC
        LIMIT 1;
        prev_at := coalesce(prev_at,
            (SELECT l.created_at FROM leads l WHERE l.id = NEW.lead_id),
            (SELECT t.created_at FROM trashed_leads t WHERE t.id = NEW.lead_id));
    END IF;
    INSERT INTO lead_stage_changes (event_id, lead_id, at, from_stage, to_stage, from_entered_at)
    VALUES (NEW.id, NEW.lead_id, NEW.at,
            CASE WHEN coalesce(old_name, '') <> '' THEN
                coalesce((SELECT s.id FROM stages s WHERE lower(s.name) = lower(old_name)), prev_stage)
            END,
            (SELECT s.id FROM stages s WHERE lower(s.name) = lower(new_name)),
            prev_at);
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER lead_events_stage_change AFTER INSERT ON lead_events
FOR EACH ROW WHEN (NEW.changes @> '[{"field": "status"}]')
EXECUTE FUNCTION record_lead_stage_change();

-- rebuild_lead_stage_changes fills lead_stage_changes from the whole audit
-- trail in one statement (this migration; seeding benchmarks). Stage names
-- are resolved against today's stages: events written before this migration
-- could only name stages as they are now or deleted ones.
-- +goose StatementBegin
CREATE FUNCTION rebuild_lead_stage_changes() RETURNS void
LANGUAGE sql
AS $$
    DELETE FROM lead_stage_changes;
    INSERT INTO lead_stage_changes (event_id, lead_id, at, from_stage, to_stage, from_entered_at)
    SELECT e.id, e.lead_id, e.at,
           CASE WHEN e.old_name <> '' THEN coalesce(fs.id, e.prev_stage) END,
           ts.id,
           CASE WHEN e.old_name <> '' THEN coalesce(e.prev_at, l.created_at, t.created_at) END
    FROM (
        SELECT e.id, e.lead_id, e.at, coalesce(c.old_name, '') AS old_name, c.new_name,
               lag(e.at) OVER w AS prev_at,
               lag(s.id) OVER w AS prev_stage
        FROM lead_events e
        CROSS JOIN LATERAL stage_change_of(e.changes) c
        LEFT JOIN stages s ON lower(s.name) = lower(c.new_name)
        WHERE e.changes @> '[{"field": "status"}]'
        WINDOW w AS (PARTITION BY e.lead_id ORDER BY e.at, e.id)
    ) e
    LEFT JOIN stages fs ON lower(fs.name) = lower(e.old_name)
    LEFT JOIN stages ts ON lower(ts.name) = lower(e.new_name)
    LEFT JOIN leads l ON l.id = e.lead_id
    LEFT JOIN trashed_leads t ON t.id = e.lead_id;
$$;
-- +goose StatementEnd
SELECT rebuild_lead_stage_changes();

-- Win rate, lost reasons and won value per month read the leads closed in a
-- period.
CREATE INDEX leads_closed_at_idx ON leads (closed_at) WHERE closed_at IS NOT NULL;

-- +goose Down
DROP INDEX leads_closed_at_idx;
DROP TRIGGER lead_events_stage_change ON lead_events;
DROP FUNCTION rebuild_lead_stage_changes();
DROP FUNCTION record_lead_stage_change();
DROP FUNCTION stage_change_of(jsonb);
DROP TABLE lead_stage_changes;
