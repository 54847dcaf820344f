package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The HTML counterpart of errors.go: board handlers return errors, and html turns
// them into a message for people. For htmx requests that is a fragment swapped
// into the flash region (HX-Retarget), for other requests a full error page.

// htmlFunc is a handler of the board's HTML: it writes its response on success
// and returns an error otherwise.
type htmlFunc func(w http.ResponseWriter, r *http.Request) error

// errorWithView is an error that brings HTML to show along with its message,
// such as the true columns after a refused move.
type errorWithView struct {
	err  error
	view templ.Component
}

func (e *errorWithView) Error() string { return e.err.Error() }
func (e *errorWithView) Unwrap() error { return e.err }

// leadGone is what a person reads when the lead they act on was deleted.
const leadGone = "That lead no longer exists; it may have been deleted meanwhile."

// html adapts an htmlFunc to http.Handler. 5xx errors are logged once with the
// request id, which the message shows; people see a generic text for them.
func (s *Server) html(fn htmlFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			return // the client went away; nobody is left to answer
		}
		status, title, msg := htmlError(err)
		s.logError(r, status, err)
		w.Header().Del("ETag") // set for the page that was not rendered
		reqID := ""
		if status >= 500 {
			reqID = RequestID(r.Context())
		}
		var c templ.Component
		if isHTMX(r) {
			var ev *errorWithView
			var extra templ.Component
			if errors.As(err, &ev) {
				extra = ev.view
			}
			w.Header().Set("HX-Retarget", views.FlashID.Sel())
			w.Header().Set("HX-Reswap", "innerHTML")
			c = views.ErrorFlash(msg, reqID, extra)
		} else {
			c = views.ErrorPage(status, title, msg, reqID)
		}
		if rerr := s.render(w, r, status, c); rerr != nil {
			s.logError(r, http.StatusInternalServerError, rerr)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}
}

// htmlError maps an error to a status, a page title and a message for people.
// Validation errors are 422 here (the JSON API says 400), the status htmx is
// configured to swap.
func htmlError(err error) (status int, title, msg string) {
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		return http.StatusUnprocessableEntity, "Check the input", fieldsMessage(ve.Fields)
	}
	var ce *conflictError
	if errors.As(err, &ce) {
		return http.StatusConflict, "Changed meanwhile", ce.msg
	}
	status, body := classify(err, leadGone)
	switch {
	case status == http.StatusNotFound:
		return status, "Not found", body.Error
	case status == http.StatusForbidden:
		return status, "Not allowed", sentence(body.Error)
	case status == http.StatusConflict:
		return status, "Changed meanwhile", "Someone changed this lead at the same time. The board shows its current state; try again."
	case status == http.StatusServiceUnavailable:
		return status, "Try again shortly", "The database is unavailable right now. Try again in a moment."
	case status >= 500:
		return status, "Something went wrong", "Something went wrong on our side, and it has been logged. Try again; if it keeps failing, pass on the request id."
	default:
		return status, "Request refused", sentence(body.Error)
	}
}

// fieldsMessage joins field errors into one sentence per field, in field order.
func fieldsMessage(fields map[string]string) string {
	parts := make([]string, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, sentence(fieldLabel(k)+" "+fields[k]))
	}
	return strings.Join(parts, " ")
}

// fieldLabel is how a field is called on the board.
func fieldLabel(field string) string {
	switch field {
	case "status":
		return "stage"
	case "value":
		return "deal value"
	case "q":
		return "the search"
	default:
		return strings.ReplaceAll(field, "_", " ")
	}
}

// sentence capitalizes s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	s = string(unicode.ToUpper(r)) + s[n:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// isHTMX says whether the request wants a fragment. A history restore asks for
// the full page even from htmx.
func isHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-History-Restore-Request") != "true"
}

// render writes c as the response with status. It renders into a buffer first,
// so a render error never leaves a half-written 200. Every HTML URL of the board
// answers htmx with a fragment and browsers with a page, hence Vary.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		return fmt.Errorf("render %s: %w", r.URL.Path, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// First, before the Vary: Cookie of the session: the header every cache
	// (and htmx's history) keys fragments and pages apart on.
	h["Vary"] = append([]string{"HX-Request"}, h.Values("Vary")...)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client left
	return nil
}

// seeOther sends the browser to url after a form post: 303 for a plain request,
// HX-Location for htmx (which would otherwise follow a redirect inside its
// request and swap the page into the target).
func seeOther(w http.ResponseWriter, r *http.Request, url string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Location", url)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}
