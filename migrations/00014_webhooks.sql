-- +goose Up
-- Outgoing webhooks (issue 14; store/webhooks.go, handlers/webhooks_delivery.go).
--
-- The outbox is the event stream itself: an event is written in the
-- transaction of its change (migration 00008), so a change that rolled back has
-- none and a committed one always has one. The dispatcher turns events into
-- deliveries in stream order, after webhook_cursor.last_seq. The cursor is the
-- post-commit seq, never the identity id: ids commit out of order, so "id > the
-- last one handled" would skip an event whose transaction committed late; seq
-- is assigned after commit in visibility order, so nothing below a seq already
-- seen can appear later.

-- webhooks are the subscriptions.
CREATE TABLE webhooks (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    -- events lists the event types sent, or ["*"] for every type.
    events      text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- secret is the signing key, "whsec_" and base64; shown once at creation.
    secret      text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    -- disabled_reason says why the dispatcher turned it off (empty: an admin
    -- did, or it is enabled).
    disabled_reason      text NOT NULL DEFAULT '',
    -- consecutive_failures counts failed attempts since the last success;
    -- failing_since is the first of them.
    consecutive_failures integer NOT NULL DEFAULT 0,
    failing_since        timestamptz,
    last_success_at      timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- webhook_cursor's one row is the last seq turned into deliveries. It is the
-- fan-out's lock: QueueWebhookDeliveries locks it for update, so one
-- dispatcher at a time (across every server) fans out, and each event is
-- fanned out once.
CREATE TABLE webhook_cursor (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq bigint NOT NULL
);
-- Webhooks start with the events after this migration.
INSERT INTO webhook_cursor (last_seq) SELECT last_seq FROM lead_event_sequencer;

-- webhook_deliveries is one event for one subscription: the unit sent,
-- retried and resent. Its id is the webhook-id header ("msg_<id>"), the same
-- for every attempt.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq       bigint NOT NULL,
    event_type      text NOT NULL,
    -- order_key groups the deliveries that go out one after another: the
    -- lead's id (the nil uuid for stage events, which so go out in one global
    -- order per subscription).
    order_key       text NOT NULL,
    -- payload is the body, the event as the live stream sends it, kept so
    -- that retries and resends send the same bytes even after the lead and
    -- its history are purged from the trash.
    payload         text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- locked_until is the lease of the dispatcher sending it now; a
    -- dispatcher that died mid-delivery is replaced when it runs out.
    locked_until    timestamptz,
    first_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, event_seq)
);
-- The dispatcher's claim: due pending deliveries, and for each the earlier
-- pending ones of its order key.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, order_key, event_seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (webhook_id, id DESC);

-- webhook_attempts is the delivery log: every attempt with its outcome.
CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL,
    -- status_code is the receiver's HTTP status, NULL when there was none
    -- (refused, timed out, connection failed: see error).
    status_code integer,
    error       text NOT NULL DEFAULT '',
    -- response is the start of the receiver's answer (up to 500 bytes).
    response    text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_cursor;
DROP TABLE webhooks;
