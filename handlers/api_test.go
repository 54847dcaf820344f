package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// apiServer starts the real handler stack over a fresh database, called as an
// API client with a token calls it: every request carries the token of an
// account and goes through the real token check. The per-token rate limit is
// off here, as some tests send hundreds of requests (auth_limits_test.go tests
// the limit).
func apiServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	st, _ := storetest.NewStore(t)
	srv := &handlers.Server{
		Store: st,
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Checks: []handlers.Check{
			{Name: "postgres", Ping: st.Ping},
		},
		Security: handlers.Security{Limits: handlers.Limits{APIPerToken: handlers.Rate{N: -1}}},
	}
	u := handlers.UserForTest(t, st, "api@example.com", store.RoleMember)
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "api tests")))
	t.Cleanup(ts.Close)
	return ts, st
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func do(t *testing.T, ts *httptest.Server, method, path, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func doJSON(t *testing.T, ts *httptest.Server, method, path, body string) response {
	t.Helper()
	return do(t, ts, method, path, "application/json", body)
}

func createLead(t *testing.T, ts *httptest.Server, body string) map[string]any {
	t.Helper()
	r := doJSON(t, ts, "POST", "/leads/", body)
	if r.status != http.StatusCreated {
		t.Fatalf("create %s: got %d %s, want 201", body, r.status, r.body)
	}
	return r.json(t)
}

// boardState is the whole board as GET /leads/ shows it, for "nothing changed"
// checks.
func boardState(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	r := doJSON(t, ts, "GET", "/leads/", "")
	if r.status != 200 {
		t.Fatalf("GET /leads/: got %d, want 200", r.status)
	}
	return string(r.body)
}

func TestTestEndpointAndHealth(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	for _, path := range []string{"/test/", "/test"} {
		r := doJSON(t, ts, "GET", path, "")
		m := r.json(t)
		if r.status != 200 || m["status"] != "ok" || m["message"] == "" {
			t.Errorf("GET %s: got %d %s, want 200 with status ok and a message", path, r.status, r.body)
		}
	}
	if r := doJSON(t, ts, "GET", "/healthz", ""); r.status != 200 {
		t.Errorf("GET /healthz: got %d, want 200", r.status)
	}
	r := doJSON(t, ts, "GET", "/readyz", "")
	if r.status != 200 || r.json(t)["status"] != "ok" {
		t.Errorf("GET /readyz: got %d %s, want 200 ok", r.status, r.body)
	}
}

func TestReadyzNamesWhatIsDown(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	srv := &handlers.Server{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Checks: []handlers.Check{
		{Name: "postgres", Ping: st.Ping},
		{Name: "redis", Ping: func(context.Context) error { return io.ErrUnexpectedEOF }},
	}}
	ts := httptest.NewServer(srv.Routes())
	defer ts.Close()
	r := doJSON(t, ts, "GET", "/readyz", "")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.json(t)["error"].(string), "redis") {
		t.Errorf("got %d %s, want 503 naming redis", r.status, r.body)
	}
}

func TestLeadLifecycle(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	lead := createLead(t, ts, `{"name":"Jane Doe","company":"Example Corp","email":"jane@example.com","phone":"+1-555-0199","value":75000,"status":"Interest","source":"Website","notes":"n"}`)
	id := lead["id"].(string)
	for k, want := range map[string]any{"name": "Jane Doe", "company": "Example Corp", "value": 75000.0, "status": "Interest", "card_order": 0.0, "source": "Website"} {
		if lead[k] != want {
			t.Errorf("created %s: got %v, want %v", k, lead[k], want)
		}
	}
	for _, k := range []string{"id", "name", "company", "email", "phone", "value", "notes", "status", "source", "card_order", "created_at", "updated_at"} {
		if _, ok := lead[k]; !ok {
			t.Errorf("lead object has no %q", k)
		}
	}
	if !strings.HasSuffix(lead["created_at"].(string), "Z") {
		t.Errorf("created_at %v, want RFC 3339 in UTC", lead["created_at"])
	}

	for _, path := range []string{"/leads/" + id + "/", "/leads/" + id} {
		r := doJSON(t, ts, "GET", path, "")
		if r.status != 200 || r.json(t)["name"] != "Jane Doe" {
			t.Errorf("GET %s: got %d %s", path, r.status, r.body)
		}
	}

	// PUT updates only the fields given, like the original backend's PUT.
	r := doJSON(t, ts, "PUT", "/leads/"+id+"/", `{"phone":"+1-555-0100","value":"80000.50"}`)
	m := r.json(t)
	if r.status != 200 || m["phone"] != "+1-555-0100" || m["value"] != 80000.5 || m["company"] != "Example Corp" {
		t.Errorf("PUT: got %d %s, want phone and value changed, company kept", r.status, r.body)
	}
	r = doJSON(t, ts, "PATCH", "/leads/"+id, `{"company":null,"status":"Negotiation"}`)
	m = r.json(t)
	if r.status != 200 || m["company"] != "" || m["status"] != "Negotiation" {
		t.Errorf("PATCH: got %d %s, want company cleared and status Negotiation", r.status, r.body)
	}

	r = doJSON(t, ts, "DELETE", "/leads/"+id+"/", "")
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Errorf("DELETE: got %d %q, want 204 and no body", r.status, r.body)
	}
	r = doJSON(t, ts, "GET", "/leads/"+id+"/", "")
	if r.status != 404 || r.json(t)["error"] != "Lead not found" {
		t.Errorf("GET after delete: got %d %s, want 404 Lead not found", r.status, r.body)
	}
}

func TestLeadListShape(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	createLead(t, ts, `{"name":"A"}`)
	createLead(t, ts, `{"name":"B","notes":"met at the expo"}`)
	createLead(t, ts, `{"name":"C","status":"Closed lost"}`)

	r := doJSON(t, ts, "GET", "/leads/", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %s", r.status, r.header.Get("Content-Type"))
	}
	// Keys in stage order, every stage present.
	dec := json.NewDecoder(bytes.NewReader(r.body))
	var keys []string
	tok, _ := dec.Token()
	if tok != json.Delim('{') {
		t.Fatalf("got %v, want an object", tok)
	}
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var v []map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		if k == "Interest" && (len(v) != 2 || v[0]["name"] != "A" || v[1]["name"] != "B") {
			t.Errorf("Interest: got %v, want A then B", v)
		}
	}
	want := "Interest,Meeting booked,Proposal sent,Negotiation,Closed won,Closed lost"
	if got := strings.Join(keys, ","); got != want {
		t.Errorf("keys: got %s, want %s", got, want)
	}
	var board map[string][]map[string]any
	if err := json.Unmarshal(r.body, &board); err != nil {
		t.Fatal(err)
	}
	if board["Negotiation"] == nil || len(board["Negotiation"]) != 0 {
		t.Errorf("empty stage: got %v, want []", board["Negotiation"])
	}

	// Search and one column.
	r = doJSON(t, ts, "GET", "/leads/?q=EXPO", "")
	_ = json.Unmarshal(r.body, &board)
	if len(board["Interest"]) != 1 || board["Interest"][0]["name"] != "B" || len(board["Closed lost"]) != 0 {
		t.Errorf("q=EXPO: got %s, want only B", r.body)
	}
	r = doJSON(t, ts, "GET", "/leads?status=Closed%20lost", "")
	board = nil
	_ = json.Unmarshal(r.body, &board)
	if len(board) != 1 || len(board["Closed lost"]) != 1 {
		t.Errorf("status=Closed lost: got %s, want only that column", r.body)
	}
}

func TestLeadListPaging(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	for _, n := range []string{"A", "B", "C", "D", "E"} {
		createLead(t, ts, `{"name":"`+n+`"}`)
	}
	var names []string
	next := "/leads/?status=Interest&limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := doJSON(t, ts, "GET", next, "")
		if r.status != 200 {
			t.Fatalf("GET %s: got %d %s", next, r.status, r.body)
		}
		var board map[string][]map[string]any
		_ = json.Unmarshal(r.body, &board)
		for _, l := range board["Interest"] {
			names = append(names, l["name"].(string))
		}
		next = ""
		if link := r.header.Get("Link"); link != "" {
			if !strings.Contains(link, `rel="next"`) || !strings.Contains(link, `title="Interest"`) {
				t.Fatalf("Link %q, want rel=next titled Interest", link)
			}
			next = link[strings.Index(link, "<")+1 : strings.Index(link, ">")]
		}
	}
	if got := strings.Join(names, ""); got != "ABCDE" {
		t.Errorf("paged through %s, want ABCDE", got)
	}
	// Without status, every column gets its first page and its own next link.
	r := doJSON(t, ts, "GET", "/leads/?limit=1", "")
	if links := r.header.Values("Link"); len(links) != 1 {
		t.Errorf("got Link %v, want one next link (Interest)", links)
	}
}

func TestLeadMove(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	a := createLead(t, ts, `{"name":"A"}`)
	createLead(t, ts, `{"name":"B"}`)
	createLead(t, ts, `{"name":"C"}`)
	id := a["id"].(string)

	r := doJSON(t, ts, "PUT", "/leads/"+id+"/status/", `{"status":"Interest","card_order":2}`)
	if m := r.json(t); r.status != 200 || m["card_order"] != 2.0 {
		t.Fatalf("reorder: got %d %s, want 200 card_order 2", r.status, r.body)
	}
	r = doJSON(t, ts, "PUT", "/leads/"+id+"/status", `{"status":"Meeting booked","card_order":99}`)
	if m := r.json(t); r.status != 200 || m["status"] != "Meeting booked" || m["card_order"] != 0.0 {
		t.Fatalf("move: got %d %s, want Meeting booked at 0 (clamped)", r.status, r.body)
	}
	r = doJSON(t, ts, "PUT", "/leads/"+id+"/status/", `{"status":"Interest","card_order":-3}`)
	if m := r.json(t); r.status != 200 || m["card_order"] != 0.0 {
		t.Fatalf("negative position: got %d %s, want clamped to 0", r.status, r.body)
	}
	r = doJSON(t, ts, "PUT", "/leads/"+id+"/status/", `{"status":"Interest","card_order":1e30}`)
	if m := r.json(t); r.status != 200 || m["card_order"] != 2.0 {
		t.Fatalf("huge position: got %d %s, want clamped to the end (2)", r.status, r.body)
	}
}

// TestBadInput sends each bad request and checks the status, the message and that
// the board did not change.
func TestBadInput(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	a := createLead(t, ts, `{"name":"A","email":"a@x.test"}`)
	id := a["id"].(string)
	lead := "/leads/" + id + "/"
	move := lead + "status/"
	huge := `{"name":"` + strings.Repeat("x", 1<<20) + `"}`

	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		msg                             string // substring of "error"
		field                           string // key expected in "fields"
	}{
		{"no content type", "POST", "/leads/", "", `{"name":"X"}`, 415, "Content-Type must be application/json", ""},
		{"form content type", "POST", "/leads/", "application/x-www-form-urlencoded", `name=X`, 415, "Content-Type", ""},
		{"text content type", "PUT", lead, "text/plain", `{"name":"X"}`, 415, "Content-Type", ""},
		{"empty body", "POST", "/leads/", "application/json", ``, 400, "empty", ""},
		{"malformed", "POST", "/leads/", "application/json", `{"name":`, 400, "malformed JSON", ""},
		{"array", "POST", "/leads/", "application/json", `[{"name":"X"}]`, 400, "must be a JSON object", ""},
		{"trailing data", "POST", "/leads/", "application/json", `{"name":"X"} {}`, 400, "after the object", ""},
		{"too large", "POST", "/leads/", "application/json", huge, 413, "larger than 1 MiB", ""},
		{"unknown field", "POST", "/leads/", "application/json", `{"name":"X","colour":"red"}`, 400, `unknown field "colour"`, "colour"},
		{"missing name", "POST", "/leads/", "application/json", `{"company":"X"}`, 400, "name", "name"},
		{"blank name", "POST", "/leads/", "application/json", `{"name":"   "}`, 400, "name", "name"},
		{"null name", "POST", "/leads/", "application/json", `{"name":null}`, 400, "name", "name"},
		{"long name", "POST", "/leads/", "application/json", `{"name":"` + strings.Repeat("é", 201) + `"}`, 400, "at most 200", "name"},
		{"name not string", "POST", "/leads/", "application/json", `{"name":42}`, 400, "must be a string", "name"},
		{"bad email", "POST", "/leads/", "application/json", `{"name":"X","email":"nope"}`, 400, "email", "email"},
		{"negative value", "POST", "/leads/", "application/json", `{"name":"X","value":-1}`, 400, "negative", "value"},
		{"three decimals", "POST", "/leads/", "application/json", `{"name":"X","value":1.005}`, 400, "two decimals", "value"},
		{"value text", "POST", "/leads/", "application/json", `{"name":"X","value":"lots"}`, 400, "number", "value"},
		{"value NaN", "POST", "/leads/", "application/json", `{"name":"X","value":"NaN"}`, 400, "number", "value"},
		{"value Infinity", "POST", "/leads/", "application/json", `{"name":"X","value":"Infinity"}`, 400, "number", "value"},
		{"value huge", "POST", "/leads/", "application/json", `{"name":"X","value":1e300}`, 400, "too large", "value"},
		{"value bool", "POST", "/leads/", "application/json", `{"name":"X","value":true}`, 400, "number", "value"},
		{"unknown stage", "POST", "/leads/", "application/json", `{"name":"X","status":"Someday"}`, 400, "Interest, Meeting booked", "status"},
		{"nul byte", "POST", "/leads/", "application/json", `{"name":"A\u0000B"}`, 400, "NUL", "name"},
		{"read-only id", "POST", "/leads/", "application/json", `{"name":"X","id":"` + id + `"}`, 400, "id", "id"},
		{"read-only card_order", "PUT", lead, "application/json", `{"card_order":3}`, 400, "card_order", "card_order"},
		{"read-only id of another lead", "PATCH", lead, "application/json", `{"id":"00000000-0000-4000-8000-000000000000"}`, 400, "id", "id"},
		{"read-only card_order as text", "PUT", lead, "application/json", `{"card_order":"0"}`, 400, "card_order", "card_order"},
		{"value hexadecimal", "POST", "/leads/", "application/json", `{"name":"X","value":"0x10"}`, 400, "number", "value"},
		{"value fraction", "POST", "/leads/", "application/json", `{"name":"X","value":"3/2"}`, 400, "number", "value"},
		{"value underscores", "POST", "/leads/", "application/json", `{"name":"X","value":"1_000"}`, 400, "number", "value"},
		{"value huge exponent", "POST", "/leads/", "application/json", `{"name":"X","value":"1e999999"}`, 400, "number", "value"},
		{"invalid UTF-8 body", "POST", "/leads/", "application/json", "{\"name\":\"\xff\xfe\"}", 400, "UTF-8", ""},
		{"cursor past 64 bits", "GET", "/leads/?status=Interest&limit=2&cursor=YWZ0ZXI6OTIyMzM3MjAzNjg1NDc3NTgwOA", "", ``, 400, "cursor", "cursor"},
		{"search invalid UTF-8", "GET", "/leads/?q=%ff", "", ``, 400, "UTF-8", "q"},
		{"update unknown stage", "PUT", lead, "application/json", `{"status":"Later"}`, 400, "must be one of", "status"},
		{"update blank name", "PATCH", lead, "application/json", `{"name":""}`, 400, "name", "name"},
		{"update bad email", "PUT", lead, "application/json", `{"email":"a@"}`, 400, "email", "email"},
		{"update missing lead", "PUT", "/leads/00000000-0000-4000-8000-000000000000/", "application/json", `{"name":"X"}`, 404, "Lead not found", ""},
		{"get not a uuid", "GET", "/leads/not-a-uuid/", "", ``, 404, "Lead not found", ""},
		{"get missing", "GET", "/leads/00000000-0000-4000-8000-000000000000", "", ``, 404, "Lead not found", ""},
		{"delete not a uuid", "DELETE", "/leads/123/", "", ``, 404, "Lead not found", ""},
		{"move missing status", "PUT", move, "application/json", `{"card_order":1}`, 400, "status", "status"},
		{"move unknown stage", "PUT", move, "application/json", `{"status":"Won-ish","card_order":0}`, 400, "must be one of", "status"},
		{"move fractional order", "PUT", move, "application/json", `{"status":"Interest","card_order":1.5}`, 400, "integer", "card_order"},
		{"move stage with NUL", "PUT", move, "application/json", `{"status":"Inter\u0000est","card_order":0}`, 400, "NUL", "status"},
		{"move stage too long", "PUT", move, "application/json", `{"status":"` + strings.Repeat("x", 61) + `","card_order":0}`, 400, "at most 60", "status"},
		{"move order string", "PUT", move, "application/json", `{"status":"Interest","card_order":"1"}`, 400, "integer", "card_order"},
		{"move unknown field", "PUT", move, "application/json", `{"status":"Interest","name":"X"}`, 400, `unknown field "name"`, "name"},
		{"move missing lead", "PUT", "/leads/00000000-0000-4000-8000-000000000000/status/", "application/json", `{"status":"Interest"}`, 404, "Lead not found", ""},
		{"move not json", "PUT", move, "text/plain", `status=Interest`, 415, "Content-Type", ""},
		{"limit zero", "GET", "/leads/?limit=0", "", ``, 400, "limit", "limit"},
		{"limit text", "GET", "/leads/?limit=ten", "", ``, 400, "limit", "limit"},
		{"limit too big", "GET", "/leads/?limit=100000", "", ``, 400, "limit", "limit"},
		{"bad cursor", "GET", "/leads/?status=Interest&limit=2&cursor=zzz", "", ``, 400, "cursor", "cursor"},
		{"cursor without status", "GET", "/leads/?limit=2&cursor=YWZ0ZXI6MA", "", ``, 400, "status", "status"},
		{"list unknown status", "GET", "/leads/?status=Nope", "", ``, 400, "must be one of", "status"},
		{"search NUL", "GET", "/leads/?q=a%00b", "", ``, 400, "", "q"},
		{"method on list", "DELETE", "/leads/", "", ``, 405, "not allowed", ""},
		{"method on move", "GET", move, "", ``, 405, "not allowed", ""},
		{"malformed query", "GET", "/leads/?q=%zz", "", ``, 400, "malformed", ""},
		{"unknown path", "GET", "/nope/", "", ``, 404, "not found", ""},
	}
	before := boardState(t, ts)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, ts, tt.method, tt.path, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tt.status)
			}
			m := r.json(t)
			msg, _ := m["error"].(string)
			if msg == "" || !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q, want it to contain %q", msg, tt.msg)
			}
			if tt.field != "" {
				fields, _ := m["fields"].(map[string]any)
				if fields[tt.field] == nil {
					t.Errorf("fields %v, want a message for %q", m["fields"], tt.field)
				}
			}
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
	if after := boardState(t, ts); after != before {
		t.Errorf("bad input changed the board:\nbefore %s\nafter  %s", before, after)
	}
}

func TestGzip(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	for range 20 {
		createLead(t, ts, `{"name":"Somebody with a long name","notes":"`+strings.Repeat("notes ", 50)+`"}`)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/leads/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	tr := &http.Transport{DisableCompression: true}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Content-Encoding"); got != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", got)
	}
}
