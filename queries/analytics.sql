-- Pipeline analytics (store/analytics.go, README "Analytics"). A period is
-- [from_at, to_at); owner_id NULL means every owner. Leads in the trash are
-- left out of every number: the leads are read from leads, and a stage change
-- of a lead in trashed_leads is skipped (every event's lead is in one of the
-- two; purging deletes the events). The store runs these with custom plans
-- (plan_cache_mode), so "owner_id IS NULL OR ..." is decided when planning.

-- AnalyticsStages lists the stages in board order with what the numbers need.
-- name: AnalyticsStages :many
SELECT id, name, kind, probability, position
FROM stages
ORDER BY position
LIMIT 1000;

-- AnalyticsLeadTotals counts and sums the leads of each owner in each stage,
-- and those of them closed in the period (the pipeline, the forecast, the win
-- rate and the table by owner, in one pass over the leads).
-- name: AnalyticsLeadTotals :many
SELECT l.owner_id, s.id AS stage_id,
       count(*)::integer AS leads,
       coalesce(sum(l.value), 0)::numeric AS value,
       (count(*) FILTER (WHERE l.closed_at >= @from_at::timestamptz AND l.closed_at < @to_at::timestamptz))::integer AS closed,
       coalesce(sum(l.value) FILTER (WHERE l.closed_at >= @from_at::timestamptz AND l.closed_at < @to_at::timestamptz), 0)::numeric AS closed_value
FROM leads l
JOIN stages s ON s.name = l.status
WHERE (sqlc.narg('owner_id')::uuid IS NULL OR l.owner_id = sqlc.narg('owner_id')::uuid)
GROUP BY l.owner_id, s.id
ORDER BY s.id, l.owner_id
LIMIT 100000;

-- AnalyticsLostReasons counts the leads lost in the period by reason, the
-- most common first.
-- name: AnalyticsLostReasons :many
SELECT l.lost_reason, count(*)::integer AS leads, coalesce(sum(l.value), 0)::numeric AS value
FROM leads l
JOIN stages s ON s.name = l.status
WHERE s.kind = 'lost' AND l.closed_at >= @from_at::timestamptz AND l.closed_at < @to_at::timestamptz
  AND (sqlc.narg('owner_id')::uuid IS NULL OR l.owner_id = sqlc.narg('owner_id')::uuid)
GROUP BY l.lost_reason
ORDER BY count(*) DESC, l.lost_reason
LIMIT @row_limit::integer;

-- AnalyticsWonByMonth counts and sums the leads won in the period by calendar
-- month (UTC) of closed_at.
-- name: AnalyticsWonByMonth :many
SELECT date_trunc('month', l.closed_at, 'UTC')::timestamptz AS month,
       count(*)::integer AS leads, coalesce(sum(l.value), 0)::numeric AS value
FROM leads l
JOIN stages s ON s.name = l.status
WHERE s.kind = 'won' AND l.closed_at >= @from_at::timestamptz AND l.closed_at < @to_at::timestamptz
  AND (sqlc.narg('owner_id')::uuid IS NULL OR l.owner_id = sqlc.narg('owner_id')::uuid)
GROUP BY 1
ORDER BY 1
LIMIT 1000;

-- AnalyticsFunnel counts, for each step of the funnel (the open stages in
-- board order, then the won stages), the leads whose furthest step entered in
-- the period is that step or a later one.
-- name: AnalyticsFunnel :many
WITH steps AS (
    SELECT s.id, row_number() OVER (ORDER BY s.kind = 'won', s.position) AS step
    FROM stages s
    WHERE s.kind <> 'lost'
), reached AS (
    SELECT max(st.step) AS top
    FROM lead_stage_changes c
    JOIN steps st ON st.id = c.to_stage
    WHERE c.at >= @from_at::timestamptz AND c.at < @to_at::timestamptz
      AND NOT EXISTS (SELECT 1 FROM trashed_leads t WHERE t.id = c.lead_id)
      AND (sqlc.narg('owner_id')::uuid IS NULL
           OR EXISTS (SELECT 1 FROM leads l WHERE l.id = c.lead_id AND l.owner_id = sqlc.narg('owner_id')::uuid))
    GROUP BY c.lead_id
)
SELECT st.id::smallint AS stage_id, count(r.top)::integer AS leads
FROM steps st
LEFT JOIN reached r ON r.top >= st.step
GROUP BY st.id, st.step
ORDER BY st.step
LIMIT 1000;

-- AnalyticsStageDays averages, for each stage, the time leads spent in it
-- before leaving it in the period (entering may be before the period).
-- name: AnalyticsStageDays :many
SELECT c.from_stage::smallint AS stage_id, count(*)::integer AS intervals,
       avg(extract(epoch FROM c.at - c.from_entered_at))::float8 AS avg_seconds
FROM lead_stage_changes c
WHERE c.at >= @from_at::timestamptz AND c.at < @to_at::timestamptz
  AND c.from_stage IS NOT NULL AND c.from_entered_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM trashed_leads t WHERE t.id = c.lead_id)
  AND (sqlc.narg('owner_id')::uuid IS NULL
       OR EXISTS (SELECT 1 FROM leads l WHERE l.id = c.lead_id AND l.owner_id = sqlc.narg('owner_id')::uuid))
GROUP BY c.from_stage
ORDER BY c.from_stage
LIMIT 1000;
