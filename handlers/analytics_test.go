package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestAnalyticsAPI asks GET /analytics/ for the fixture's numbers as JSON (a
// bearer token, and a session with Accept: application/json), as the page
// (a browser's Accept), and with bad input: 400 naming the parameter.
func TestAnalyticsAPI(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	storetest.AnalyticsFixture(t, e.pool, ann.ID, bob.ID)
	token := handlers.TokenForTest(t, e.st, ann, "analytics")
	q := "/analytics/?from=2026-01-01&to=2026-03-31"

	r := e.bearer(nil, token, "GET", q+"&owner=bob%40example.com", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("bearer GET: got %d %s %.300s, want 200 JSON", r.status, r.header.Get("Content-Type"), r.body)
	}
	var a store.Analytics
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if a.From != "2026-01-01" || a.To != "2026-03-31" || a.Owner == nil || a.Owner.ID != bob.ID ||
		a.PipelineValue != 4234_56 || a.Forecast != 2373_46 || a.WinRate.Lost != 2 || a.WinRate.Won != 0 ||
		len(a.Funnel) != 5 || a.Funnel[0].Reached != 4 || len(a.Owners) != 1 {
		t.Errorf("bob's analytics: got %s, want bob's numbers of the fixture (store/analytics_test.go)", r.body)
	}
	for _, key := range []string{`"pipeline":`, `"forecast":`, `"win_rate":`, `"lost_reasons":`, `"funnel":`, `"stage_days":`, `"won_by_month":`, `"owners":`, `"to_next":`, `"avg_days":`} {
		if !strings.Contains(string(r.body), key) {
			t.Errorf("JSON has no %s: %s", key, r.body)
		}
	}

	// The numbers are kept per board version: a change is seen at once.
	var l8 string
	if err := e.pool.QueryRow(t.Context(), `SELECT id FROM leads WHERE name = 'L8 new'`).Scan(&l8); err != nil {
		t.Fatal(err)
	}
	if r := e.bearer(nil, token, "DELETE", "/leads/"+l8, ""); r.status != http.StatusOK && r.status != http.StatusNoContent {
		t.Fatalf("delete L8: got %d %s", r.status, r.body)
	}
	pipelineValue := func(r response) store.Money {
		t.Helper()
		var a store.Analytics
		if err := json.Unmarshal(r.body, &a); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
		return a.PipelineValue
	}
	if again := e.bearer(nil, token, "GET", q+"&owner=bob%40example.com", ""); pipelineValue(again) != 3000_00 {
		t.Errorf("bob's analytics after L8 went to the trash: got %.300s, want pipeline_value 3000", again.body)
	}

	ses := e.browser("ann@example.com")
	j := e.get(ses, q+"&owner="+bob.ID.String(), "Accept", "application/json")
	if j.status != http.StatusOK || pipelineValue(j) != 3000_00 {
		t.Errorf("session with Accept: application/json, owner by id: got %d %.300s, want bob's JSON", j.status, j.body)
	}
	page := e.get(ses, q, "Accept", "text/html")
	if page.status != http.StatusOK || !strings.Contains(string(page.body), `<svg class="chart"`) || !strings.Contains(strings.Join(page.header.Values("Vary"), ","), "Accept") {
		t.Errorf("a browser: got %d %q %.200s, want the page, Vary: Accept", page.status, page.header.Values("Vary"), page.body)
	}
	// Defaults: the last 90 days, today included.
	d := e.bearer(nil, token, "GET", "/analytics", "")
	today := time.Now().UTC()
	if got := d.json(t); d.status != http.StatusOK || got["to"] != today.Format(time.DateOnly) || got["from"] != today.AddDate(0, 0, -89).Format(time.DateOnly) {
		t.Errorf("no period: got %d from %v to %v, want the 90 days up to today", d.status, got["from"], got["to"])
	}

	for _, tc := range []struct{ query, field string }{
		{"from=2026-13-01", "from"},
		{"from=yesterday&to=2026-03-01", "from"},
		{"to=2026-02-30", "to"},
		{"from=2026-01-01&to=01/03/2026", "to"},
		{"from=2026-03-02&to=2026-03-01", "from"},
		{"from=2020-01-01&to=2026-03-01", "to"},
		{"from=2026-01-01&to=2026-03-01&owner=nobody%40example.com", "owner"},
		{"from=2026-01-01&to=2026-03-01&owner=00000000-0000-0000-0000-000000000000", "owner"},
	} {
		r := e.bearer(nil, token, "GET", "/analytics/?"+tc.query, "")
		body := r.json(t)
		fields, _ := body["fields"].(map[string]any)
		if r.status != http.StatusBadRequest || fields[tc.field] == nil || !strings.Contains(body["error"].(string), tc.field) {
			t.Errorf("?%s: got %d %s, want 400 naming %s", tc.query, r.status, r.body, tc.field)
		}
		// A browser gets the page of the refusal, never a 500.
		p := e.get(ses, "/analytics/?"+tc.query, "Accept", "text/html")
		if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
			t.Errorf("?%s in a browser: got %d %s, want 422 with a page", tc.query, p.status, p.header.Get("Content-Type"))
		}
	}

	// Signed out: 401 JSON for API clients, the sign-in page for browsers.
	if r := e.get(nil, q); r.status != http.StatusUnauthorized {
		t.Errorf("signed out, JSON: got %d, want 401", r.status)
	}
	if r := e.get(nil, q, "Accept", "text/html"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/signin") {
		t.Errorf("signed out, browser: got %d to %q, want 303 to sign-in", r.status, r.header.Get("Location"))
	}
}
