package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/crmteam/crm/store"
)

// httpError is an error with the status and message a client should see.
type httpError struct {
	status int
	msg    string
	fields map[string]string
}

func (e *httpError) Error() string { return e.msg }

func errStatus(status int, msg string) error { return &httpError{status: status, msg: msg} }

func badRequest(msg string) error { return errStatus(http.StatusBadRequest, msg) }

// errorBody is the JSON shape of every API error.
type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
	// Lead is the lead as it is now, when a conditional write was refused (412).
	Lead *store.Lead `json:"lead,omitempty"`
}

// classify maps an error to what the client sees. notFound is the message for
// store.ErrNotFound on this route ("Lead not found").
func classify(err error, notFound string) (int, errorBody) {
	var he *httpError
	var ve *store.ValidationError
	var mbe *http.MaxBytesError
	var stale *store.StaleLeadError
	switch {
	case errors.As(err, &stale):
		return http.StatusPreconditionFailed, errorBody{
			Error: "the lead was changed since the version in If-Match; the body holds the lead as it is now",
			Lead:  &stale.Lead,
		}
	case errors.As(err, &he):
		return he.status, errorBody{Error: he.msg, Fields: he.fields}
	case errors.As(err, &ve):
		return http.StatusBadRequest, errorBody{Error: ve.Error(), Fields: ve.Fields}
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, errorBody{Error: "request body is larger than 1 MiB"}
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, errorBody{Error: notFound}
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, errorBody{Error: "the lead was changed at the same time; reload and try again"}
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, errorBody{Error: "the database is unavailable, try again shortly"}
	default:
		return http.StatusInternalServerError, errorBody{Error: "internal error"}
	}
}

// apiFunc is a JSON API handler: it writes its response on success and returns an
// error otherwise.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// api adapts an apiFunc to http.Handler, turning a returned error into a JSON
// error response. 5xx errors are logged once with the request id.
func (s *Server) api(notFound string, fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			return // the client went away; nobody is left to answer
		}
		status, body := classify(err, notFound)
		s.logError(r, status, err)
		if body.Lead != nil {
			setLeadETag(w, r, *body.Lead)
		}
		writeJSON(w, status, body)
	}
}

// wantsJSON says whether an answer that no route chose (a path nobody serves,
// a method it does not take, a panic) is JSON or an HTML page. JSON for API
// clients: a request with an Authorization header (bearer tokens), a path of
// the JSON API or of the operators' endpoints, or an Accept header that does
// not ask for HTML (curl's */*, application/json). HTML for browsers, whose
// navigations send Accept: text/html, and for htmx, which swaps the message.
func wantsJSON(r *http.Request) bool {
	if r.Header.Get("HX-Request") == "true" {
		return false
	}
	if r.Header.Get("Authorization") != "" || isAPIPath(r.URL.Path) {
		return true
	}
	return !strings.Contains(r.Header.Get("Accept"), "text/html")
}

// isAPIPath says whether path belongs to the JSON API (leads, chat, health,
// metrics) or to the static files, which never answer with a page.
func isAPIPath(path string) bool {
	if strings.HasPrefix(path, "/chat/panel") {
		return false
	}
	for _, p := range []string{"/leads", "/stages", "/imports", "/chat", "/healthz", "/readyz", "/test", "/metrics", "/static/", "/webhooks"} {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// refuse answers a request no route takes with apiErr for JSON clients and
// pageErr, worded for people, for browsers (see wantsJSON).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, apiErr, pageErr error) {
	if wantsJSON(r) {
		s.api("not found", func(http.ResponseWriter, *http.Request) error { return apiErr })(w, r)
		return
	}
	s.html(func(http.ResponseWriter, *http.Request) error { return pageErr })(w, r)
}

func (s *Server) logError(r *http.Request, status int, err error) {
	if status >= 500 {
		s.Log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
}

// writeJSON encodes v into a buffer first, so an encoding error never leaves a
// half-written 200.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here (every type sent is encodable).
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error"}`)
	}
	writeJSONBytes(w, status, b)
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}
