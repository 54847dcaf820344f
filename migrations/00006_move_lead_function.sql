-- +goose Up
-- move_lead moves a lead in one round trip: the whole move of store.MoveLead
-- (locks, reads, the new sort key, the write and its audit event) as one
-- statement. Run as separate statements from Go it took six round trips with the
-- token check, and the round trips, not the work, were most of a move's cost
-- (make bench, 1,000 leads, 16 movers on 2 cores: 912 moves/s in six, TODO in
-- two). Inside a function each statement still reads what is committed when it
-- starts, so everything after the lock sees the settled column.
--
-- It puts lead p_id at position p_order (clamped to 0..n) of the stage named
-- p_target (exactly, else without regard to case) and returns the lead with its
-- new position; no row when there is no such lead. It raises P0002 when
-- p_target names no stage, and 40001 when the lead moved to another column
-- between its first read and the locks (the caller runs it again).
--
-- Concurrency (see store/leads.go): the stages of both columns are locked shared,
-- in board order; the lead's new key is taken between its new neighbours' keys;
-- the unique constraint on (status, card_order) makes a concurrent move that took
-- the same key fail (23505, run again). A column whose neighbours have no room
-- left between them is renumbered under its exclusive lock.
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
BEGIN
    SELECT l.status INTO old_status FROM leads l WHERE l.id = p_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT s.name INTO target
    FROM stages s
    WHERE s.name = p_target OR lower(s.name) = lower(p_target)
    ORDER BY s.name = p_target DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no stage is named %', p_target USING ERRCODE = 'P0002';
    END IF;
    PERFORM 1 FROM stages s WHERE s.name IN (old_status, target) ORDER BY s.position FOR SHARE;

    SELECT l.card_order INTO old_key FROM leads l WHERE l.id = p_id AND l.status = old_status;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM leads l WHERE l.id = p_id) THEN
            RAISE EXCEPTION 'lead % moved meanwhile', p_id USING ERRCODE = '40001';
        END IF;
        RETURN; -- deleted meanwhile
    END IF;
    SELECT count(*) INTO old_pos FROM leads o WHERE o.status = old_status AND o.card_order < old_key;

    IF target = old_status AND old_pos = want THEN
        new_key := old_key; -- already there
        new_pos := want;
    ELSE
        FOR attempt IN 1..2 LOOP
            keys := ARRAY(SELECT n.card_order FROM leads n
                          WHERE n.status = target AND n.id <> p_id
                          ORDER BY n.card_order
                          LIMIT 2 OFFSET greatest(want - 1, 0));
            new_key := NULL;
            new_pos := want;
            IF want = 0 AND cardinality(keys) = 0 THEN -- an empty column
                new_key := 0;
            ELSIF want = 0 THEN -- before the first card
                IF keys[1] > -key_limit THEN
                    new_key := keys[1] - p_key_gap;
                END IF;
            ELSIF cardinality(keys) = 2 THEN -- between the cards at want-1 and want
                IF keys[2] - keys[1] >= 2 THEN
                    new_key := keys[1] + (keys[2] - keys[1]) / 2;
                END IF;
            ELSIF cardinality(keys) = 1 THEN -- after the last card
                IF keys[1] < key_limit THEN
                    new_key := keys[1] + p_key_gap;
                END IF;
            ELSE -- past the end: at the end
                SELECT coalesce(max(n.card_order) + p_key_gap, 0), count(*) INTO new_key, new_pos
                FROM leads n
                WHERE n.status = target AND n.id <> p_id;
                IF new_key >= key_limit THEN
                    new_key := NULL;
                END IF;
            END IF;
            EXIT WHEN new_key IS NOT NULL;
            -- No room: renumber the column, which needs it to itself. Two moves
            -- waiting here for each other deadlock; PostgreSQL fails one (40P01)
            -- and the caller runs it again.
            PERFORM 1 FROM stages s WHERE s.name = target FOR UPDATE;
            UPDATE leads
            SET card_order = ranked.rank * p_key_gap
            FROM (SELECT c.id, row_number() OVER (ORDER BY c.card_order) - 1 AS rank
                  FROM leads c
                  WHERE c.status = target) ranked
            WHERE leads.id = ranked.id;
        END LOOP;
        IF new_key IS NULL THEN
            RAISE EXCEPTION 'no room for a card in % after renumbering it', target;
        END IF;
    END IF;

    UPDATE leads l
    SET status = target, card_order = new_key, updated_at = now()
    WHERE l.id = p_id
    RETURNING l.* INTO moved;

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
