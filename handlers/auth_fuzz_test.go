package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// Fuzz targets for request decoding and validation. `go test` runs their seed
// corpus; `go test -fuzz FuzzLeadJSON ./handlers` explores further.

// wantValidInput checks what the decoders promise about an input they accept:
// text is valid UTF-8 without NUL, within the limits, a value in range.
func wantValidInput(t *testing.T, in store.LeadInput) {
	t.Helper()
	for field, p := range map[string]*string{"name": in.Name, "company": in.Company, "email": in.Email, "phone": in.Phone,
		"notes": in.Notes, "status": in.Status, "source": in.Source} {
		if p == nil {
			continue
		}
		if !utf8.ValidString(*p) || strings.ContainsRune(*p, 0) {
			t.Fatalf("accepted %s %q: want valid UTF-8 without NUL", field, *p)
		}
		if utf8.RuneCountInString(*p) > store.MaxNotesLen {
			t.Fatalf("accepted %s of %d characters: want within the limits", field, utf8.RuneCountInString(*p))
		}
	}
	if in.Value != nil && (*in.Value < 0 || *in.Value > store.MaxMoney) {
		t.Fatalf("accepted value %d: want 0..%d", *in.Value, store.MaxMoney)
	}
}

// FuzzLeadJSON decodes arbitrary bodies as the API's lead create does: it
// never panics, refuses with a client error, and whatever it accepts is valid.
func FuzzLeadJSON(f *testing.F) {
	for _, seed := range []string{
		`{"name": "Jane Doe", "value": 75000, "status": "Interest"}`,
		`{"name": "x", "value": "20000.50"}`, `{"name": null}`, `{"name": "x", "value": -1}`,
		`{"name": "x", "value": 1e309}`, `{"name": "x", "value": "NaN"}`, `{"name": "a\u0000b"}`,
		`{"name": "x", "id": "1"}`, `{"name": "x", "extra": 1}`, `[1]`, `"x"`, `null`, ``, `{`, `{"name": "x"}{}`,
		`{"name": ` + strings.Repeat("[", 200) + `}`, `{"name": "<script>alert(1)</script>"}`,
		`{"email": "a@b.com\r\nBcc: c@d.com", "name": "x"}`, "{\"name\": \"\xff\xfe\"}",
		`{"card_order": 5}`, `{"value": 1.005, "name": "x"}`, `{"value": true, "name": "x"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/leads/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		m, err := decodeObject(httptest.NewRecorder(), r)
		if err != nil {
			if status, b := classify(err, leadNotFound); status >= 500 || b.Error == "" {
				t.Fatalf("decode %q: got %d %q, want a client error with a message", body, status, b.Error)
			}
			return
		}
		in, err := leadInput(m, nil)
		if err != nil {
			if status, b := classify(err, leadNotFound); status != http.StatusBadRequest || b.Error == "" {
				t.Fatalf("leadInput %q: got %d %q, want 400 with a message", body, status, b.Error)
			}
			return
		}
		in.Normalize()
		if verr := in.Validate(true); verr != nil {
			if len(verr.Fields) == 0 {
				t.Fatalf("validate %q: got an error without fields", body)
			}
			return
		}
		wantValidInput(t, in)
	})
}

// FuzzLeadForm parses arbitrary form posts as the board's lead form does.
func FuzzLeadForm(f *testing.F) {
	for _, seed := range []string{
		"name=Jane&value=%2475%2C000&status=Interest", "name=&value=", "name=x&value=-5", "name=x&value=1e999",
		"name=%FF%FE", "name=a%00b", "name=%zz", "name=x&value=NaN", "name=x&email=x", "value=12.345&name=y",
		"name=" + strings.Repeat("a", 300), "name=x&value=%C2%A0999%2C999%2C999%2C999.99",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/board/leads", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, in, err := parseLeadForm(httptest.NewRecorder(), r, true)
		if err != nil {
			if status, _, msg := htmlError(err); status >= 500 || msg == "" {
				t.Fatalf("form %q: got %d %q, want a client error with a message", body, status, msg)
			}
			return
		}
		in.Normalize()
		wantValidInput(t, in)
	})
}

// FuzzSafeNext checks that the return path after sign-in is always a path of
// this site: never another host, never a scheme.
func FuzzSafeNext(f *testing.F) {
	for _, seed := range []string{"/", "/trash", "//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)",
		"/%2F%2Fevil", "/a\r\nLocation: x", "", "\\\\evil", "/ok?next=//x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		if got != next || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") ||
			strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("safeNext(%q) = %q, want a local path or nothing", next, got)
		}
		// The browser's view: the redirect stays on this host.
		req := httptest.NewRequest(http.MethodGet, "http://crm.test/", nil)
		u, err := req.URL.Parse(got)
		if err == nil && u.Host != "" && u.Host != "crm.test" {
			t.Fatalf("safeNext(%q) = %q resolves to host %q, want this site", next, got, u.Host)
		}
	})
}

// FuzzContactURL checks that links made from lead fields only ever use
// mailto:, tel: or http(s).
func FuzzContactURL(f *testing.F) {
	for _, seed := range []string{"jane@example.com", "+1 (555) 0199", "javascript:alert(1)", "https://example.com",
		"data:text/html,<script>", "tel:+1", "mailto:x@y", "JaVaScRiPt:alert(1)", "a@b\" onmouseover=\"x", " \x00"} {
		f.Add("email", seed)
		f.Add("tel", seed)
		f.Add("web", seed)
	}
	f.Fuzz(func(t *testing.T, kind, value string) {
		got := string(views.ContactURL(kind, value))
		if got == "" {
			return
		}
		ok := false
		for _, scheme := range []string{"mailto:", "tel:", "http://", "https://"} {
			ok = ok || strings.HasPrefix(got, scheme)
		}
		if !ok || strings.ContainsAny(got, "\"'<> \x00\r\n") {
			t.Fatalf("ContactURL(%q, %q) = %q, want an http(s), mailto or tel link without quotes or spaces", kind, value, got)
		}
	})
}

// FuzzTokenAndPassword feeds arbitrary text to the token name and password
// checks: they never panic, and what they accept is valid text.
func FuzzTokenAndPassword(f *testing.F) {
	for _, seed := range []string{"nightly import", "", "a\x00b", strings.Repeat("x", 101), "\xff", "correct horse battery", "password123"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if store.CheckTokenName(s) == "" && (!utf8.ValidString(s) || strings.ContainsRune(s, 0) || s == "") {
			t.Fatalf("token name %q accepted, want refused", s)
		}
		if store.CheckPassword(s, "ann@example.com") == "" {
			if n := utf8.RuneCountInString(s); n < store.MinPasswordLen || n > store.MaxPasswordLen || store.IsCommonPassword(s) {
				t.Fatalf("password %q accepted, want refused", s)
			}
		}
	})
}
