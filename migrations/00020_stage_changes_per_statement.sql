-- +goose Up
-- lead_stage_changes (migration 00015) written once per statement instead of
-- once per event. The row trigger ran a PL/pgSQL function for every event that
-- names a stage, with three lookups each: an import of 100,000 rows paid it
-- 100,000 times (most of a batch's time after the trigram indexes). This
-- trigger reads the statement's new events as a transition table and writes
-- their rows in one INSERT ... SELECT, as rebuild_lead_stage_changes() does for
-- the whole trail.
--
-- The same rows as before: a create has no from stage; a move's from stage is
-- the old name's stage, else the stage of the lead's previous change, and its
-- from_entered_at is that previous change's time, else when the lead was
-- created. The previous change of a lead's first event in the statement is its
-- newest row in the table; of a later one, the lead's event before it in the
-- statement (by at, then id). record_lead_stage_change(), the row trigger's
-- function, stays for the way down.
DROP TRIGGER lead_events_stage_change ON lead_events;

-- +goose StatementBegin
CREATE FUNCTION record_lead_stage_changes() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO lead_stage_changes (event_id, lead_id, at, from_stage, to_stage, from_entered_at)
    SELECT e.id, e.lead_id, e.at,
           CASE WHEN e.old_name <> '' THEN coalesce(fs.id, CASE WHEN e.nth > 1 THEN e.prev_stage ELSE p.to_stage END) END,
           ts.id,
           CASE WHEN e.old_name <> '' THEN coalesce(e.prev_at, p.at, l.created_at, t.created_at) END
    FROM (
        SELECT n.id, n.lead_id, n.at, coalesce(c.old_name, '') AS old_name, c.new_name,
               lag(n.at) OVER w AS prev_at,
               lag(s.id) OVER w AS prev_stage,
               row_number() OVER w AS nth
        FROM new_events n
        CROSS JOIN LATERAL stage_change_of(n.changes) c
        LEFT JOIN stages s ON lower(s.name) = lower(c.new_name)
        WHERE n.changes @> '[{"field": "status"}]' AND c.new_name IS NOT NULL
        WINDOW w AS (PARTITION BY n.lead_id ORDER BY n.at, n.id)
    ) e
    LEFT JOIN LATERAL (
        SELECT p.at, p.to_stage
        FROM lead_stage_changes p
        WHERE e.nth = 1 AND e.old_name <> '' AND p.lead_id = e.lead_id
        ORDER BY p.at DESC, p.event_id DESC
        LIMIT 1
    ) p ON true
    LEFT JOIN stages fs ON e.old_name <> '' AND lower(fs.name) = lower(e.old_name)
    LEFT JOIN stages ts ON lower(ts.name) = lower(e.new_name)
    LEFT JOIN leads l ON e.old_name <> '' AND l.id = e.lead_id
    LEFT JOIN trashed_leads t ON e.old_name <> '' AND t.id = e.lead_id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER lead_events_stage_changes AFTER INSERT ON lead_events
REFERENCING NEW TABLE AS new_events
FOR EACH STATEMENT EXECUTE FUNCTION record_lead_stage_changes();

-- +goose Down
DROP TRIGGER lead_events_stage_changes ON lead_events;
DROP FUNCTION record_lead_stage_changes();
CREATE TRIGGER lead_events_stage_change AFTER INSERT ON lead_events
FOR EACH ROW WHEN (NEW.changes @> '[{"field": "status"}]')
EXECUTE FUNCTION record_lead_stage_change();
