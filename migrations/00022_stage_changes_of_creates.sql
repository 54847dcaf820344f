-- +goose Up
-- The statement trigger of migration 00020 writes a create's stage-change row
-- without reading its changes: a create enters the stage its lead was created
-- in, which its snapshot (lead_events.lead, migration 00008) names. Reading
-- each create's changes array (stage_change_of), ordering the statement's
-- events by lead and joining each to its lead and the trash was about half of
-- an import batch's event cost (2,000 creates: 100 ms before, see
-- BenchmarkImport). The rows are the same: a create has no from stage and
-- enters the stage of its name, any case (NULL when none has it). Moves and
-- the rest go through the query of migration 00020, which now leaves creates
-- out and still finds, for a lead created and moved in one statement, its
-- create as the previous change (the creates' rows are written first).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION record_lead_stage_changes() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Creates: the stage the lead was created in, named by its snapshot
    -- (by its changes when the snapshot has no status).
    INSERT INTO lead_stage_changes (event_id, lead_id, at, from_stage, to_stage, from_entered_at)
    SELECT n.id, n.lead_id, n.at, NULL, s.id, NULL
    FROM new_events n
    LEFT JOIN stages s
           ON lower(s.name) = lower(coalesce(n.lead->>'status', (SELECT c.new_name FROM stage_change_of(n.changes) c)))
    WHERE n.action = 'create' AND n.changes @> '[{"field": "status"}]';

    -- Everything else that changed a stage (this INSERT sees the creates
    -- above: a lead created and moved in one statement finds its create as
    -- its previous change).
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
        WHERE n.action <> 'create' AND n.changes @> '[{"field": "status"}]' AND c.new_name IS NOT NULL
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION record_lead_stage_changes() RETURNS trigger
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
