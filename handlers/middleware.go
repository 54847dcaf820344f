package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/crmteam/crm/views"
)

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID takes the caller's X-Request-ID when it is a sane token, or makes
// one, and echoes it on the response so a log line can be found from a report.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !safeRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// accessLog logs each request once it is answered, with its route pattern.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := ""
		if rc := chi.RouteContext(r.Context()); rc != nil {
			route = rc.RoutePattern()
		}
		s.Log.DebugContext(r.Context(), "request", "request_id", RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "route", route, "status", ww.Status(),
			"bytes", ww.BytesWritten(), "duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

// recoverer turns a panic in a handler into a logged 500 instead of a dropped
// connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.ErrorContext(r.Context(), "panic", "request_id", RequestID(r.Context()), "panic", v)
				if wantsJSON(r) {
					writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error"})
					return
				}
				status, title, msg := htmlError(errors.New("panic"))
				_ = s.render(w, r, status, views.ErrorPage(status, title, msg, RequestID(r.Context())))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
