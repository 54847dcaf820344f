package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// Webhook subscriptions, for admins only: the JSON API under /webhooks/ (a
// session or an admin's API token, so scripts can manage them; 403 JSON for
// members) and the settings page under /admin/webhooks (changes from a
// signed-in browser session, like the rest of the admin area). Delivery is
// webhooks_delivery.go's.

const (
	webhookNotFound  = "webhook not found"
	deliveryNotFound = "webhook or delivery not found"
)

// webhookRoutes registers the webhook routes.
func (s *Server) webhookRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(s.apiAuth, s.adminAPI)
		r.Get("/webhooks", s.api(webhookNotFound, s.handleWebhookList))
		r.Post("/webhooks", s.api(webhookNotFound, s.handleWebhookCreate))
		r.Get("/webhooks/{id}", s.api(webhookNotFound, s.handleWebhookGet))
		r.Patch("/webhooks/{id}", s.api(webhookNotFound, s.handleWebhookUpdate))
		r.Delete("/webhooks/{id}", s.api(webhookNotFound, s.handleWebhookDelete))
		r.Get("/webhooks/{id}/deliveries", s.api(webhookNotFound, s.handleWebhookDeliveries))
		r.Post("/webhooks/{id}/deliveries/{delivery}/resend", s.api(deliveryNotFound, s.handleWebhookResend))
	})
	r.Group(func(r chi.Router) {
		r.Use(s.pageAuth, s.adminOnly)
		r.Get(views.WebhooksPath, s.html(s.handleWebhooksPage))
		r.Get(views.WebhooksPath+"/{id}", s.html(s.handleWebhookLogPage))
		r.Group(func(r chi.Router) {
			r.Use(s.sessionOnly)
			r.Post(views.WebhooksPath, s.html(s.handleWebhookCreateForm))
			r.Post(views.WebhooksPath+"/{id}/{action}", s.html(s.handleWebhookActionForm))
			r.Post(views.WebhooksPath+"/{id}/deliveries/{delivery}/resend", s.html(s.handleWebhookResendForm))
		})
	})
}

// adminAPI refuses members on the JSON API with 403 JSON.
func (s *Server) adminAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := currentUser(r); ok && u.IsAdmin() {
			next.ServeHTTP(w, r)
			return
		}
		s.logRefusal(r, "admin only")
		writeJSON(w, http.StatusForbidden, errorBody{Error: "only an admin can manage webhooks"})
	})
}

// webhookID reads the {id} of the path; a malformed one is a webhook that
// does not exist.
func webhookID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return uuid.Nil, store.ErrNotFound
	}
	return id, nil
}

func deliveryID(r *http.Request) (uuid.UUID, int64, error) {
	id, err := webhookID(r)
	if err != nil {
		return uuid.Nil, 0, err
	}
	d, err := strconv.ParseInt(chi.URLParam(r, "delivery"), 10, 64)
	if err != nil || d <= 0 {
		return uuid.Nil, 0, store.ErrNotFound
	}
	return id, d, nil
}

// checkWebhook validates a subscription as given, the receiver's address
// included (SSRF).
func (s *Server) checkWebhook(r *http.Request, in *store.WebhookInput) error {
	if ve := in.Validate(); ve != nil {
		return ve
	}
	if msg := CheckWebhookURL(r.Context(), in.URL, s.WebhookAllowPrivate); msg != "" {
		return &store.ValidationError{Fields: map[string]string{"url": msg}}
	}
	return nil
}

// decodeWebhookPatch reads a JSON body of url, events, description and
// enabled (the last on PATCH only), each checked for its type.
func decodeWebhookPatch(w http.ResponseWriter, r *http.Request, allowed ...string) (store.WebhookPatch, error) {
	var p store.WebhookPatch
	m, err := decodeObject(w, r)
	if err != nil {
		return p, err
	}
	if err := rejectUnknown(m, allowed...); err != nil {
		return p, err
	}
	fields := map[string]string{}
	field := func(name string, dst any, want string) {
		if raw, ok := m[name]; ok {
			if isNull(raw) || json.Unmarshal(raw, dst) != nil {
				fields[name] = "must be " + want
			}
		}
	}
	var url, desc string
	var events []string
	var enabled bool
	field("url", &url, "a string")
	field("events", &events, `a list of event type strings, or ["*"]`)
	field("description", &desc, "a string")
	field("enabled", &enabled, "true or false")
	if len(fields) > 0 {
		return p, &store.ValidationError{Fields: fields}
	}
	if _, ok := m["url"]; ok {
		p.URL = &url
	}
	if _, ok := m["events"]; ok {
		p.Events = &events
	}
	if _, ok := m["description"]; ok {
		p.Description = &desc
	}
	if _, ok := m["enabled"]; ok {
		p.Enabled = &enabled
	}
	return p, nil
}

// webhookCreated is the answer to POST /webhooks/: the subscription and its
// signing secret, which is never shown again.
type webhookCreated struct {
	store.Webhook
	Secret string `json:"secret"`
}

// handleWebhookCreate answers POST /webhooks/.
func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := decodeWebhookPatch(w, r, "url", "events", "description")
	if err != nil {
		return err
	}
	in := p.Apply(store.Webhook{})
	if err := s.checkWebhook(r, &in); err != nil {
		return err
	}
	h, secret, err := s.Store.CreateWebhook(r.Context(), in)
	if err != nil {
		return err
	}
	s.logWebhookChange(r, "webhook added", h.ID)
	w.Header().Set("Location", "/webhooks/"+h.ID.String()+"/")
	writeJSON(w, http.StatusCreated, webhookCreated{Webhook: h, Secret: secret})
	return nil
}

// handleWebhookList answers GET /webhooks/.
func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request) error {
	hooks, err := s.Store.ListWebhooks(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": hooks, "event_types": store.WebhookEventTypes()})
	return nil
}

// handleWebhookGet answers GET /webhooks/{id}/.
func (s *Server) handleWebhookGet(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	h, err := s.Store.GetWebhook(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}

// handleWebhookUpdate answers PATCH /webhooks/{id}/.
func (s *Server) handleWebhookUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	cur, err := s.Store.GetWebhook(r.Context(), id)
	if err != nil {
		return err
	}
	p, err := decodeWebhookPatch(w, r, "url", "events", "description", "enabled")
	if err != nil {
		return err
	}
	in := p.Apply(cur)
	// The receiver's address is checked again only when the URL changes: a
	// subscription whose host no longer resolves can still be turned off.
	if p.URL != nil {
		err = s.checkWebhook(r, &in)
	} else if ve := in.Validate(); ve != nil {
		err = ve
	}
	if err != nil {
		return err
	}
	h, err := s.Store.UpdateWebhook(r.Context(), id, in, p.Enabled)
	if err != nil {
		return err
	}
	s.logWebhookChange(r, "webhook changed", id)
	writeJSON(w, http.StatusOK, h)
	return nil
}

// handleWebhookDelete answers DELETE /webhooks/{id}/.
func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteWebhook(r.Context(), id); err != nil {
		return err
	}
	s.logWebhookChange(r, "webhook deleted", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleWebhookDeliveries answers GET /webhooks/{id}/deliveries/: the newest
// deliveries with their attempts.
func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	limit := store.MaxWebhookDeliveries
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxWebhookDeliveries {
			return badRequest(fmt.Sprintf("limit must be a number from 1 to %d", store.MaxWebhookDeliveries))
		}
		limit = n
	}
	ds, err := s.Store.ListWebhookDeliveries(r.Context(), id, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
	return nil
}

// handleWebhookResend answers POST /webhooks/{id}/deliveries/{delivery}/resend/.
func (s *Server) handleWebhookResend(w http.ResponseWriter, r *http.Request) error {
	id, d, err := deliveryID(r)
	if err != nil {
		return err
	}
	if err := s.Store.ResendWebhookDelivery(r.Context(), id, d); err != nil {
		return err
	}
	s.logWebhookChange(r, "webhook delivery resent", id)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": d, "state": store.DeliveryPending})
	return nil
}

func (s *Server) logWebhookChange(r *http.Request, what string, id uuid.UUID) {
	me, _ := currentUser(r)
	s.Log.InfoContext(r.Context(), what, "webhook_id", id, "by", me.ID, "request_id", RequestID(r.Context()))
}

var webhookNotices = map[string]string{
	"enabled":  "The webhook is on again; its waiting deliveries are being sent.",
	"disabled": "The webhook is off: nothing is sent to it until it is turned on again.",
	"deleted":  "The webhook is deleted.",
	"resent":   "The delivery is being sent again.",
}

func (s *Server) webhooksData(r *http.Request) (views.WebhooksData, error) {
	hooks, err := s.Store.ListWebhooks(r.Context())
	if err != nil {
		return views.WebhooksData{}, err
	}
	return views.WebhooksData{Hooks: hooks, EventTypes: store.WebhookEventTypes(), Now: time.Now(),
		Notice: webhookNotices[r.URL.Query().Get("done")]}, nil
}

// handleWebhooksPage answers GET /admin/webhooks.
func (s *Server) handleWebhooksPage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.webhooksData(r)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.WebhooksPage(d))
}

// handleWebhookCreateForm answers POST /admin/webhooks: the page again, with
// the new subscription's secret (shown this once) or the form's messages.
func (s *Server) handleWebhookCreateForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := store.WebhookInput{URL: r.PostFormValue("url"), Events: r.PostForm["events"], Description: r.PostFormValue("description")}
	if len(in.Events) > 1 && in.Events[0] == store.WebhookAllEvents {
		in.Events = in.Events[:1] // "every event" ticked with others: every event
	}
	err := s.checkWebhook(r, &in)
	var h store.Webhook
	var secret string
	if err == nil {
		h, secret, err = s.Store.CreateWebhook(r.Context(), in)
	}
	var ve *store.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	d, derr := s.webhooksData(r)
	if derr != nil {
		return derr
	}
	if ve != nil {
		d.Form, d.Errors = in, formMessages(ve.Fields)
		return s.render(w, r, http.StatusUnprocessableEntity, views.WebhooksPage(d))
	}
	s.logWebhookChange(r, "webhook added", h.ID)
	d.Created, d.Secret = &h, secret
	return s.render(w, r, http.StatusOK, views.WebhooksPage(d))
}

// handleWebhookActionForm answers POST /admin/webhooks/{id}/{action}: enable,
// disable or delete.
func (s *Server) handleWebhookActionForm(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	action := chi.URLParam(r, "action")
	switch action {
	case "enable", "disable":
		err = s.Store.SetWebhookEnabled(r.Context(), id, action == "enable")
	case "delete":
		err = s.Store.DeleteWebhook(r.Context(), id)
	default:
		return errStatus(http.StatusNotFound, "There is no such webhook action.")
	}
	if err != nil {
		return err
	}
	s.logWebhookChange(r, "webhook "+action+"d", id)
	seeOther(w, r, views.WebhooksPath+"?done="+action+"d")
	return nil
}

// handleWebhookLogPage answers GET /admin/webhooks/{id}.
func (s *Server) handleWebhookLogPage(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookID(r)
	if err != nil {
		return err
	}
	h, err := s.Store.GetWebhook(r.Context(), id)
	if err != nil {
		return err
	}
	ds, err := s.Store.ListWebhookDeliveries(r.Context(), id, store.MaxWebhookDeliveries)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.WebhookLogPage(views.WebhookLogData{Hook: h, Deliveries: ds, Now: time.Now(),
		Notice: webhookNotices[r.URL.Query().Get("done")]}))
}

// handleWebhookResendForm answers POST /admin/webhooks/{id}/deliveries/{delivery}/resend.
func (s *Server) handleWebhookResendForm(w http.ResponseWriter, r *http.Request) error {
	id, d, err := deliveryID(r)
	if err != nil {
		return err
	}
	if err := s.Store.ResendWebhookDelivery(r.Context(), id, d); err != nil {
		return err
	}
	s.logWebhookChange(r, "webhook delivery resent", id)
	seeOther(w, r, views.WebhookPath(id)+"?done=resent")
	return nil
}
