package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The analytics page and its JSON (README "Analytics"). One address serves
// both, GET /analytics/?from=&to=&owner=: a request whose Accept header asks
// for HTML (a browser's navigation) or from htmx gets the page, any other
// (curl's */*, application/json) the numbers as JSON, with a session or a
// bearer token alike. Refusals come in the same shape: 401 JSON or a redirect
// to sign-in, a 400 JSON error or an error page.

// wantsPage says whether a request to a page-or-JSON address wants the page.
func wantsPage(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" || strings.Contains(r.Header.Get("Accept"), "text/html")
}

// negotiatedAuth guards a route that answers both pages and JSON (see
// wantsPage): as a page for browsers, as the API for JSON clients.
func (s *Server) negotiatedAuth(next http.Handler) http.Handler {
	api, page := s.apiAuth(next), s.pageAuth(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wantsPage(r) {
			page.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// negotiated adapts a handler serving both pages and JSON: its errors are
// answered as JSON or as a page, as the request wants.
func (s *Server) negotiated(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	api, page := s.api("not found", fn), s.html(fn)
	return func(w http.ResponseWriter, r *http.Request) {
		// Caches key the two answers apart.
		w.Header().Add("Vary", "Accept, Authorization")
		if wantsPage(r) {
			page(w, r)
			return
		}
		api(w, r)
	}
}

// handleAnalytics answers GET /analytics/: the page, or its numbers as JSON.
func (s *Server) handleAnalytics(w http.ResponseWriter, r *http.Request) error {
	q, err := analyticsQuery(r.URL.Query(), time.Now())
	if err != nil {
		return err
	}
	a, err := s.Store.Analytics(r.Context(), q)
	if err != nil {
		return err
	}
	if !wantsPage(r) {
		writeJSON(w, http.StatusOK, a)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.AnalyticsPage(views.AnalyticsData{A: a}))
}

// analyticsQuery reads from, to (days, YYYY-MM-DD, both included) and owner
// (a user's id or email). Without to the period ends today (UTC); without
// from it is the DefaultAnalyticsDays days up to to.
func analyticsQuery(v url.Values, now time.Time) (store.AnalyticsQuery, error) {
	bad := map[string]string{}
	day := func(name string) (time.Time, bool) {
		s := strings.TrimSpace(v.Get(name))
		if s == "" {
			return time.Time{}, false
		}
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			bad[name] = "is not a date; give it as YYYY-MM-DD"
			return time.Time{}, false
		}
		return t, true
	}
	y, m, d := now.UTC().Date()
	q := store.AnalyticsQuery{To: time.Date(y, m, d, 0, 0, 0, 0, time.UTC), Owner: strings.TrimSpace(v.Get("owner"))}
	if t, ok := day("to"); ok {
		q.To = t
	}
	q.From = q.To.AddDate(0, 0, 1-store.DefaultAnalyticsDays)
	if t, ok := day("from"); ok {
		q.From = t
	}
	if len(bad) > 0 {
		return q, &store.ValidationError{Fields: bad}
	}
	return q, q.Validate()
}
