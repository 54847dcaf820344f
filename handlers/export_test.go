package handlers_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExportCSV(t *testing.T) {
	ts, _ := apiServer(t)
	createLead(t, ts, `{"name":"Ann Formula","company":"=HYPERLINK(\"http://x\")","email":"ann@example.com","phone":"+1 555 0100","value":1200.5,"notes":"line one\nline two, with comma","source":"@twitter"}`)
	createLead(t, ts, `{"name":"Bob Plain","company":"Acme","status":"Negotiation","notes":"-minus\ttab"}`)
	createLead(t, ts, `{"name":"Cleo Müller","company":"Acme","notes":"\rreturn"}`)

	res := do(t, ts, http.MethodGet, "/leads/export.csv", "", "")
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if got := res.header.Get("Content-Type"); got != "text/csv; charset=utf-8" {
		t.Errorf("content type %q", got)
	}
	if got := res.header.Get("Content-Disposition"); !strings.HasPrefix(got, `attachment; filename="leads-`) {
		t.Errorf("content disposition %q", got)
	}
	body, ok := bytes.CutPrefix(res.body, []byte("\ufeff"))
	if !ok {
		t.Errorf("no byte order mark: %q", res.body[:min(10, len(res.body))])
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	wantHeader := []string{"id", "name", "company", "email", "phone", "value", "notes", "status", "source",
		"owner", "lost_reason", "lost_note", "created_at", "closed_at", "updated_at"}
	if diff := cmp.Diff(wantHeader, rows[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	got := map[string][]string{}
	for _, r := range rows[1:] {
		got[r[1]] = r[2:10]
	}
	// The API's token acts for its user, who owns what it creates.
	owner := rows[1][9]
	if !strings.Contains(owner, "@") {
		t.Errorf("owner column %q, want the owner's email", owner)
	}
	want := map[string][]string{
		"Ann Formula": {`'=HYPERLINK("http://x")`, "ann@example.com", "'+1 555 0100", "1200.50", "line one\nline two, with comma", "Interest", "'@twitter", owner},
		"Bob Plain":   {"Acme", "", "", "0.00", "'-minus\ttab", "Negotiation", "", owner},
		"Cleo Müller": {"Acme", "", "", "0.00", "'\rreturn", "Interest", "", owner},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// Board order: the stage's column first, in card order.
	if rows[1][1] != "Ann Formula" || rows[2][1] != "Cleo Müller" || rows[3][1] != "Bob Plain" {
		t.Errorf("order: %q %q %q", rows[1][1], rows[2][1], rows[3][1])
	}

	// The board's filters: search and stage.
	res = do(t, ts, http.MethodGet, "/leads/export.csv?q=acme&status=negotiation", "", "")
	rows, err = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(res.body, []byte("\ufeff")))).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][1] != "Bob Plain" {
		t.Errorf("filtered export: %v %q", err, rows)
	}
	// The board's other filters: value range, source; a bad one is a 400
	// naming it, as GET /leads/ answers.
	res = do(t, ts, http.MethodGet, "/leads/export.csv?min_value=1000", "", "")
	rows, err = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(res.body, []byte("\ufeff")))).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][1] != "Ann Formula" {
		t.Errorf("min_value export: %v %q", err, rows)
	}
	res = do(t, ts, http.MethodGet, "/leads/export.csv?source=%40TWITTER", "", "")
	if rows, err = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(res.body, []byte("\ufeff")))).ReadAll(); err != nil || len(rows) != 2 {
		t.Errorf("source export: %v %q", err, rows)
	}
	for _, bad := range []string{"min_value=abc", "created_from=bad", "owner=garbage", "min_value=5&max_value=1"} {
		res = do(t, ts, http.MethodGet, "/leads/export.csv?"+bad, "", "")
		if res.status != http.StatusBadRequest {
			t.Errorf("export?%s: status %d, want 400: %s", bad, res.status, res.body)
		}
	}
	// Nothing matches: the header alone.
	res = do(t, ts, http.MethodGet, "/leads/export.csv?q=nobody-at-all", "", "")
	if res.status != http.StatusOK || strings.Count(string(res.body), "\n") != 1 {
		t.Errorf("empty export: %d %q", res.status, res.body)
	}
	// A stage that does not exist is a 400 with the stages there are.
	res = do(t, ts, http.MethodGet, "/leads/export.csv?status=Nope", "", "")
	if res.status != http.StatusBadRequest || !strings.Contains(res.json(t)["error"].(string), "Interest") {
		t.Errorf("unknown stage: %d %s", res.status, res.body)
	}
}

func TestExportJSONL(t *testing.T) {
	ts, _ := apiServer(t)
	createLead(t, ts, `{"name":"Ann","company":"=1+1","value":10}`)
	createLead(t, ts, `{"name":"Bob","status":"Closed won"}`)
	res := do(t, ts, http.MethodGet, "/leads/export.jsonl", "", "")
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/x-ndjson; charset=utf-8" {
		t.Fatalf("status %d, type %q: %s", res.status, res.header.Get("Content-Type"), res.body)
	}
	lines := strings.Split(strings.TrimSuffix(string(res.body), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %q", len(lines), res.body)
	}
	var ann map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &ann); err != nil {
		t.Fatal(err)
	}
	// JSON is data, not a spreadsheet: values are exact.
	if ann["name"] != "Ann" || ann["company"] != "=1+1" || ann["value"] != 10.0 || ann["status"] != "Interest" {
		t.Errorf("first line %v", ann)
	}
	res = do(t, ts, http.MethodGet, "/leads/export.jsonl?status=closed%20won", "", "")
	if strings.Count(string(res.body), "\n") != 1 || !strings.Contains(string(res.body), `"Bob"`) {
		t.Errorf("filtered: %q", res.body)
	}
}
