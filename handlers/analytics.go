package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
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

// handleAnalytics returns the handler of GET /analytics/: the page, or its
// numbers as JSON. Its numbers are kept for the board version they were read
// at (analyticsCache).
func (s *Server) handleAnalytics() func(w http.ResponseWriter, r *http.Request) error {
	cache := &analyticsCache{}
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := analyticsQuery(r.URL.Query(), time.Now())
		if err != nil {
			return err
		}
		v, err := s.boardVer.get(r.Context())
		if err != nil {
			return err
		}
		a, ok := cache.get(v, q, time.Now())
		if !ok {
			if a, err = s.Store.Analytics(r.Context(), q); err != nil {
				return err
			}
			cache.put(q, a, time.Now())
		}
		if !wantsPage(r) {
			writeJSON(w, http.StatusOK, a)
			return nil
		}
		return s.render(w, r, http.StatusOK, views.AnalyticsPage(views.AnalyticsData{A: a}))
	}
}

// analyticsCache keeps the numbers of the latest queries while the board
// version they were read at is current: every committed change of a lead or a
// stage changes it, so a kept answer is the one a new read would give. Only
// users' names and emails are not in the version: kept answers are at most
// analyticsCacheAge old.
type analyticsCache struct {
	mu      sync.Mutex
	version int64
	entries map[analyticsKey]analyticsEntry
}

type analyticsKey struct{ from, to, owner string }

type analyticsEntry struct {
	a  store.Analytics
	at time.Time
}

const (
	analyticsCacheAge  = time.Minute
	analyticsCacheSize = 64
)

func keyOf(q store.AnalyticsQuery) analyticsKey {
	return analyticsKey{q.From.Format(time.DateOnly), q.To.Format(time.DateOnly), strings.ToLower(q.Owner)}
}

func (c *analyticsCache) get(version int64, q store.AnalyticsQuery, now time.Time) (store.Analytics, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[keyOf(q)]
	if !ok || c.version != version || now.Sub(e.at) > analyticsCacheAge {
		return store.Analytics{}, false
	}
	return e.a, true
}

func (c *analyticsCache) put(q store.AnalyticsQuery, a store.Analytics, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a.Version < c.version {
		return // read before a newer answer was kept
	}
	if a.Version != c.version || len(c.entries) >= analyticsCacheSize {
		c.version = a.Version
		c.entries = map[analyticsKey]analyticsEntry{}
	}
	c.entries[keyOf(q)] = analyticsEntry{a: a, at: now}
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
