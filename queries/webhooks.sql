-- name: InsertWebhook :one
INSERT INTO webhooks (url, events, description, secret)
VALUES (@url, @events, @description, @secret)
RETURNING *;

-- name: GetWebhook :one
SELECT *
FROM webhooks
WHERE id = @id;

-- name: ListWebhooks :many
SELECT *
FROM webhooks
ORDER BY created_at, id
LIMIT 500;

-- name: UpdateWebhook :one
UPDATE webhooks
SET url = @url, events = @events, description = @description, updated_at = now()
WHERE id = @id
RETURNING *;

-- EnableWebhook turns a subscription back on with a clean slate: its failure
-- streak forgotten, and its pending deliveries due now with a fresh retry
-- window (first_attempt_at is where the window starts).
-- name: EnableWebhook :execrows
UPDATE webhooks
SET enabled = true, disabled_reason = '', consecutive_failures = 0, failing_since = NULL, updated_at = now()
WHERE id = @id;

-- name: RestartWebhookDeliveries :exec
UPDATE webhook_deliveries
SET next_attempt_at = now(), first_attempt_at = NULL, updated_at = now()
WHERE webhook_id = @webhook_id AND state = 'pending';

-- name: DisableWebhook :execrows
UPDATE webhooks
SET enabled = false, disabled_reason = @reason, updated_at = now()
WHERE id = @id;

-- name: DeleteWebhook :execrows
DELETE FROM webhooks
WHERE id = @id;

-- name: ListEnabledWebhooks :many
SELECT id, events
FROM webhooks
WHERE enabled
ORDER BY id
LIMIT 500;

-- LockWebhookCursor takes the fan-out's lock (migration 00014) and returns
-- the last seq fanned out.
-- name: LockWebhookCursor :one
SELECT last_seq
FROM webhook_cursor
FOR UPDATE;

-- name: SetWebhookCursor :exec
UPDATE webhook_cursor
SET last_seq = @last_seq;

-- name: InsertWebhookDelivery :exec
INSERT INTO webhook_deliveries (webhook_id, event_seq, event_type, order_key, payload)
VALUES (@webhook_id, @event_seq, @event_type, @order_key, @payload)
ON CONFLICT (webhook_id, event_seq) DO NOTHING;

-- ClaimWebhookDeliveries leases up to row_limit due deliveries of enabled
-- subscriptions to one dispatcher. Only the head of each order key is taken:
-- a delivery waits while an earlier one of its lead (to the same
-- subscription) is pending, leased or not, so a lead's events arrive in
-- order. FOR UPDATE SKIP LOCKED keeps two dispatchers from taking the same
-- row at once, and the lease (locked_until) from taking it while the first
-- is still sending; a lease that ran out means its dispatcher is gone.
-- name: ClaimWebhookDeliveries :many
WITH due AS (
    SELECT d.id
    FROM webhook_deliveries d
    JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND w.enabled
      AND (d.locked_until IS NULL OR d.locked_until <= now())
      AND NOT EXISTS (
          SELECT 1
          FROM webhook_deliveries p
          WHERE p.webhook_id = d.webhook_id AND p.order_key = d.order_key
            AND p.state = 'pending' AND p.event_seq < d.event_seq)
    ORDER BY d.next_attempt_at, d.id
    LIMIT @row_limit::integer
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
SET locked_until = now() + make_interval(secs => @lease_seconds::double precision),
    first_attempt_at = coalesce(d.first_attempt_at, now()), updated_at = now()
FROM due, webhooks w
WHERE d.id = due.id AND w.id = d.webhook_id
RETURNING d.id, d.webhook_id, d.event_seq, d.payload, d.attempts, d.first_attempt_at::timestamptz AS first_attempt_at,
          w.url, w.secret;

-- name: InsertWebhookAttempt :exec
INSERT INTO webhook_attempts (delivery_id, duration_ms, status_code, error, response)
VALUES (@delivery_id, @duration_ms, @status_code, @error, @response);

-- name: MarkWebhookDelivered :execrows
UPDATE webhook_deliveries
SET state = 'delivered', attempts = attempts + 1, locked_until = NULL, updated_at = now()
WHERE id = @id AND state = 'pending';

-- MarkWebhookRetry schedules the next attempt, or gives up (state failed).
-- name: MarkWebhookRetry :execrows
UPDATE webhook_deliveries
SET state = CASE WHEN @give_up::boolean THEN 'failed' ELSE 'pending' END,
    attempts = attempts + 1, locked_until = NULL,
    next_attempt_at = now() + make_interval(secs => @delay_seconds::double precision), updated_at = now()
WHERE id = @id AND state = 'pending';

-- name: WebhookSucceeded :exec
UPDATE webhooks
SET consecutive_failures = 0, failing_since = NULL, last_success_at = now()
WHERE id = @id;

-- WebhookFailed counts a failed attempt and turns the subscription off when
-- it has failed at least min_failures times in a row for at least
-- disable_after_seconds; it returns whether it did.
-- name: WebhookFailed :one
UPDATE webhooks
SET consecutive_failures = consecutive_failures + 1,
    failing_since = coalesce(failing_since, now()),
    enabled = enabled AND NOT (consecutive_failures + 1 >= @min_failures::integer
        AND coalesce(failing_since, now()) <= now() - make_interval(secs => @disable_after_seconds::double precision)),
    disabled_reason = CASE
        WHEN enabled AND consecutive_failures + 1 >= @min_failures::integer
             AND coalesce(failing_since, now()) <= now() - make_interval(secs => @disable_after_seconds::double precision)
        THEN @reason::text ELSE disabled_reason END
WHERE id = @id
RETURNING NOT enabled AS disabled, disabled_reason;

-- name: ListWebhookDeliveries :many
SELECT id, webhook_id, event_seq, event_type, state, attempts, next_attempt_at, created_at, updated_at
FROM webhook_deliveries
WHERE webhook_id = @webhook_id
ORDER BY id DESC
LIMIT @row_limit::integer;

-- name: ListWebhookAttempts :many
SELECT *
FROM webhook_attempts
WHERE delivery_id = ANY(@delivery_ids::bigint[])
ORDER BY delivery_id, id DESC
LIMIT 5000;

-- ResendWebhookDelivery sends a delivery again, now, with the same
-- webhook-id: a delivered or given-up one becomes pending again.
-- name: ResendWebhookDelivery :execrows
UPDATE webhook_deliveries
SET state = 'pending', next_attempt_at = now(), first_attempt_at = NULL, updated_at = now()
WHERE id = @id AND webhook_id = @webhook_id;

-- DeleteOldWebhookDeliveries forgets finished deliveries (and their log)
-- last touched before @before, a batch at a time.
-- name: DeleteOldWebhookDeliveries :execrows
DELETE FROM webhook_deliveries d
WHERE d.id IN (
    SELECT o.id
    FROM webhook_deliveries o
    WHERE o.state <> 'pending' AND o.updated_at < @before::timestamptz
    ORDER BY o.id
    LIMIT 10000);
