-- +goose Up
-- renumber_column spreads the sort keys of column p_status out again, p_key_gap
-- apart in card order, when they have run out of room (between two neighbours,
-- or at an end of their range). The caller holds the column's stage lock
-- exclusively. The new keys lie wholly after (or before) the old ones, so that
-- no two rows share a key at any moment of the update: the unique constraint is
-- checked row by row. Keys stay within half the bigint range.
-- +goose StatementBegin
CREATE FUNCTION renumber_column(p_status text, p_key_gap bigint) RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    key_limit constant bigint := 4611686018427387904;
    lo bigint;
    hi bigint;
    cnt bigint;
    base bigint;
BEGIN
    SELECT min(c.card_order), max(c.card_order), count(*) INTO lo, hi, cnt
    FROM leads c
    WHERE c.status = p_status;
    IF cnt = 0 THEN
        RETURN;
    ELSIF hi + (cnt + 1) * p_key_gap < key_limit THEN
        base := hi + p_key_gap;
    ELSIF lo - (cnt + 1) * p_key_gap > -key_limit THEN
        base := lo - (cnt + 1) * p_key_gap;
    ELSE
        RAISE EXCEPTION 'the sort keys of % fill their range', p_status;
    END IF;
    UPDATE leads
    SET card_order = base + ranked.rank * p_key_gap
    FROM (SELECT c.id, row_number() OVER (ORDER BY c.card_order) - 1 AS rank
          FROM leads c
          WHERE c.status = p_status) ranked
    WHERE leads.id = ranked.id AND leads.status = p_status;
END;
$$;
-- +goose StatementEnd

-- move_lead moves a lead in one round trip: the whole move of store.MoveLead
-- (locks, reads, the new sort key, the write and its audit event) as one
-- statement. Run from Go as a transaction of three statements it took five round
-- trips to the database, six with the API token's check, and the round trips,
-- not the work, were most of a move's cost (make bench, 1,000 leads, 16 movers on
-- 2 cores: 912 moves/s that way, 1,050 to 1,200/s with this function). Inside a
-- function each statement still reads what is committed when it starts, so
-- everything after the lock sees the settled column.
--
-- It puts lead p_id at position p_order (clamped to 0..n) of the stage named
-- p_target (exactly, else without regard to case) and returns the lead with its
-- new position; no row when there is no such lead. It raises P0002 when
-- p_target names no stage, and 40001 when the lead moved to another column
-- between its first read and the locks (the caller runs it again).
--
-- Concurrency (see store/leads.go): the stages of both columns are locked shared,
-- in board order, then the lead's row; the lead's new key is drawn between its
-- new neighbours' keys; the unique constraint on (status, card_order) makes a
-- concurrent move that took the same key fail (23505, run again). A column whose
-- neighbours have no room left between them is renumbered under its exclusive
-- lock.
-- +goose StatementBegin
CREATE FUNCTION move_lead(p_id uuid, p_target text, p_order integer, p_key_gap bigint,
                          p_actor_kind text, p_actor_user_id uuid, p_actor_name text)
RETURNS TABLE (id uuid, name text, company text, email text, phone text,
               value numeric(14, 2), notes text, status text, source text,
               card_order bigint, created_at timestamptz, updated_at timestamptz,
               "position" integer)
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
    SELECT l.status, l.card_order INTO old_status, old_key FROM leads l WHERE l.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN; -- no such lead (or deleted meanwhile)
    END IF;
    IF NOT old_status = ANY (locked) THEN
        RAISE EXCEPTION 'lead % moved meanwhile', p_id USING ERRCODE = '40001';
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
        -- A move to where the card is: nothing to write, updated_at included.
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
                        moved.updated_at, new_pos;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION move_lead(uuid, text, integer, bigint, text, uuid, text);
DROP FUNCTION renumber_column(text, bigint);
