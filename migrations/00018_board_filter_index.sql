-- +goose NO TRANSACTION
-- +goose Up
-- The filtered board at 100,000 leads (issue "A pipeline the team owns": first
-- paint under 100 ms of server time).
--
-- leads_board_filter_idx holds, in board order (stage, then card order), every
-- column the board's filters read, so a filtered column is read from the index
-- alone: no table pages, no sort, and a column stops being read as soon as its
-- first page of matches is found (queries/board.sql, FilterColumns). Built
-- CONCURRENTLY: servers keep serving and writing leads while it is built (a
-- few seconds at 100,000 leads). If the build fails it leaves an invalid index
-- behind; running the migration again drops and rebuilds it.
DROP INDEX CONCURRENTLY IF EXISTS leads_board_filter_idx;
CREATE INDEX CONCURRENTLY leads_board_filter_idx ON leads (status, card_order)
    INCLUDE (id, owner_id, value, source, created_at, updated_at, stage_entered_at);

-- board_filter_match says whether a lead passes the board's filters
-- (store.BoardFilter): the owner; the source, without regard to case; the
-- value range; the created and last-touched (updated_at) ranges, from
-- inclusive, to exclusive; stale_only: in its stage longer than the stage's
-- rot_days at time at. A filter is off when its argument is NULL ('' for the
-- source, false for stale_only). The board, the API and the export all ask
-- this one function. A single SQL expression, so PostgreSQL inlines it into
-- each query and still reads the leads from leads_board_filter_idx alone.
-- PARALLEL UNSAFE keeps the queries that use it (and lead_search_match) out of
-- parallel plans: starting workers cost more than the reads they would share
-- (tens of milliseconds on a busy two-core server, for scans of a few ms).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION board_filter_match(
    l_owner_id uuid, l_source text, l_value numeric, l_created_at timestamptz,
    l_updated_at timestamptz, l_stage_entered_at timestamptz, s_rot_days integer,
    owner_id uuid, source text, min_value numeric, max_value numeric,
    created_from timestamptz, created_to timestamptz,
    updated_from timestamptz, updated_to timestamptz,
    stale_only boolean, at timestamptz) RETURNS boolean
LANGUAGE sql STABLE PARALLEL UNSAFE AS $$
SELECT (owner_id IS NULL OR l_owner_id = owner_id)
   AND (source = '' OR lower(l_source) = lower(source))
   AND (min_value IS NULL OR l_value >= min_value)
   AND (max_value IS NULL OR l_value <= max_value)
   AND (created_from IS NULL OR l_created_at >= created_from)
   AND (created_to IS NULL OR l_created_at < created_to)
   AND (updated_from IS NULL OR l_updated_at >= updated_from)
   AND (updated_to IS NULL OR l_updated_at < updated_to)
   AND (NOT stale_only OR (s_rot_days IS NOT NULL AND l_stage_entered_at < at - s_rot_days * interval '1 day'))
$$;
-- +goose StatementEnd

-- lead_search_match says whether a lead matches the board's search: the
-- ILIKE pattern over name, company, email and notes, the digits of a phone
-- number typed (contained in the phone's digits; '' for none), or one of ids
-- (the typo-tolerant matches). An empty pattern matches every lead.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION lead_search_match(
    l_id uuid, l_name text, l_company text, l_email text, l_notes text, l_phone text,
    pattern text, digits text, ids uuid[]) RETURNS boolean
LANGUAGE sql STABLE PARALLEL UNSAFE AS $$
SELECT pattern = ''
    OR l_name ILIKE pattern OR l_company ILIKE pattern
    OR l_email ILIKE pattern OR l_notes ILIKE pattern
    OR (digits <> '' AND regexp_replace(l_phone, '[^0-9]', '', 'g') LIKE '%' || digits || '%')
    OR l_id = ANY(ids)
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION lead_search_match(uuid, text, text, text, text, text, text, text, uuid[]);
DROP FUNCTION board_filter_match(uuid, text, numeric, timestamptz, timestamptz, timestamptz, integer,
    uuid, text, numeric, numeric, timestamptz, timestamptz, timestamptz, timestamptz, boolean, timestamptz);
DROP INDEX CONCURRENTLY IF EXISTS leads_board_filter_idx;
