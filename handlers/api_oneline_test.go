package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestOneLineFields: the JSON API refuses a line break (CR or LF) inside a
// one-line field on create and on update, with a 400 naming the field in the
// API's error shape, as the CSV import refuses it; notes and lost_note keep
// theirs, and a line break at either end is trimmed away like any space.
func TestOneLineFields(t *testing.T) {
	t.Parallel()
	ts, _ := apiServer(t)
	a := createLead(t, ts, `{"name":"A"}`)
	lead := "/leads/" + a["id"].(string) + "/"
	for _, c := range []struct{ field, value string }{
		{"name", "Jane\nDoe"}, {"name", "Jane\rDoe"}, {"name", "Jane\r\nDoe"},
		{"company", "Acme\nInc"}, {"email", "jane@acme.example\nbcc: x@y.example"}, {"phone", "555\n0100"},
		{"source", "Trade\nshow"}, {"lost_reason", "Price\nand timing"}, {"status", "Closed\nlost"}, {"owner", "ann@example.com\nbob@example.com"},
	} {
		v, _ := json.Marshal(c.value)
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/leads/", `{"name":"X","` + c.field + `":` + string(v) + `}`},
			{"PATCH", lead, `{"` + c.field + `":` + string(v) + `}`},
		} {
			if c.field == "name" {
				req.body = strings.Replace(req.body, `"name":"X",`, "", 1)
			}
			r := doJSON(t, ts, req.method, req.path, req.body)
			m := r.json(t)
			fields, _ := m["fields"].(map[string]any)
			if r.status != http.StatusBadRequest || fields[c.field] != "must be one line" || m["error"] != "invalid input: "+c.field+": must be one line" {
				t.Errorf("%s %s: %d %s, want 400 {\"error\": \"invalid input: %s: must be one line\", \"fields\": {%q: \"must be one line\"}}",
					req.method, req.body, r.status, r.body, c.field, c.field)
			}
		}
	}

	// Notes and the lost note are many lines; ends are trimmed off one-line fields.
	r := doJSON(t, ts, "POST", "/leads/", `{"name":"\nJane Doe\r\n","notes":"Called twice.\nWants a demo.","status":"Closed lost","lost_reason":"Price","lost_note":"Too dear.\nMaybe next year."}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create with notes on two lines: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["name"] != "Jane Doe" || m["notes"] != "Called twice.\nWants a demo." || m["lost_note"] != "Too dear.\nMaybe next year." {
		t.Errorf("created: name %q, notes %q, lost_note %q", m["name"], m["notes"], m["lost_note"])
	}

	// A bulk move's lost reason is a lead's lost_reason.
	r = doJSON(t, ts, "POST", "/leads/bulk/", `{"ids":["`+a["id"].(string)+`"],"action":"move","status":"Closed lost","lost_reason":"Price\nagain"}`)
	if fields, _ := r.json(t)["fields"].(map[string]any); r.status != http.StatusBadRequest || fields["lost_reason"] != "must be one line" {
		t.Errorf("bulk move with a lost reason on two lines: %d %s, want 400 on lost_reason", r.status, r.body)
	}
}
