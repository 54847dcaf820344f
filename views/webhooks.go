package views

import (
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// WebhooksPath is the admins' webhook settings page.
const WebhooksPath = "/admin/webhooks"

// WebhookPath is one subscription's page: its delivery log.
func WebhookPath(id uuid.UUID) string { return WebhooksPath + "/" + id.String() }

// WebhookActionPath is where a subscription's action (enable, disable, delete) posts.
func WebhookActionPath(id uuid.UUID, action string) string { return WebhookPath(id) + "/" + action }

// WebhookResendPath is where a delivery's resend posts.
func WebhookResendPath(id uuid.UUID, delivery int64) string {
	return WebhookPath(id) + "/deliveries/" + strconv.FormatInt(delivery, 10) + "/resend"
}

// WebhooksData is the webhook settings page.
type WebhooksData struct {
	Hooks      []store.Webhook
	EventTypes []string
	Notice     string
	// Created and Secret: the subscription just made and its signing secret,
	// shown this once.
	Created *store.Webhook
	Secret  string
	// Form and Errors: the add form as sent, with its messages.
	Form   store.WebhookInput
	Errors map[string]string
	Now    time.Time
}

// WebhookLogData is one subscription's page.
type WebhookLogData struct {
	Hook       store.Webhook
	Deliveries []store.WebhookDelivery
	Notice     string
	Now        time.Time
}

func webhookEventsText(events []string) string {
	if len(events) == 1 && events[0] == store.WebhookAllEvents {
		return "every event"
	}
	out := ""
	for i, e := range events {
		if i > 0 {
			out += ", "
		}
		out += e
	}
	return out
}

func attemptOutcome(a store.WebhookAttempt) string {
	out := ""
	if a.StatusCode != nil {
		out = "HTTP " + strconv.Itoa(*a.StatusCode)
	}
	if a.Error != "" {
		if out != "" {
			out += ": "
		}
		out += a.Error
	}
	return out
}
