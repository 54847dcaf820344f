package handlers_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// doWith is do with extra request headers (name, value pairs).
func doWith(t *testing.T, ts *httptest.Server, method, path, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rd io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" { // asked for by hand: not undone by the client
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatalf("%s %s: gzip body: %v", method, path, err)
		}
		rd = zr
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// leadTag reads the lead's ETag, checking it is a strong entity tag.
func leadTag(t *testing.T, ts *httptest.Server, id string) string {
	t.Helper()
	r := doWith(t, ts, "GET", "/leads/"+id+"/", "")
	if r.status != 200 {
		t.Fatalf("GET lead: got %d %s, want 200", r.status, r.body)
	}
	tag := r.header.Get("ETag")
	if !strings.HasPrefix(tag, `"`) || !strings.HasSuffix(tag, `"`) || len(tag) < 3 {
		t.Fatalf("ETag of GET /leads/{id}/: got %q, want a strong entity tag", tag)
	}
	return tag
}

func TestLeadETagAndIfNoneMatch(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	lead := createLead(t, ts, `{"name":"Jane Doe","value":100}`)
	id := lead["id"].(string)
	tag := leadTag(t, ts, id)
	weak := "W/" + tag
	for _, tc := range []struct {
		inm  string
		want int
	}{
		{tag, http.StatusNotModified},
		{weak, http.StatusNotModified}, // If-None-Match compares weakly
		{`"other", ` + tag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"999999999.0"`, http.StatusOK},
		{`not a tag`, http.StatusOK}, // malformed: ignored
	} {
		r := doWith(t, ts, "GET", "/leads/"+id+"/", "", "If-None-Match", tc.inm)
		if r.status != tc.want {
			t.Errorf("GET with If-None-Match %s: got %d, want %d", tc.inm, r.status, tc.want)
		}
		if r.status == http.StatusNotModified && (r.header.Get("ETag") != tag || len(r.body) != 0) {
			t.Errorf("304 for %s: got ETag %q and %d bytes, want ETag %s and no body", tc.inm, r.header.Get("ETag"), len(r.body), tag)
		}
	}
	// The tag depends on the encoding: an identity response has its own.
	r := doWith(t, ts, "GET", "/leads/"+id+"/", "", "Accept-Encoding", "identity")
	if plain := r.header.Get("ETag"); plain == tag || plain == "" {
		t.Errorf("ETag without compression: got %q, want a tag other than the gzip one %s", plain, tag)
	}
}

// TestLeadETagChangesOnEveryWrite checks that each kind of write through the API
// gives the lead another ETag and version, and that a moved neighbour changes
// the tag (the position is in the body) but not the version.
func TestLeadETagChangesOnEveryWrite(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	id := createLead(t, ts, `{"name":"Jane Doe"}`)["id"].(string)
	other := createLead(t, ts, `{"name":"Bob Roe"}`)["id"].(string)
	seen := map[string]string{leadTag(t, ts, id): "create"}
	version := func() float64 {
		t.Helper()
		return doWith(t, ts, "GET", "/leads/"+id+"/", "").json(t)["version"].(float64)
	}
	last := version()
	for _, w := range []struct {
		what, method, path, body string
		sameVersion              bool
	}{
		{"PUT", "PUT", "/leads/" + id + "/", `{"phone":"+1 555 0100"}`, false},
		{"PATCH", "PATCH", "/leads/" + id + "/", `{"value":20}`, false},
		{"move", "PUT", "/leads/" + id + "/status/", `{"status":"Negotiation"}`, false},
		{"move within the column", "PUT", "/leads/" + id + "/status/", `{"status":"Interest","card_order":1}`, false},
		{"a neighbour's move", "PUT", "/leads/" + other + "/status/", `{"status":"Interest","card_order":1}`, true},
		{"delete", "DELETE", "/leads/" + id + "/", ``, false},
		{"restore", "POST", "/leads/" + id + "/restore/", ``, false},
	} {
		r := doWith(t, ts, w.method, w.path, w.body)
		if r.status >= 300 {
			t.Fatalf("%s: got %d %s", w.what, r.status, r.body)
		}
		if w.method == "DELETE" {
			continue
		}
		tag := leadTag(t, ts, id)
		if prev, ok := seen[tag]; ok {
			t.Errorf("after %s: ETag %s, the same as after %s; want a new one", w.what, tag, prev)
		}
		seen[tag] = w.what
		v := version()
		if w.sameVersion != (v == last) {
			t.Errorf("after %s: version %v, before %v; want it changed: %v", w.what, v, last, !w.sameVersion)
		}
		if v < last {
			t.Errorf("after %s: version went down from %v to %v", w.what, last, v)
		}
		last = v
	}
	// A write of the values the lead has is no write: the same tag and version,
	// so a client holding them can still write with If-Match.
	before := leadTag(t, ts, id)
	if r := doWith(t, ts, "PATCH", "/leads/"+id+"/", `{"value":20}`); r.status != 200 {
		t.Fatalf("PATCH with the lead's own value: got %d %s", r.status, r.body)
	}
	if tag := leadTag(t, ts, id); tag != before || version() != last {
		t.Errorf("after an update that changes nothing: ETag %s version %v, want %s and %v", tag, version(), before, last)
	}
}

// TestIfMatch checks every conditional method: a stale If-Match is refused with
// 412 and the current lead and changes nothing; a current one, "*", or a list
// holding the current tag is applied.
func TestIfMatch(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	methods := []struct{ method, path, body string }{
		{"PUT", "/", `{"phone":"+1 555 0100"}`},
		{"PATCH", "/", `{"value":"5"}`},
		{"PUT", "/status/", `{"status":"Negotiation","card_order":0}`},
		{"DELETE", "/", ``},
	}
	for _, m := range methods {
		t.Run(m.method+m.path, func(t *testing.T) {
			id := createLead(t, ts, `{"name":"Jane Doe","value":1}`)["id"].(string)
			path := "/leads/" + id + m.path
			stale := leadTag(t, ts, id)
			if r := doWith(t, ts, "PATCH", "/leads/"+id+"/", `{"company":"Acme"}`); r.status != 200 {
				t.Fatalf("the other client's change: got %d %s", r.status, r.body)
			}
			current := leadTag(t, ts, id)
			before := boardState(t, ts)
			for _, ifMatch := range []string{stale, "W/" + current, `"abc"`, stale + `, "1"`} {
				r := doWith(t, ts, m.method, path, m.body, "If-Match", ifMatch)
				if r.status != http.StatusPreconditionFailed {
					t.Fatalf("If-Match %s: got %d %s, want 412", ifMatch, r.status, r.body)
				}
				body := r.json(t)
				lead, _ := body["lead"].(map[string]any)
				if body["error"] == nil || lead == nil || lead["company"] != "Acme" || lead["id"] != id {
					t.Errorf("If-Match %s: got body %s, want an error and the current lead (company Acme)", ifMatch, r.body)
				}
				if got := r.header.Get("ETag"); got != current {
					t.Errorf("If-Match %s: 412 with ETag %q, want the current %s", ifMatch, got, current)
				}
			}
			if after := boardState(t, ts); after != before {
				t.Errorf("a refused %s changed the board:\n%s\nwant\n%s", m.method, after, before)
			}
			if r := doWith(t, ts, m.method, path, m.body, "If-Match", "not-quoted"); r.status != http.StatusBadRequest {
				t.Errorf("malformed If-Match: got %d %s, want 400", r.status, r.body)
			}
			r := doWith(t, ts, m.method, path, m.body, "If-Match", stale+", "+current)
			if r.status >= 300 {
				t.Fatalf("If-Match with the current tag in a list: got %d %s, want success", r.status, r.body)
			}
			if m.method != "DELETE" {
				if r := doWith(t, ts, m.method, path, m.body, "If-Match", "*"); r.status != 200 {
					t.Errorf("If-Match *: got %d %s, want 200", r.status, r.body)
				}
				v := int64(doWith(t, ts, "GET", "/leads/"+id+"/", "").json(t)["version"].(float64))
				if r := doWith(t, ts, m.method, path, m.body, "If-Match", fmt.Sprintf(`"%d"`, v)); r.status != 200 {
					t.Errorf(`If-Match "<version>" from the version field: got %d %s, want 200`, r.status, r.body)
				}
			}
			missing := "/leads/00000000-0000-0000-0000-000000000001" + m.path
			if r := doWith(t, ts, m.method, missing, m.body, "If-Match", "*"); r.status != http.StatusNotFound {
				t.Errorf("If-Match * of a missing lead: got %d, want 404", r.status)
			}
		})
	}
}

// TestBoardListETag checks GET /leads/ in its variants: an ETag from the board
// version, 304 for it while nothing changes, a new tag and the new board after
// any write, gzip and identity answers alike.
func TestBoardListETag(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	id := createLead(t, ts, `{"name":"Jane Doe","notes":"acme deal"}`)["id"].(string)
	createLead(t, ts, `{"name":"Bob Roe","status":"Negotiation"}`)
	variants := []string{"/leads/", "/leads/?q=acme", "/leads/?status=Interest&limit=1", "/leads/?limit=5"}
	tags := map[string]string{}
	for _, path := range variants {
		for _, enc := range []string{"gzip", "identity"} {
			r := doWith(t, ts, "GET", path, "", "Accept-Encoding", enc)
			tag := r.header.Get("ETag")
			if r.status != 200 || tag == "" {
				t.Fatalf("GET %s (%s): got %d, ETag %q; want 200 with an ETag", path, enc, r.status, tag)
			}
			if again := doWith(t, ts, "GET", path, "", "Accept-Encoding", enc, "If-None-Match", tag); again.status != http.StatusNotModified {
				t.Errorf("GET %s (%s) with If-None-Match %s: got %d, want 304", path, enc, tag, again.status)
			}
			tags[path+" "+enc] = tag
		}
	}
	// Every kind of write changes every variant's tag, and the body follows.
	for _, w := range []struct{ what, method, path, body, wantInBody string }{
		{"an edit", "PATCH", "/leads/" + id + "/", `{"company":"Acme One"}`, "Acme One"},
		{"a move", "PUT", "/leads/" + id + "/status/", `{"status":"Negotiation","card_order":0}`, `"Negotiation":[{"id":"` + id},
		{"a create", "POST", "/leads/", `{"name":"Cara Poe"}`, "Cara Poe"},
		{"a delete", "DELETE", "/leads/" + id + "/", ``, ""},
		{"a restore", "POST", "/leads/" + id + "/restore/", ``, "Acme One"},
	} {
		if r := doWith(t, ts, w.method, w.path, w.body); r.status >= 300 {
			t.Fatalf("%s: got %d %s", w.what, r.status, r.body)
		}
		for _, path := range variants {
			for _, enc := range []string{"gzip", "identity"} {
				old := tags[path+" "+enc]
				r := doWith(t, ts, "GET", path, "", "Accept-Encoding", enc, "If-None-Match", old)
				if r.status != 200 || r.header.Get("ETag") == old {
					t.Errorf("after %s, GET %s (%s) with the old tag: got %d, ETag %q; want 200 and a new tag", w.what, path, enc, r.status, r.header.Get("ETag"))
				}
				tags[path+" "+enc] = r.header.Get("ETag")
				if path == "/leads/" && w.wantInBody != "" && !strings.Contains(string(r.body), w.wantInBody) {
					t.Errorf("after %s, GET /leads/ (%s): body lacks %q:\n%s", w.what, enc, w.wantInBody, r.body)
				}
				if path == "/leads/" && w.what == "a delete" && strings.Contains(string(r.body), id) {
					t.Errorf("after a delete, GET /leads/ (%s) still holds the lead", enc)
				}
			}
		}
	}
}
