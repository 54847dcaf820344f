package handlers_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// importServer is the API with a queue and a worker on a Redis database of
// the test's own, signed in with a bearer token.
func importServer(t *testing.T, worker bool) (*httptest.Server, *store.Store) {
	t.Helper()
	st, _ := storetest.NewStore(t)
	redisOpt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	queue := &handlers.Queue{Client: client}
	srv := &handlers.Server{Store: st, Log: discardLog(), Enqueuer: queue,
		Security: handlers.Security{Limits: handlers.Limits{APIPerToken: handlers.Rate{N: -1}}}}
	u := handlers.UserForTest(t, st, "importer@example.com", store.RoleMember)
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "import tests")))
	t.Cleanup(ts.Close)
	if worker {
		w := asynq.NewServer(redisOpt, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond,
			ShutdownTimeout: 5 * time.Second})
		tasks := &handlers.Tasks{Store: st, Log: discardLog(), Assistant: assistant.New(st, discardLog(), assistant.Config{}), Enqueuer: queue}
		if err := w.Start(handlers.NewTaskMux(tasks)); err != nil {
			t.Fatalf("start worker: %v", err)
		}
		t.Cleanup(w.Shutdown)
	}
	return ts, st
}

// uploadForm posts file as the multipart field "file" with the other fields.
func uploadForm(t *testing.T, ts *httptest.Server, path, name string, file []byte, fields map[string]string) response {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(file)
	_ = mw.Close()
	return do(t, ts, "POST", path, mw.FormDataContentType(), b.String())
}

// waitImport polls the import at url until its job is over.
func waitImport(t *testing.T, ts *httptest.Server, url string) map[string]any {
	t.Helper()
	for range 3000 { // a bound against a hang, not a timing assertion
		m := doJSON(t, ts, "GET", url, "").json(t)
		if m["state"] != "queued" && m["state"] != "running" {
			return m
		}
		time.Sleep(20 * time.Millisecond) // polling the job, as a client does
	}
	t.Fatalf("import %s never finished", url)
	return nil
}

func TestImportAPI(t *testing.T) {
	t.Parallel()
	ts, _ := importServer(t, true)
	createLead(t, ts, `{"name":"Jane Doe","company":"Acme","email":"jane@acme.example","phone":"555-0001"}`)
	file := "Full name;Company;E-mail;Deal value;Stage;Fax\n" +
		"Jane Doe;Acme;JANE@acme.example;1.500,00;Negotiation;1\n" +
		"Bob Martin;Globex;bob@globex.example;20k;Nowhere;2\n" +
		"Cleo Park;Initech;cleo@initech.example;;Interest;3\n"

	// The preview: columns, fields, and each row's fate, writing nothing.
	before := boardState(t, ts)
	r := do(t, ts, "POST", "/imports/preview/?duplicates=update&file_name=leads.csv", "text/csv", file)
	if r.status != http.StatusOK {
		t.Fatalf("preview: %d %s", r.status, r.body)
	}
	var p store.ImportPreview
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, c := range p.Columns {
		fields = append(fields, c.Field)
	}
	if got, want := strings.Join(fields, ","), "name,company,email,value,status,"; got != want || p.Rows != 3 || p.Delimiter != "semicolon" {
		t.Errorf("preview columns %q (want %q), rows %d, delimiter %s", got, want, p.Rows, p.Delimiter)
	}
	var actions []string
	for _, row := range p.Sample {
		actions = append(actions, fmt.Sprintf("%d %s %v", row.Row, row.Action, row.Errors))
	}
	if got, want := strings.Join(actions, "; "), "2 update map[]; 3 fail map[status:no stage is named \"Nowhere\"; stages: Interest, Meeting booked, Proposal sent, Negotiation, Closed won, Closed lost]; 4 create map[]"; got != want {
		t.Errorf("preview rows:\n got %s\nwant %s", got, want)
	}
	if p.Sample[0].Note != "matches Jane Doe (Acme)" {
		t.Errorf("preview note of Jane: %q", p.Sample[0].Note)
	}
	if boardState(t, ts) != before {
		t.Error("the preview changed the board")
	}

	// The import, with the mapping changed: Fax goes into notes.
	r = uploadForm(t, ts, "/imports/", "leads.csv", []byte(file), map[string]string{"duplicates": "update", "mapping": `{"fax": "notes"}`})
	if r.status != http.StatusAccepted {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	url := r.json(t)["url"].(string)
	if r.header.Get("Location") != url {
		t.Errorf("Location %q, want %q", r.header.Get("Location"), url)
	}
	m := waitImport(t, ts, url)
	if m["state"] != "done" || m["created"] != 1.0 || m["updated"] != 1.0 || m["failed"] != 1.0 || m["progress"] != 1.0 {
		t.Fatalf("import result: %v", m)
	}
	errs := m["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["row"] != 3.0 || errs[0].(map[string]any)["field"] != "status" {
		t.Errorf("errors: %v", errs)
	}
	// The failed row, fixed, imports.
	r = do(t, ts, "GET", m["failed_csv"].(string), "", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("failed.csv: %d %s", r.status, r.body)
	}
	fixed := strings.Replace(string(r.body), "Nowhere", "Proposal sent", 1)
	if !strings.Contains(fixed, "Bob Martin;") && !strings.Contains(fixed, "Bob Martin,") {
		t.Fatalf("failed.csv has not Bob's row: %q", r.body)
	}
	r = do(t, ts, "POST", "/imports/?file_name=failed-rows.csv", "text/csv", fixed)
	if r.status != http.StatusAccepted {
		t.Fatalf("import of the fixed rows: %d %s", r.status, r.body)
	}
	m2 := waitImport(t, ts, r.json(t)["url"].(string))
	if m2["created"] != 1.0 || m2["failed"] != 0.0 {
		t.Fatalf("fixed rows: %v", m2)
	}
	leads := boardLeads(t, ts)
	if got := leads["Bob Martin"]; got["status"] != "Proposal sent" || got["value"] != 20000.0 {
		t.Errorf("Bob after the fix: %v", got)
	}
	if got := leads["Jane Doe"]; got["status"] != "Negotiation" || got["value"] != 1500.0 || got["phone"] != "555-0001" || got["notes"] != "1" {
		t.Errorf("Jane updated: %v", got)
	}

	// Undo the first import: Cleo goes to the trash, Jane gets her fields back.
	r = doJSON(t, ts, "POST", url+"undo/", "")
	if r.status != http.StatusOK {
		t.Fatalf("undo: %d %s", r.status, r.body)
	}
	if rep := r.json(t); rep["removed"] != 1.0 || rep["restored"] != 1.0 {
		t.Errorf("undo: %v", rep)
	}
	leads = boardLeads(t, ts)
	if _, ok := leads["Cleo Park"]; ok {
		t.Error("Cleo is still on the board after the undo")
	}
	if got := leads["Jane Doe"]; got["status"] != "Interest" || got["value"] != 0.0 || got["notes"] != "" {
		t.Errorf("Jane after the undo: %v", got)
	}
	if r := doJSON(t, ts, "POST", url+"undo/", ""); r.status != http.StatusConflict {
		t.Errorf("second undo: %d %s, want 409", r.status, r.body)
	}
	if m := doJSON(t, ts, "GET", url, "").json(t); m["state"] != "undone" {
		t.Errorf("state after undo: %v", m["state"])
	}
}

// boardLeads is every lead GET /leads/ returns, by name.
func boardLeads(t *testing.T, ts *httptest.Server) map[string]map[string]any {
	t.Helper()
	var cols map[string][]map[string]any
	if err := json.Unmarshal([]byte(boardState(t, ts)), &cols); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, list := range cols {
		for _, l := range list {
			out[l["name"].(string)] = l
		}
	}
	return out
}

func TestImportExportRoundTrip(t *testing.T) {
	t.Parallel()
	ts, _ := importServer(t, true)
	createLead(t, ts, `{"name":"=HYPERLINK(\"x\")","company":"@Acme","phone":"+1 555 0100","value":1234.5,"notes":"line one\nline two","status":"Closed lost","lost_reason":"Price"}`)
	createLead(t, ts, `{"name":"Zoë -5","email":"zoe@example.com","source":"Café"}`)
	want := boardLeads(t, ts)
	export := do(t, ts, "GET", "/leads/export.csv", "", "")
	if export.status != 200 {
		t.Fatalf("export: %d", export.status)
	}
	for name, l := range want {
		if r := doJSON(t, ts, "DELETE", "/leads/"+l["id"].(string)+"/", ""); r.status != http.StatusNoContent {
			t.Fatalf("delete %s: %d %s", name, r.status, r.body)
		}
	}
	r := do(t, ts, "POST", "/imports/", "text/csv", string(export.body))
	if r.status != http.StatusAccepted {
		t.Fatalf("import of the export: %d %s", r.status, r.body)
	}
	if m := waitImport(t, ts, r.json(t)["url"].(string)); m["created"] != 2.0 {
		t.Fatalf("import of the export: %v", m)
	}
	got := boardLeads(t, ts)
	for name, w := range want {
		g := got[name]
		for _, f := range []string{"name", "company", "email", "phone", "value", "notes", "status", "source", "lost_reason"} {
			if fmt.Sprint(g[f]) != fmt.Sprint(w[f]) {
				t.Errorf("%s: %s after the round trip %q, want %q", name, f, g[f], w[f])
			}
		}
	}
}

func TestImportBadInput(t *testing.T) {
	t.Parallel()
	ts, _ := importServer(t, false)
	createLead(t, ts, `{"name":"Keep Me"}`)
	before := boardState(t, ts)
	long := "name,notes\n" + strings.Repeat("Jane,"+strings.Repeat("x", 500)+"\n", 10)
	big := io.LimitReader(repeatReader(long), store.MaxImportBytes+1<<20)
	cases := []struct {
		what, path, ctype string
		body              io.Reader
		status            int
		want              string
	}{
		{"empty", "/imports/", "text/csv", strings.NewReader(""), 400, "the file is empty"},
		{"no header", "/imports/", "text/csv", strings.NewReader("Jane Doe,Acme,jane@acme.example\n"), 400, "header row"},
		{"binary", "/imports/", "application/octet-stream", bytes.NewReader([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")), 400, "not text"},
		{"xlsx", "/imports/preview/", "application/octet-stream", strings.NewReader("PK\x03\x04\x14\x00\x06\x00"), 400, "Excel workbook"},
		{"too large", "/imports/", "text/csv", big, 413, "larger than 50 MB"},
		{"too large preview", "/imports/preview/", "text/csv", io.LimitReader(repeatReader(long), store.MaxImportBytes+1<<20), 413, "larger than 50 MB"},
		{"bad mapping", "/imports/?mapping=nope", "text/csv", strings.NewReader("name\nX\n"), 400, "mapping must be a JSON object"},
		{"mapping to no field", `/imports/?mapping={"name":"shoe"}`, "text/csv", strings.NewReader("name\nX\n"), 400, "not a lead field"},
		{"bad duplicates", "/imports/?duplicates=merge", "text/csv", strings.NewReader("name\nX\n"), 400, "skip, update or create"},
		{"a form", "/imports/", "application/x-www-form-urlencoded", strings.NewReader("file=x"), 415, "multipart"},
	}
	for _, c := range cases {
		req, err := http.NewRequest("POST", ts.URL+c.path, c.body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", c.ctype)
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: got %d %s, want %d saying %q", c.what, res.StatusCode, b, c.status, c.want)
		}
	}
	// A multipart form without its file, and one with a file too large.
	if r := uploadForm(t, ts, "/imports/", "", nil, nil); r.status != 400 {
		t.Errorf("a form with an empty file: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/imports/" + "00000000-0000-0000-0000-000000000001/", "/imports/nope/", "/imports/00000000-0000-0000-0000-000000000001/failed.csv"} {
		if r := doJSON(t, ts, "GET", path, ""); r.status != 404 || !strings.Contains(string(r.body), "Import not found") {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	if r := doJSON(t, ts, "POST", "/imports/00000000-0000-0000-0000-000000000001/undo/", ""); r.status != 404 {
		t.Errorf("undo of no import: %d %s", r.status, r.body)
	}
	if r := doJSON(t, ts, "GET", "/imports/", ""); r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("imports after bad input: %d %s, want none", r.status, r.body)
	}
	if boardState(t, ts) != before {
		t.Error("bad input changed the board")
	}
	// Undo while the job has not run (no worker here): 409.
	r := do(t, ts, "POST", "/imports/", "text/csv", "name\nQueued Lead\n")
	if r.status != http.StatusAccepted {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	if u := doJSON(t, ts, "POST", r.json(t)["undo"].(string), ""); u.status != http.StatusConflict || !strings.Contains(string(u.body), "still running") {
		t.Errorf("undo of a queued import: %d %s", u.status, u.body)
	}
}

// repeatReader reads s again and again.
func repeatReader(s string) io.Reader {
	return &repeater{s: s}
}

type repeater struct {
	s string
	i int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.i:])
		n += c
		r.i = (r.i + c) % len(r.s)
	}
	return n, nil
}
