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
-- ids never change. move_lead is as migration 00007 made it, with that order.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION move_lead(p_id uuid, p_target text, p_order integer, p_key_gap bigint,
                          p_actor_kind text, p_actor_user_id uuid, p_actor_name text,
                          p_if_versions bigint[] DEFAULT NULL)
RETURNS TABLE (id uuid, name text, company text, email text, phone text,
               value numeric(14, 2), notes text, status text, source text,
               card_order bigint, created_at timestamptz, updated_at timestamptz,
               version bigint, "position" integer, stale boolean)
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
    -- without regard to case), locked shared in id order in one statement.
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
    SELECT l.status, l.card_order, l.version INTO old_status, old_key, old_version
    FROM leads l WHERE l.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN; -- no such lead (or deleted meanwhile)
    END IF;
    IF NOT old_status = ANY (locked) THEN
        RAISE EXCEPTION 'lead % moved meanwhile', p_id USING ERRCODE = '40001';
    END IF;
    IF p_if_versions IS NOT NULL AND NOT old_version = ANY (p_if_versions) THEN
        -- Changed since the caller saw it: the lead as it is, unmoved.
        RETURN QUERY SELECT l.id, l.name, l.company, l.email, l.phone, l.value, l.notes, l.status,
                            l.source, l.card_order, l.created_at, l.updated_at, l.version,
                            (SELECT count(*) FROM leads o
                             WHERE o.status = l.status AND o.card_order < l.card_order)::integer,
                            true
                     FROM leads l WHERE l.id = p_id;
        RETURN;
    END IF;
    IF target IS NULL THEN
        RAISE EXCEPTION 'no stage is named %', p_target USING ERRCODE = 'P0002';
    END IF;
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

    IF target = old_status AND new_key = old_key THEN
        -- A move to where the card is: nothing to write, updated_at and the
        -- version included.
        SELECT l.* INTO moved FROM leads l WHERE l.id = p_id;
    ELSE
        UPDATE leads l
        SET status = target, card_order = new_key, updated_at = now()
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
    IF jsonb_array_length(changes) > 0 THEN
        INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name)
        VALUES (p_id, 'move', changes, p_actor_kind, p_actor_user_id, p_actor_name);
    END IF;

    RETURN QUERY SELECT moved.id, moved.name, moved.company, moved.email, moved.phone, moved.value,
                        moved.notes, moved.status, moved.source, moved.card_order, moved.created_at,
                        moved.updated_at, moved.version, new_pos, false;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- move_lead as migration 00007 made it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION move_lead(p_id uuid, p_target text, p_order integer, p_key_gap bigint,
                          p_actor_kind text, p_actor_user_id uuid, p_actor_name text,
                          p_if_versions bigint[] DEFAULT NULL)
RETURNS TABLE (id uuid, name text, company text, email text, phone text,
               value numeric(14, 2), notes text, status text, source text,
               card_order bigint, created_at timestamptz, updated_at timestamptz,
               version bigint, "position" integer, stale boolean)
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
    SELECT l.status, l.card_order, l.version INTO old_status, old_key, old_version
    FROM leads l WHERE l.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN; -- no such lead (or deleted meanwhile)
    END IF;
    IF NOT old_status = ANY (locked) THEN
        RAISE EXCEPTION 'lead % moved meanwhile', p_id USING ERRCODE = '40001';
    END IF;
    IF p_if_versions IS NOT NULL AND NOT old_version = ANY (p_if_versions) THEN
        -- Changed since the caller saw it: the lead as it is, unmoved.
        RETURN QUERY SELECT l.id, l.name, l.company, l.email, l.phone, l.value, l.notes, l.status,
                            l.source, l.card_order, l.created_at, l.updated_at, l.version,
                            (SELECT count(*) FROM leads o
                             WHERE o.status = l.status AND o.card_order < l.card_order)::integer,
                            true
                     FROM leads l WHERE l.id = p_id;
        RETURN;
    END IF;
    IF target IS NULL THEN
        RAISE EXCEPTION 'no stage is named %', p_target USING ERRCODE = 'P0002';
    END IF;
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

    IF target = old_status AND new_key = old_key THEN
        -- A move to where the card is: nothing to write, updated_at and the
        -- version included.
        SELECT l.* INTO moved FROM leads l WHERE l.id = p_id;
    ELSE
        UPDATE leads l
        SET status = target, card_order = new_key, updated_at = now()
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
    IF jsonb_array_length(changes) > 0 THEN
        INSERT INTO lead_events (lead_id, action, changes, actor_kind, actor_user_id, actor_name)
        VALUES (p_id, 'move', changes, p_actor_kind, p_actor_user_id, p_actor_name);
    END IF;

    RETURN QUERY SELECT moved.id, moved.name, moved.company, moved.email, moved.phone, moved.value,
                        moved.notes, moved.status, moved.source, moved.card_order, moved.created_at,
                        moved.updated_at, moved.version, new_pos, false;
END;
$$;
-- +goose StatementEnd
DELETE FROM lead_events WHERE action LIKE 'stage\_%';
ALTER TABLE lead_events DROP CONSTRAINT lead_events_stage_check;
ALTER TABLE lead_events DROP COLUMN stages, DROP COLUMN stage;
ALTER TABLE lead_events DROP CONSTRAINT lead_events_action_check;
ALTER TABLE lead_events ADD CONSTRAINT lead_events_action_check CHECK (action IN ('create', 'update', 'move', 'delete', 'restore'));
