-- +goose Up
-- Stages the team edits (issue "A pipeline the team owns"; store/stages.go).

-- Stage changes are events of the one event stream (migration 00008), so every
-- open board, on every server, and later the webhooks follow them in the same
-- order as lead changes. They are rows of lead_events with their own actions;
-- lead_id is the nil uuid for them rather than NULL, so that every reader of
-- lead_events keeps its non-null lead_id (no lead has the nil uuid; the check
-- below keeps the two kinds of row apart). stage is the stage after the change
-- (for a delete, as it was, with move_to); stages is the whole pipeline after
-- the change, in board order, so a client re-draws its columns from the event
-- alone.
ALTER TABLE lead_events DROP CONSTRAINT lead_events_action_check;
ALTER TABLE lead_events ADD CONSTRAINT lead_events_action_check CHECK (action IN (
    'create', 'update', 'move', 'delete', 'restore',
    'stage_create', 'stage_update', 'stage_delete', 'stage_reorder'));
ALTER TABLE lead_events
    ADD COLUMN stage  jsonb,
    ADD COLUMN stages jsonb,
    ADD CONSTRAINT lead_events_stage_check CHECK (
        (action LIKE 'stage\_%') = (lead_id = '00000000-0000-0000-0000-000000000000'));

-- Writers lock stage rows by id, not by position (queries/stages.sql
-- LockStages): positions change when stages are reordered, so two writers
-- reading them at different times could lock in opposite orders and deadlock;
-- ids never change. move_lead is as migration 00013 made it, with that order.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION move_lead(p_id uuid, p_target text, p_order integer, p_key_gap bigint,
                          p_actor_kind text, p_actor_user_id uuid, p_actor_name text,
                          p_if_versions bigint[] DEFAULT NULL,
                          p_lost_reason text DEFAULT NULL, p_lost_note text DEFAULT NULL,
                          p_value numeric(14, 2) DEFAULT NULL)
RETURNS TABLE (lead jsonb, "position" integer, stale boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    -- Keys stay within half the bigint range, so no sum below overflows.
    key_limit constant bigint := 4611686018427387904;
    half_gap bigint := p_key_gap / 2;
    span bigint;
    last_key bigint;
    old_status text;
    target text;
    old_key bigint;
    old_pos integer;
    old_version bigint;
    old_row leads%ROWTYPE;
    target_kind text;
    new_reason text;
    new_note text;
    new_value numeric(14, 2);
    new_key bigint;
    new_pos integer;
    keys bigint[];
    want integer := greatest(p_order, 0);
    moved leads%ROWTYPE;
    changes jsonb := '[]';
    locked text[] := '{}';
    stage record;
BEGIN
    -- The stages of the lead's column and of the target (named exactly, else
    -- without regard to case), locked shared in board order in one statement.
    -- That statement reads the lead's column before it holds the locks: it is
    -- read again below, under them.
    FOR stage IN SELECT s.name
                 FROM stages s
                 WHERE s.name = (SELECT l.status FROM leads l WHERE l.id = p_id)
                    OR s.name = p_target OR lower(s.name) = lower(p_target)
                 ORDER BY s.id
                 FOR SHARE OF s
    LOOP
        locked := locked || stage.name;
        IF stage.name = p_target OR (target IS NULL AND lower(stage.name) = lower(p_target)) THEN
            target := stage.name;
        END IF;
    END LOOP;
    -- The lead's row lock: a concurrent move of the same lead (which may hold
    -- other columns' locks than these) is waited for, and then this reads where
    -- that move put it.
    SELECT l.* INTO old_row FROM leads l WHERE l.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN; -- no such lead (or deleted meanwhile)
    END IF;
    old_status := old_row.status;
    old_key := old_row.card_order;
    old_version := old_row.version;
    IF NOT old_status = ANY (locked) THEN
        RAISE EXCEPTION 'lead % moved meanwhile', p_id USING ERRCODE = '40001';
    END IF;
    IF p_if_versions IS NOT NULL AND NOT old_version = ANY (p_if_versions) THEN
        -- Changed since the caller saw it: the lead as it is, unmoved.
        RETURN QUERY SELECT to_jsonb(l),
                            (SELECT count(*) FROM leads o
                             WHERE o.status = l.status AND o.card_order < l.card_order)::integer,
                            true
                     FROM leads l WHERE l.id = p_id;
        RETURN;
    END IF;
    IF target IS NULL THEN
        RAISE EXCEPTION 'no stage is named %', p_target USING ERRCODE = 'P0002';
    END IF;
    -- The outcome (store/outcomes.go): entering a lost stage takes the reason
    -- and note given (none given: ''), and refuses a move without a reason
    -- when the team requires one; a move within the lost stage changes them
    -- only when given. The caller checked that a reason is only given for a
    -- lost stage.
    SELECT s.kind INTO target_kind FROM stages s WHERE s.name = target;
    new_reason := old_row.lost_reason;
    new_note := old_row.lost_note;
    IF target_kind = 'lost' AND (target <> old_status OR p_lost_reason IS NOT NULL) THEN
        new_reason := coalesce(p_lost_reason, '');
    END IF;
    IF target_kind = 'lost' AND (target <> old_status OR p_lost_note IS NOT NULL) THEN
        new_note := coalesce(p_lost_note, '');
    END IF;
    IF target_kind = 'lost' AND target <> old_status AND btrim(new_reason) = ''
       AND (SELECT ps.lost_reason_required FROM pipeline_settings ps) THEN
        RAISE EXCEPTION 'lost_reason is required' USING ERRCODE = 'CR001';
    END IF;
    new_value := coalesce(p_value, old_row.value);
    SELECT (SELECT count(*) FROM leads o WHERE o.status = old_status AND o.card_order < old_key),
           ARRAY(SELECT n.card_order FROM leads n
                 WHERE n.status = target AND n.id <> p_id
                 ORDER BY n.card_order
                 LIMIT 2 OFFSET greatest(want - 1, 0))
    INTO old_pos, keys;

    IF target = old_status AND old_pos = want THEN
        new_key := old_key; -- already there
        new_pos := want;
    ELSE
        FOR attempt IN 1..2 LOOP
            IF attempt > 1 THEN
                keys := ARRAY(SELECT n.card_order FROM leads n
                              WHERE n.status = target AND n.id <> p_id
                              ORDER BY n.card_order
                              LIMIT 2 OFFSET greatest(want - 1, 0));
            END IF;
            -- The key is drawn at random from the middle of the room it has, so
            -- that two moves to the same place at once rarely take the same key
            -- (the later of two that do fails on the unique constraint and is
            -- run again).
            new_key := NULL;
            new_pos := want;
            IF want = 0 AND cardinality(keys) = 0 THEN -- an empty column
                new_key := floor(random() * half_gap)::bigint;
            ELSIF want = 0 THEN -- before the first card
                IF keys[1] > -key_limit THEN
                    new_key := keys[1] - half_gap - floor(random() * half_gap)::bigint;
                END IF;
            ELSIF cardinality(keys) = 2 THEN -- between the cards at want-1 and want
                span := keys[2] - keys[1];
                IF span >= 4 THEN
                    new_key := keys[1] + span / 4 + floor(random() * (span / 2))::bigint;
                ELSIF span >= 2 THEN
                    new_key := keys[1] + 1;
                END IF;
            ELSIF cardinality(keys) = 1 THEN -- after the last card
                IF keys[1] < key_limit THEN
                    new_key := keys[1] + half_gap + floor(random() * half_gap)::bigint;
                END IF;
            ELSE -- past the end: at the end
                SELECT max(n.card_order), count(*) INTO last_key, new_pos
                FROM leads n
                WHERE n.status = target AND n.id <> p_id;
                IF target = old_status AND old_pos = new_pos THEN
                    new_key := old_key; -- already the last card
                ELSIF last_key IS NULL THEN
                    new_key := floor(random() * half_gap)::bigint;
                ELSIF last_key < key_limit THEN
                    new_key := last_key + half_gap + floor(random() * half_gap)::bigint;
                END IF;
            END IF;
            EXIT WHEN new_key IS NOT NULL;
            -- No room: renumber the column, which needs it to itself. Two moves
            -- waiting here for each other deadlock; PostgreSQL fails one (40P01)
            -- and the caller runs it again.
            PERFORM 1 FROM stages s WHERE s.name = target FOR UPDATE;
            PERFORM renumber_column(target, p_key_gap);
        END LOOP;
        IF new_key IS NULL THEN
            RAISE EXCEPTION 'no room for a card in % after renumbering it', target;
        END IF;
    END IF;

    IF target = old_status AND new_key = old_key AND new_reason = old_row.lost_reason
       AND new_note = old_row.lost_note AND new_value = old_row.value THEN
        -- A move to where the card is: nothing to write, updated_at and the
        -- version included.
        moved := old_row;
    ELSE
        -- stage_entered_at and closed_at follow the stage by the trigger
        -- of migration 00012.
        UPDATE leads l
        SET status = target, card_order = new_key, updated_at = now(),
            value = new_value, lost_reason = new_reason, lost_note = new_note
        WHERE l.id = p_id
        RETURNING l.* INTO moved;
    END IF;

    -- The audit trail (store/audit.go): the stage when it changed and the
    -- position from 1, as people count cards; a move to where the card was is
    -- not recorded.
    IF target <> old_status THEN
        changes := changes || jsonb_build_object('field', 'status', 'old', old_status, 'new', target);
    END IF;
    IF target <> old_status OR old_pos <> new_pos THEN
        changes := changes || jsonb_build_object('field', 'position', 'old', (old_pos + 1)::text, 'new', (new_pos + 1)::text);
    END IF;
    IF new_value <> old_row.value THEN
        changes := changes || jsonb_build_object('field', 'value', 'old', old_row.value::text, 'new', new_value::text);
    END IF;
    IF new_reason <> old_row.lost_reason THEN
        changes := changes || jsonb_build_object('field', 'lost_reason', 'old', old_row.lost_reason, 'new', new_reason);
    END IF;
    IF new_note <> old_row.lost_note THEN
        changes := changes || jsonb_build_object('field', 'lost_note', 'old', old_row.lost_note, 'new', new_note);
    END IF;
    IF jsonb_array_length(changes) > 0 THEN
        INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name)
        VALUES (p_id, 'move', changes, p_actor_kind, p_actor_user_id, p_actor_name);
    END IF;

    RETURN QUERY SELECT to_jsonb(moved), new_pos, false;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- move_lead as migration 00013 made it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION move_lead(p_id uuid, p_target text, p_order integer, p_key_gap bigint,
                          p_actor_kind text, p_actor_user_id uuid, p_actor_name text,
                          p_if_versions bigint[] DEFAULT NULL,
                          p_lost_reason text DEFAULT NULL, p_lost_note text DEFAULT NULL,
                          p_value numeric(14, 2) DEFAULT NULL)
RETURNS TABLE (lead jsonb, "position" integer, stale boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    -- Keys stay within half the bigint range, so no sum below overflows.
    key_limit constant bigint := 4611686018427387904;
    half_gap bigint := p_key_gap / 2;
    span bigint;
    last_key bigint;
    old_status text;
    target text;
    old_key bigint;
    old_pos integer;
    old_version bigint;
    old_row leads%ROWTYPE;
    target_kind text;
    new_reason text;
    new_note text;
    new_value numeric(14, 2);
    new_key bigint;
    new_pos integer;
    keys bigint[];
    want integer := greatest(p_order, 0);
    moved leads%ROWTYPE;
    changes jsonb := '[]';
    locked text[] := '{}';
    stage record;
BEGIN
    -- The stages of the lead's column and of the target (named exactly, else
    -- without regard to case), locked shared in board order in one statement.
    -- That statement reads the lead's column before it holds the locks: it is
    -- read again below, under them.
    FOR stage IN SELECT s.name
                 FROM stages s
                 WHERE s.name = (SELECT l.status FROM leads l WHERE l.id = p_id)
                    OR s.name = p_target OR lower(s.name) = lower(p_target)
                 ORDER BY s.position
                 FOR SHARE OF s
    LOOP
        locked := locked || stage.name;
        IF stage.name = p_target OR (target IS NULL AND lower(stage.name) = lower(p_target)) THEN
            target := stage.name;
        END IF;
    END LOOP;
    -- The lead's row lock: a concurrent move of the same lead (which may hold
    -- other columns' locks than these) is waited for, and then this reads where
    -- that move put it.
    SELECT l.* INTO old_row FROM leads l WHERE l.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN; -- no such lead (or deleted meanwhile)
    END IF;
    old_status := old_row.status;
    old_key := old_row.card_order;
    old_version := old_row.version;
    IF NOT old_status = ANY (locked) THEN
        RAISE EXCEPTION 'lead % moved meanwhile', p_id USING ERRCODE = '40001';
    END IF;
    IF p_if_versions IS NOT NULL AND NOT old_version = ANY (p_if_versions) THEN
        -- Changed since the caller saw it: the lead as it is, unmoved.
        RETURN QUERY SELECT to_jsonb(l),
                            (SELECT count(*) FROM leads o
                             WHERE o.status = l.status AND o.card_order < l.card_order)::integer,
                            true
                     FROM leads l WHERE l.id = p_id;
        RETURN;
    END IF;
    IF target IS NULL THEN
        RAISE EXCEPTION 'no stage is named %', p_target USING ERRCODE = 'P0002';
    END IF;
    -- The outcome (store/outcomes.go): entering a lost stage takes the reason
    -- and note given (none given: ''), and refuses a move without a reason
    -- when the team requires one; a move within the lost stage changes them
    -- only when given. The caller checked that a reason is only given for a
    -- lost stage.
    SELECT s.kind INTO target_kind FROM stages s WHERE s.name = target;
    new_reason := old_row.lost_reason;
    new_note := old_row.lost_note;
    IF target_kind = 'lost' AND (target <> old_status OR p_lost_reason IS NOT NULL) THEN
        new_reason := coalesce(p_lost_reason, '');
    END IF;
    IF target_kind = 'lost' AND (target <> old_status OR p_lost_note IS NOT NULL) THEN
        new_note := coalesce(p_lost_note, '');
    END IF;
    IF target_kind = 'lost' AND target <> old_status AND btrim(new_reason) = ''
       AND (SELECT ps.lost_reason_required FROM pipeline_settings ps) THEN
        RAISE EXCEPTION 'lost_reason is required' USING ERRCODE = 'CR001';
    END IF;
    new_value := coalesce(p_value, old_row.value);
    SELECT (SELECT count(*) FROM leads o WHERE o.status = old_status AND o.card_order < old_key),
           ARRAY(SELECT n.card_order FROM leads n
                 WHERE n.status = target AND n.id <> p_id
                 ORDER BY n.card_order
                 LIMIT 2 OFFSET greatest(want - 1, 0))
    INTO old_pos, keys;

    IF target = old_status AND old_pos = want THEN
        new_key := old_key; -- already there
        new_pos := want;
    ELSE
        FOR attempt IN 1..2 LOOP
            IF attempt > 1 THEN
                keys := ARRAY(SELECT n.card_order FROM leads n
                              WHERE n.status = target AND n.id <> p_id
                              ORDER BY n.card_order
                              LIMIT 2 OFFSET greatest(want - 1, 0));
            END IF;
            -- The key is drawn at random from the middle of the room it has, so
            -- that two moves to the same place at once rarely take the same key
            -- (the later of two that do fails on the unique constraint and is
            -- run again).
            new_key := NULL;
            new_pos := want;
            IF want = 0 AND cardinality(keys) = 0 THEN -- an empty column
                new_key := floor(random() * half_gap)::bigint;
            ELSIF want = 0 THEN -- before the first card
                IF keys[1] > -key_limit THEN
                    new_key := keys[1] - half_gap - floor(random() * half_gap)::bigint;
                END IF;
            ELSIF cardinality(keys) = 2 THEN -- between the cards at want-1 and want
                span := keys[2] - keys[1];
                IF span >= 4 THEN
                    new_key := keys[1] + span / 4 + floor(random() * (span / 2))::bigint;
                ELSIF span >= 2 THEN
                    new_key := keys[1] + 1;
                END IF;
            ELSIF cardinality(keys) = 1 THEN -- after the last card
                IF keys[1] < key_limit THEN
                    new_key := keys[1] + half_gap + floor(random() * half_gap)::bigint;
                END IF;
            ELSE -- past the end: at the end
                SELECT max(n.card_order), count(*) INTO last_key, new_pos
                FROM leads n
                WHERE n.status = target AND n.id <> p_id;
                IF target = old_status AND old_pos = new_pos THEN
                    new_key := old_key; -- already the last card
                ELSIF last_key IS NULL THEN
                    new_key := floor(random() * half_gap)::bigint;
                ELSIF last_key < key_limit THEN
                    new_key := last_key + half_gap + floor(random() * half_gap)::bigint;
                END IF;
            END IF;
            EXIT WHEN new_key IS NOT NULL;
            -- No room: renumber the column, which needs it to itself. Two moves
            -- waiting here for each other deadlock; PostgreSQL fails one (40P01)
            -- and the caller runs it again.
            PERFORM 1 FROM stages s WHERE s.name = target FOR UPDATE;
            PERFORM renumber_column(target, p_key_gap);
        END LOOP;
        IF new_key IS NULL THEN
            RAISE EXCEPTION 'no room for a card in % after renumbering it', target;
        END IF;
    END IF;

    IF target = old_status AND new_key = old_key AND new_reason = old_row.lost_reason
       AND new_note = old_row.lost_note AND new_value = old_row.value THEN
        -- A move to where the card is: nothing to write, updated_at and the
        -- version included.
        moved := old_row;
    ELSE
        -- stage_entered_at and closed_at follow the stage by the trigger
        -- of migration 00012.
        UPDATE leads l
        SET status = target, card_order = new_key, updated_at = now(),
            value = new_value, lost_reason = new_reason, lost_note = new_note
        WHERE l.id = p_id
        RETURNING l.* INTO moved;
    END IF;

    -- The audit trail (store/audit.go): the stage when it changed and the
    -- position from 1, as people count cards; a move to where the card was is
    -- not recorded.
    IF target <> old_status THEN
        changes := changes || jsonb_build_object('field', 'status', 'old', old_status, 'new', target);
    END IF;
    IF target <> old_status OR old_pos <> new_pos THEN
        changes := changes || jsonb_build_object('field', 'position', 'old', (old_pos + 1)::text, 'new', (new_pos + 1)::text);
    END IF;
    IF new_value <> old_row.value THEN
        changes := changes || jsonb_build_object('field', 'value', 'old', old_row.value::text, 'new', new_value::text);
    END IF;
    IF new_reason <> old_row.lost_reason THEN
        changes := changes || jsonb_build_object('field', 'lost_reason', 'old', old_row.lost_reason, 'new', new_reason);
    END IF;
    IF new_note <> old_row.lost_note THEN
        changes := changes || jsonb_build_object('field', 'lost_note', 'old', old_row.lost_note, 'new', new_note);
    END IF;
    IF jsonb_array_length(changes) > 0 THEN
        INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name)
        VALUES (p_id, 'move', changes, p_actor_kind, p_actor_user_id, p_actor_name);
    END IF;

    RETURN QUERY SELECT to_jsonb(moved), new_pos, false;
END;
$$;
-- +goose StatementEnd
DELETE FROM lead_events WHERE action LIKE 'stage\_%';
ALTER TABLE lead_events DROP CONSTRAINT lead_events_stage_check;
ALTER TABLE lead_events DROP COLUMN stages, DROP COLUMN stage;
ALTER TABLE lead_events DROP CONSTRAINT lead_events_action_check;
ALTER TABLE lead_events ADD CONSTRAINT lead_events_action_check CHECK (action IN ('create', 'update', 'move', 'delete', 'restore'));
