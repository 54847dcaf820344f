package assistant_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmteam/crm/assistant"
)

// TestProbeLLM checks the readiness probe of the model's API against a server
// answering GET /models with each kind of answer.
func TestProbeLLM(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status int
		want   string // "" for up
	}{
		{200, ""},
		{404, ""}, // a server that does not list its models still answers
		{401, "refused the key (HTTP 401)"},
		{403, "refused the key (HTTP 403)"},
		{503, "answered HTTP 503"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer sk-test" {
				t.Errorf("probe got %s %s %q, want GET /v1/models with the key", r.Method, r.URL.Path, r.Header.Get("Authorization"))
			}
			w.WriteHeader(tt.status)
		}))
		err := assistant.ProbeLLM(context.Background(), srv.Client(), srv.URL+"/v1/", "sk-test")
		srv.Close()
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("HTTP %d: got %v, want %q", tt.status, err, tt.want)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens there any more
	if err := assistant.ProbeLLM(context.Background(), http.DefaultClient, srv.URL, "sk-test"); err == nil || !strings.Contains(err.Error(), "no answer from") {
		t.Errorf("no server: got %v, want no answer", err)
	}
}
