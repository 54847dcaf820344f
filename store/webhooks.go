package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Outgoing webhooks: subscriptions, and the outbox they are delivered from.
//
// The outbox is the event stream (events.go): every committed change has its
// event, and a rolled-back one has none. QueueWebhookDeliveries turns the
// events after the fan-out cursor into one delivery per matching subscription,
// reading by seq, the post-commit stream position, never by id (see events.go
// for why an id cursor skips events). The dispatcher (handlers/webhooks_delivery.go)
// claims due deliveries (ClaimWebhookDeliveries), sends them and records each
// attempt (RecordWebhookAttempt).

// WebhookSecretPrefix starts every signing secret, as Standard Webhooks has it.
const WebhookSecretPrefix = "whsec_"

// Limits of a subscription.
const (
	MaxWebhookURLLen         = 2000
	MaxWebhookDescriptionLen = 500
	MaxWebhookEvents         = 50
	// WebhookAllEvents subscribes to every event type, present and future.
	WebhookAllEvents = "*"
)

// Webhook is a subscription, without its secret: that is shown once, when
// the subscription is made.
type Webhook struct {
	ID          uuid.UUID `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	// DisabledReason says why the dispatcher turned it off, when it did.
	DisabledReason      string     `json:"disabled_reason,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	FailingSince        *time.Time `json:"failing_since"`
	LastSuccessAt       *time.Time `json:"last_success_at"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

func webhookFromRow(r queries.Webhook) Webhook {
	return Webhook{ID: r.ID, URL: r.Url, Events: r.Events, Description: r.Description, Enabled: r.Enabled,
		DisabledReason: r.DisabledReason, ConsecutiveFailures: int(r.ConsecutiveFailures),
		FailingSince: optTime(r.FailingSince), LastSuccessAt: optTime(r.LastSuccessAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func optTime(t pgtype.Timestamptz) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// WebhookEventTypes lists the event types a subscription can name, sorted.
func WebhookEventTypes() []string {
	return slices.Sorted(maps.Values(eventTypes))
}

// WebhookInput is a subscription as an admin gives it.
type WebhookInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

// Validate returns the field errors of in, or nil. It checks the form of the
// URL; whether its host may be called (SSRF) is the dispatcher's to say
// (handlers.CheckWebhookURL), since it depends on the network.
func (in *WebhookInput) Validate() *ValidationError {
	errs := map[string]string{}
	in.URL = strings.TrimSpace(in.URL)
	in.Description = strings.TrimSpace(in.Description)
	if msg := checkWebhookURL(in.URL); msg != "" {
		errs["url"] = msg
	}
	if msg := checkWebhookEvents(in.Events); msg != "" {
		errs["events"] = msg
	}
	if !utf8.ValidString(in.Description) || utf8.RuneCountInString(in.Description) > MaxWebhookDescriptionLen {
		errs["description"] = fmt.Sprintf("must be text of at most %d characters", MaxWebhookDescriptionLen)
	}
	if len(errs) > 0 {
		return &ValidationError{Fields: errs}
	}
	return nil
}

func checkWebhookURL(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > MaxWebhookURLLen {
		return fmt.Sprintf("must be at most %d characters", MaxWebhookURLLen)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || !u.IsAbs():
		return "must be an absolute http:// or https:// URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://, got " + u.Scheme + "://"
	case u.Hostname() == "":
		return "must name a host"
	case u.User != nil:
		return "must not carry a user name or password (they would show in logs); authenticate with the signature"
	case u.Fragment != "":
		return "must not have a #fragment"
	}
	return ""
}

func checkWebhookEvents(events []string) string {
	if len(events) == 0 {
		return `must list at least one event type, or ["*"] for all`
	}
	if len(events) > MaxWebhookEvents {
		return fmt.Sprintf("must list at most %d event types", MaxWebhookEvents)
	}
	known := WebhookEventTypes()
	var unknown []string
	for _, e := range events {
		if e != WebhookAllEvents && !slices.Contains(known, e) {
			unknown = append(unknown, fmt.Sprintf("%q", e))
		}
	}
	if len(unknown) > 0 {
		return "unknown event types " + strings.Join(unknown, ", ") + "; known: " + strings.Join(known, ", ") + `, or "*"`
	}
	if slices.Contains(events, WebhookAllEvents) && len(events) > 1 {
		return `"*" already means every event type; give it alone`
	}
	return ""
}

// normalizedEvents returns events sorted without duplicates.
func normalizedEvents(events []string) []string {
	out := slices.Clone(events)
	slices.Sort(out)
	return slices.Compact(out)
}

// newWebhookSecret returns a fresh signing secret: the prefix and 24 random
// bytes in base64.
func newWebhookSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make webhook secret: %w", err)
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// CreateWebhook adds a subscription and returns it with its signing secret,
// which is never shown again. in must have passed Validate.
func (s *Store) CreateWebhook(ctx context.Context, in WebhookInput) (Webhook, string, error) {
	secret, err := newWebhookSecret()
	if err != nil {
		return Webhook{}, "", err
	}
	var r queries.Webhook
	err = s.retry(ctx, func() error {
		var err error
		r, err = s.q.InsertWebhook(ctx, queries.InsertWebhookParams{Url: in.URL, Events: normalizedEvents(in.Events),
			Description: in.Description, Secret: secret})
		return err
	})
	if err != nil {
		return Webhook{}, "", fmt.Errorf("create webhook: %w", err)
	}
	return webhookFromRow(r), secret, nil
}

// GetWebhook returns a subscription; ErrNotFound when there is none.
func (s *Store) GetWebhook(ctx context.Context, id uuid.UUID) (Webhook, error) {
	r, err := s.q.GetWebhook(ctx, id)
	if err != nil {
		return Webhook{}, translate(err)
	}
	return webhookFromRow(r), nil
}

// ListWebhooks returns every subscription, oldest first.
func (s *Store) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := s.q.ListWebhooks(ctx)
	if err != nil {
		return nil, translate(fmt.Errorf("list webhooks: %w", err))
	}
	out := make([]Webhook, len(rows))
	for i, r := range rows {
		out[i] = webhookFromRow(r)
	}
	return out, nil
}

// WebhookPatch is a change to a subscription; nil fields stay as they are.
type WebhookPatch struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	// Enabled turns the subscription off, or back on: then its failure streak
	// is forgotten and its pending deliveries are tried again at once.
	Enabled *bool `json:"enabled"`
}

// Apply returns w's input with the patch applied.
func (p WebhookPatch) Apply(w Webhook) WebhookInput {
	in := WebhookInput{URL: w.URL, Events: w.Events, Description: w.Description}
	if p.URL != nil {
		in.URL = *p.URL
	}
	if p.Events != nil {
		in.Events = *p.Events
	}
	if p.Description != nil {
		in.Description = *p.Description
	}
	return in
}

// UpdateWebhook writes a subscription's url, events and description (in must
// have passed Validate) and, when enabled is set, turns it on or off; one
// transaction. ErrNotFound when it does not exist.
func (s *Store) UpdateWebhook(ctx context.Context, id uuid.UUID, in WebhookInput, enabled *bool) (Webhook, error) {
	var r queries.Webhook
	err := s.inTx(ctx, func(q *queries.Queries) error {
		if enabled != nil {
			if err := setWebhookEnabled(ctx, q, id, *enabled); err != nil {
				return err
			}
		}
		var err error
		r, err = q.UpdateWebhook(ctx, queries.UpdateWebhookParams{ID: id, Url: in.URL,
			Events: normalizedEvents(in.Events), Description: in.Description})
		return err
	})
	if err != nil {
		return Webhook{}, translate(err)
	}
	return webhookFromRow(r), nil
}

// SetWebhookEnabled turns a subscription on or off (see WebhookPatch.Enabled).
func (s *Store) SetWebhookEnabled(ctx context.Context, id uuid.UUID, enabled bool) error {
	return s.inTx(ctx, func(q *queries.Queries) error { return setWebhookEnabled(ctx, q, id, enabled) })
}

func setWebhookEnabled(ctx context.Context, q *queries.Queries, id uuid.UUID, enabled bool) error {
	if !enabled {
		n, err := q.DisableWebhook(ctx, queries.DisableWebhookParams{ID: id, Reason: ""})
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	}
	n, err := q.EnableWebhook(ctx, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return q.RestartWebhookDeliveries(ctx, id)
}

// DeleteWebhook removes a subscription with its deliveries and their log.
func (s *Store) DeleteWebhook(ctx context.Context, id uuid.UUID) error {
	var n int64
	err := s.retry(ctx, func() error {
		var err error
		n, err = s.q.DeleteWebhook(ctx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// QueueWebhookDeliveries fans the events after the cursor out into
// deliveries, up to limit events, and returns how many events it handled.
// The cursor row's lock (LockWebhookCursor) makes fan-outs run one at a time
// across every server, and the cursor moves in the transaction that writes
// the deliveries, so each event is fanned out exactly once. Only enabled
// subscriptions get deliveries: one that is off misses the events of that
// time.
func (s *Store) QueueWebhookDeliveries(ctx context.Context, limit int) (int, error) {
	handled := 0
	err := s.inTx(ctx, func(q *queries.Queries) error {
		handled = 0
		last, err := q.LockWebhookCursor(ctx)
		if err != nil {
			return err
		}
		// The newest position is read before the subscriptions, so one
		// enabled in between misses no event after it.
		newest, err := q.LastLeadEventSeq(ctx)
		if err != nil {
			return err
		}
		hooks, err := q.ListEnabledWebhooks(ctx)
		if err != nil {
			return err
		}
		if len(hooks) == 0 {
			// Nobody to deliver to: every event so far is handled, without
			// reading them (an import of 100,000 rows is 100,000 events).
			if newest <= last {
				return nil
			}
			handled = int(min(newest-last, int64(limit)))
			return q.SetWebhookCursor(ctx, newest)
		}
		events, err := eventsAfter(ctx, q, last, limit)
		if err != nil || len(events) == 0 {
			return err
		}
		for _, ev := range events {
			var payload []byte
			for _, h := range hooks {
				if !slices.Contains(h.Events, WebhookAllEvents) && !slices.Contains(h.Events, ev.Type) {
					continue
				}
				if payload == nil {
					if payload, err = json.Marshal(ev); err != nil {
						return fmt.Errorf("encode event %d: %w", ev.ID, err)
					}
				}
				if err := q.InsertWebhookDelivery(ctx, queries.InsertWebhookDeliveryParams{WebhookID: h.ID,
					EventSeq: ev.ID, EventType: ev.Type, OrderKey: webhookOrderKey(ev), Payload: string(payload)}); err != nil {
					return fmt.Errorf("queue event %d for webhook %s: %w", ev.ID, h.ID, err)
				}
			}
		}
		handled = len(events)
		return q.SetWebhookCursor(ctx, events[len(events)-1].ID)
	})
	if err != nil {
		return 0, fmt.Errorf("queue webhook deliveries: %w", err)
	}
	return handled, nil
}

// webhookOrderKey is what a subscription's deliveries are ordered by: the
// lead. Events without a lead (of stages: their lead id is the nil uuid) all
// share one key, so they go out in stream order, one after another.
func webhookOrderKey(ev Event) string { return ev.Lead.ID.String() }

// WebhookSend is a delivery leased to a dispatcher for one attempt.
type WebhookSend struct {
	DeliveryID int64
	WebhookID  uuid.UUID
	// MessageID is the webhook-id header: the same for every attempt and resend.
	MessageID string
	URL       string
	Secret    string
	Payload   []byte
	// Attempts is how many attempts were made before this one.
	Attempts int
	// FirstAttemptAt starts the retry window.
	FirstAttemptAt time.Time
}

// WebhookMessageID is the webhook-id of a delivery.
func WebhookMessageID(deliveryID int64) string { return fmt.Sprintf("msg_%d", deliveryID) }

// ClaimWebhookDeliveries leases up to limit due deliveries for lease (see the
// query for how two dispatchers never take the same one, and how a lead's
// deliveries stay in order).
func (s *Store) ClaimWebhookDeliveries(ctx context.Context, limit int, lease time.Duration) ([]WebhookSend, error) {
	var rows []queries.ClaimWebhookDeliveriesRow
	err := s.retry(ctx, func() error {
		var err error
		rows, err = s.q.ClaimWebhookDeliveries(ctx, queries.ClaimWebhookDeliveriesParams{
			RowLimit: clampInt32(limit), LeaseSeconds: lease.Seconds()})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	out := make([]WebhookSend, len(rows))
	for i, r := range rows {
		out[i] = WebhookSend{DeliveryID: r.ID, WebhookID: r.WebhookID, MessageID: WebhookMessageID(r.ID), URL: r.Url,
			Secret: r.Secret, Payload: []byte(r.Payload), Attempts: int(r.Attempts), FirstAttemptAt: r.FirstAttemptAt.UTC()}
	}
	return out, nil
}

// WebhookAttempt is one try at a delivery, as the log shows it.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	DurationMS int       `json:"duration_ms"`
	// StatusCode is the receiver's HTTP status; nil when it did not answer.
	StatusCode *int   `json:"status_code"`
	Error      string `json:"error,omitempty"`
	// Response is the start of the receiver's answer.
	Response string `json:"response"`
}

// MaxWebhookResponseLog is how much of a receiver's answer the log keeps.
const MaxWebhookResponseLog = 500

// WebhookOutcome is what became of an attempt, for RecordWebhookAttempt.
type WebhookOutcome struct {
	Attempt   WebhookAttempt
	Delivered bool
	// GiveUp ends the delivery as failed; otherwise RetryIn schedules the next attempt.
	GiveUp  bool
	RetryIn time.Duration
	// DisableAfter and DisableAfterFailures: the subscription is turned off
	// when it has failed at least DisableAfterFailures times in a row over at
	// least DisableAfter.
	DisableAfter         time.Duration
	DisableAfterFailures int
}

// RecordWebhookAttempt logs an attempt and moves its delivery on (delivered,
// retried later, or given up) in one transaction; it returns whether the
// subscription was turned off. A delivery no longer pending (an admin's
// resend raced it, say) only gets the log line.
func (s *Store) RecordWebhookAttempt(ctx context.Context, send WebhookSend, o WebhookOutcome) (bool, error) {
	a := o.Attempt
	resp := a.Response
	if len(resp) > MaxWebhookResponseLog {
		resp = resp[:MaxWebhookResponseLog]
	}
	resp = strings.ToValidUTF8(strings.ReplaceAll(resp, "\x00", ""), "\uFFFD")
	var code *int32
	if a.StatusCode != nil {
		c := int32(*a.StatusCode)
		code = &c
	}
	disabled := false
	err := s.inTx(ctx, func(q *queries.Queries) error {
		disabled = false
		if err := q.InsertWebhookAttempt(ctx, queries.InsertWebhookAttemptParams{DeliveryID: send.DeliveryID,
			DurationMs: clampInt32(a.DurationMS), StatusCode: code, Error: truncateRunes(a.Error, 1000), Response: resp}); err != nil {
			return err
		}
		if o.Delivered {
			if _, err := q.MarkWebhookDelivered(ctx, send.DeliveryID); err != nil {
				return err
			}
			return q.WebhookSucceeded(ctx, send.WebhookID)
		}
		if _, err := q.MarkWebhookRetry(ctx, queries.MarkWebhookRetryParams{ID: send.DeliveryID, GiveUp: o.GiveUp,
			DelaySeconds: o.RetryIn.Seconds()}); err != nil {
			return err
		}
		r, err := q.WebhookFailed(ctx, queries.WebhookFailedParams{ID: send.WebhookID,
			MinFailures: clampInt32(o.DisableAfterFailures), DisableAfterSeconds: o.DisableAfter.Seconds(),
			Reason: fmt.Sprintf("turned off on %s: every attempt failed for %s (at least %d in a row)",
				time.Now().UTC().Format("2006-01-02 15:04 UTC"), o.DisableAfter.Round(time.Second), max(o.DisableAfterFailures, 1))})
		if err != nil {
			return err
		}
		disabled = r.Disabled != nil && *r.Disabled
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record attempt of webhook delivery %d: %w", send.DeliveryID, err)
	}
	return disabled, nil
}

func truncateRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// WebhookDelivery is one event for one subscription, with its attempts,
// newest first.
type WebhookDelivery struct {
	ID int64 `json:"id"`
	// MessageID is the webhook-id header it is sent with.
	MessageID     string           `json:"message_id"`
	EventID       int64            `json:"event_id"`
	EventType     string           `json:"event_type"`
	State         string           `json:"state"`
	Attempts      int              `json:"attempts"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"`
	CreatedAt     time.Time        `json:"created_at"`
	Log           []WebhookAttempt `json:"log"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// MaxWebhookDeliveries bounds ListWebhookDeliveries.
const MaxWebhookDeliveries = 200

// ListWebhookDeliveries returns the newest deliveries of a subscription with
// their attempts; ErrNotFound when it does not exist.
func (s *Store) ListWebhookDeliveries(ctx context.Context, webhookID uuid.UUID, limit int) ([]WebhookDelivery, error) {
	if _, err := s.GetWebhook(ctx, webhookID); err != nil {
		return nil, err
	}
	rows, err := s.q.ListWebhookDeliveries(ctx, queries.ListWebhookDeliveriesParams{WebhookID: webhookID,
		RowLimit: clampInt32(min(limit, MaxWebhookDeliveries))})
	if err != nil {
		return nil, translate(fmt.Errorf("list webhook deliveries: %w", err))
	}
	out := make([]WebhookDelivery, len(rows))
	ids := make([]int64, len(rows))
	byID := make(map[int64]*WebhookDelivery, len(rows))
	for i, r := range rows {
		d := WebhookDelivery{ID: r.ID, MessageID: WebhookMessageID(r.ID), EventID: r.EventSeq, EventType: r.EventType,
			State: r.State, Attempts: int(r.Attempts), CreatedAt: r.CreatedAt.UTC(), Log: []WebhookAttempt{}}
		if r.State == DeliveryPending {
			at := r.NextAttemptAt.UTC()
			d.NextAttemptAt = &at
		}
		out[i], ids[i] = d, r.ID
		byID[r.ID] = &out[i]
	}
	attempts, err := s.q.ListWebhookAttempts(ctx, ids)
	if err != nil {
		return nil, translate(fmt.Errorf("list webhook attempts: %w", err))
	}
	for _, a := range attempts {
		wa := WebhookAttempt{At: a.At.UTC(), DurationMS: int(a.DurationMs), Error: a.Error, Response: a.Response}
		if a.StatusCode != nil {
			c := int(*a.StatusCode)
			wa.StatusCode = &c
		}
		d := byID[a.DeliveryID]
		d.Log = append(d.Log, wa)
	}
	return out, nil
}

// ResendWebhookDelivery sends a delivery of the subscription again, now and
// with the same webhook-id, whatever became of it. ErrNotFound when the
// subscription has no such delivery.
func (s *Store) ResendWebhookDelivery(ctx context.Context, webhookID uuid.UUID, deliveryID int64) error {
	var n int64
	err := s.retry(ctx, func() error {
		var err error
		n, err = s.q.ResendWebhookDelivery(ctx, queries.ResendWebhookDeliveryParams{ID: deliveryID, WebhookID: webhookID})
		return err
	})
	if err != nil {
		return fmt.Errorf("resend webhook delivery %d: %w", deliveryID, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// WebhookLogRetention is how long finished deliveries stay in the log.
const WebhookLogRetention = 30 * 24 * time.Hour

// PurgeWebhookDeliveries deletes the delivered and given-up deliveries, with
// their attempts, last touched before before; it returns how many. Pending
// ones stay, however old.
func (s *Store) PurgeWebhookDeliveries(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := s.retry(ctx, func() error {
			var err error
			n, err = s.q.DeleteOldWebhookDeliveries(ctx, before)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge webhook deliveries: %w", err)
		}
		total += n
		if n < 10000 {
			return total, nil
		}
	}
}
