package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
)

// TestLeadListFilters: GET /leads/ takes the board filters, keeps its shape
// (every stage a key, in order) and refuses what it cannot read with 400
// naming the parameter.
func TestLeadListFilters(t *testing.T) {
	t.Parallel()
	ts, _ := stageServer(t, store.RoleMember)
	createLead(t, ts, `{"name": "Jane Doe", "status": "Interest", "source": "Web", "value": 1500}`)
	createLead(t, ts, `{"name": "Bob Roe", "status": "Negotiation", "source": "Event", "value": 90}`)
	createLead(t, ts, `{"name": "Ann Poe", "status": "Negotiation", "source": "web", "value": 15000}`)

	names := func(path string) []string {
		t.Helper()
		r := doJSON(t, ts, "GET", path, "")
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: got %d %s, want 200", path, r.status, r.body)
		}
		var out []string
		m := r.json(t)
		if len(m) != 6 {
			t.Errorf("GET %s: %d keys, want every stage", path, len(m))
		}
		for _, k := range boardKeys(t, ts) {
			for _, l := range m[k].([]any) {
				out = append(out, l.(map[string]any)["name"].(string))
			}
		}
		return out
	}
	for path, want := range map[string]string{
		"/leads/?source=WEB":                   "Jane Doe,Ann Poe",
		"/leads/?min_value=100&max_value=1500": "Jane Doe",
		"/leads/?source=web&q=ann":             "Ann Poe",
		"/leads/?created_from=2000-01-01":      "Jane Doe,Bob Roe,Ann Poe",
		"/leads/?updated_to=2000-01-01":        "",
		"/leads/?stale=1":                      "",
		"/leads/?owner=MEMBER@example.com":     "Jane Doe,Bob Roe,Ann Poe", // by email, any case
		"/leads/?owner=me&source=event":        "Bob Roe",
	} {
		if got := strings.Join(names(path), ","); got != want {
			t.Errorf("GET %s: got %q, want %q", path, got, want)
		}
	}

	for path, field := range map[string]string{
		"/leads/?min_value=lots":                                "min_value",
		"/leads/?max_value=-5":                                  "max_value",
		"/leads/?min_value=10&max_value=5":                      "max_value",
		"/leads/?created_from=yesterday":                        "created_from",
		"/leads/?created_from=2026-02-02&created_to=2026-02-01": "created_to",
		"/leads/?updated_to=2026-13-01":                         "updated_to",
		"/leads/?owner=bob":                                     "owner",
		"/leads/?owner=nobody@example.com":                      "owner",
		"/leads/?stale=maybe":                                   "stale",
		"/leads/?source=" + strings.Repeat("x", 101):            "source",
	} {
		r := doJSON(t, ts, "GET", path, "")
		fields, _ := r.json(t)["fields"].(map[string]any)
		if r.status != http.StatusBadRequest || fields[field] == nil {
			t.Errorf("GET %s: got %d %s, want 400 naming %s", path, r.status, r.body, field)
		}
	}
}

// TestBoardFilterPage: the board page takes the same filters, shows what
// matches with counts that describe it, keeps them in its links, and shows a
// message for a filter it cannot read.
func TestBoardFilterPage(t *testing.T) {
	t.Parallel()
	ts, _ := stageServer(t, store.RoleMember)
	createLead(t, ts, `{"name": "Jane Doe", "status": "Interest", "source": "Web", "value": 1500}`)
	createLead(t, ts, `{"name": "Bob Roe", "status": "Interest", "source": "Event", "value": 90}`)

	r := do(t, ts, "GET", "/?source=web", "", "")
	body := string(r.body)
	if r.status != http.StatusOK || !strings.Contains(body, "Jane Doe") || strings.Contains(body, "Bob Roe") {
		t.Fatalf("filtered board: got %d, want 200 with Jane and without Bob", r.status)
	}
	if !strings.Contains(body, "<strong>1</strong> lead match") {
		t.Errorf("filtered board: want the summary to count the 1 match")
	}
	if !strings.Contains(body, `name="source"`) || !strings.Contains(body, `value="web"`) {
		t.Errorf("filtered board: want the filter form to keep source=web")
	}

	r = do(t, ts, "GET", "/?created_from=soon", "", "")
	body = string(r.body)
	if r.status != http.StatusBadRequest || !strings.Contains(body, "Created from must be a date") || !strings.Contains(body, "Bob Roe") {
		t.Errorf("bad filter: got %d, want 400 with the message and the board unfiltered", r.status)
	}
}
