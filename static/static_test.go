package static

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestURLIsContentHashed(t *testing.T) {
	for _, name := range []string{"app.css", "app.js", "chat.css", "htmx.min.js", "Sortable.min.js", "icon.svg"} {
		u := URL(name)
		if !strings.HasPrefix(u, Prefix) || u == Prefix+name {
			t.Errorf("URL(%q) = %q, want a hashed URL under %s", name, u, Prefix)
		}
		if got := unhash(strings.TrimPrefix(u, Prefix)); got != name {
			t.Errorf("unhash(%q) = %q, want %q", u, got, name)
		}
	}
	if got, want := URL("missing.css"), "/static/missing.css"; got != want {
		t.Errorf("URL(missing.css) = %q, want %q", got, want)
	}
}

func TestHandler(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, path string
		wantStatus int
		wantCache  string
		wantType   string
	}{
		{"hashed css", URL("app.css"), 200, "public, max-age=31536000, immutable", "text/css; charset=utf-8"},
		{"hashed js", URL("htmx.min.js"), 200, "public, max-age=31536000, immutable", "text/javascript; charset=utf-8"},
		{"hashed svg", URL("icon.svg"), 200, "public, max-age=31536000, immutable", "image/svg+xml"},
		{"plain name", "/static/app.js", 200, "no-cache", "text/javascript; charset=utf-8"},
		{"old hash", "/static/app.000000000000.js", 200, "no-cache", "text/javascript; charset=utf-8"},
		{"unknown", "/static/nope.js", 404, "", ""},
		{"directory", "/static/", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET %s: status got %d, want %d", tt.path, rec.Code, tt.wantStatus)
			}
			if rec.Code != http.StatusOK {
				return
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.wantCache {
				t.Errorf("Cache-Control got %q, want %q", got, tt.wantCache)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type got %q, want %q", got, tt.wantType)
			}
			if rec.Body.Len() == 0 {
				t.Errorf("body is empty, want the file")
			}
		})
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, URL("app.css"), nil))
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatalf("ETag got empty, want the content hash")
	}
	req := httptest.NewRequest(http.MethodGet, URL("app.css"), nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("conditional GET status got %d, want %d", rec.Code, http.StatusNotModified)
	}
}

func TestHandlerRefusesWrites(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, URL("app.css"), nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST status got %d, want %d", rec.Code, http.StatusMethodNotAllowed)
	}
}
