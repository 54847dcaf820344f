package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestLeadPutBackWhatWasRead: a script that GETs a lead, edits a field and PUTs
// the whole object back (server fields included) succeeds, as with the original
// backend; the server's fields are not written.
func TestLeadPutBackWhatWasRead(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	createLead(t, ts, `{"name":"First"}`)
	lead := createLead(t, ts, `{"name":"Jane","company":"Example Corp"}`)
	id := lead["id"].(string)
	obj := doJSON(t, ts, "GET", "/leads/"+id+"/", "").json(t)
	obj["company"] = "Example Inc"
	obj["created_at"] = "1999-01-01T00:00:00Z" // the server's timestamps are ignored
	body, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	r := doJSON(t, ts, "PUT", "/leads/"+id+"/", string(body))
	if r.status != http.StatusOK {
		t.Fatalf("PUT of the object as read: got %d %s, want 200", r.status, r.body)
	}
	m := r.json(t)
	if m["company"] != "Example Inc" || m["card_order"] != 1.0 || m["created_at"] != lead["created_at"] || m["id"] != id {
		t.Errorf("got %s, want only company changed (card_order 1, created_at and id kept)", r.body)
	}
}

// TestHeadAndAllow: HEAD answers like GET without a body; a 405 lists HEAD with
// GET, and the root path lists its methods too.
func TestHeadAndAllow(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	for _, path := range []string{"/leads/", "/healthz", "/test/"} {
		r := do(t, ts, "HEAD", path, "", "")
		if r.status != http.StatusOK || len(r.body) != 0 {
			t.Errorf("HEAD %s: got %d with %d bytes, want 200 and no body", path, r.status, len(r.body))
		}
	}
	r := do(t, ts, "DELETE", "/leads/", "", "")
	if got := r.header.Get("Allow"); r.status != http.StatusMethodNotAllowed || got != "GET, HEAD, POST" {
		t.Errorf("DELETE /leads/: got %d Allow %q, want 405 Allow \"GET, HEAD, POST\"", r.status, got)
	}
	r = do(t, ts, "PUT", "/", "application/json", "{}")
	if got := r.header.Get("Allow"); r.status != http.StatusMethodNotAllowed || got == "" {
		t.Errorf("PUT /: got %d Allow %q, want 405 with the root's methods", r.status, got)
	}
}
