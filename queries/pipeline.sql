-- Reads for the assistant's questions about the whole pipeline.

-- TopLeads lists the most valuable leads.
-- name: TopLeads :many
SELECT *
FROM leads
ORDER BY value DESC, name, id
LIMIT @row_limit::integer;

-- LeadsBySource counts and sums the leads of each source.
-- name: LeadsBySource :many
SELECT source, count(*)::integer AS leads, coalesce(sum(value), 0)::numeric AS total
FROM leads
GROUP BY source
ORDER BY count(*) DESC, source
LIMIT @row_limit::integer;

-- RecentLeadEvents reads the newest events of the audit trail, with the name of
-- their lead (on the board or in the trash; '' once purged).
-- name: RecentLeadEvents :many
SELECT e.id, e.lead_id, e.at, e.action, e.changes, e.actor_name,
       coalesce(l.name, t.name, '')::text AS lead_name
FROM lead_events e
LEFT JOIN leads l ON l.id = e.lead_id
LEFT JOIN trashed_leads t ON t.id = e.lead_id
WHERE e.action NOT LIKE 'stage\_%' -- stage events (migration 00016) name no lead
ORDER BY e.id DESC
LIMIT @row_limit::integer;
