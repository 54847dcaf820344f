package handlers_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// metricValue returns the value of the series name{labels} in reg, and whether
// it exists.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			return sampleValue(f.GetType(), m), true
		}
	}
	return 0, false
}

func sampleValue(typ dto.MetricType, m *dto.Metric) float64 {
	switch typ {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

func metricsServer(t *testing.T, allow []netip.Prefix) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	st, _ := storetest.NewStore(t)
	reg := prometheus.NewRegistry()
	srv := &handlers.Server{
		Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Checks:   []handlers.Check{{Name: "postgres", Ping: st.Ping}},
		Metrics:  handlers.NewMetrics(reg),
		OpsAllow: allow,
	}
	// Requests carry a member's API token, through the real token check: the
	// API answers, and /metrics is open only by address (members are no admins).
	u := handlers.UserForTest(t, st, "metrics@example.com", store.RoleMember)
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "metrics tests")))
	t.Cleanup(ts.Close)
	return ts, reg
}

func TestHTTPMetricsByRoutePattern(t *testing.T) {
	t.Parallel()
	ts, reg := metricsServer(t, loopback)
	lead := createLead(t, ts, `{"name":"Jane Doe"}`)
	id := lead["id"].(string)
	doJSON(t, ts, "GET", "/leads/"+id+"/", "")
	doJSON(t, ts, "GET", "/leads/"+id, "")
	doJSON(t, ts, "GET", "/leads/00000000-0000-0000-0000-000000000000/", "")
	doJSON(t, ts, "GET", "/no/such/path/"+id, "")
	tests := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "/leads", "method": "POST", "status": "201"}, 1},
		{map[string]string{"route": "/leads/{id}", "method": "GET", "status": "200"}, 2},
		{map[string]string{"route": "/leads/{id}", "method": "GET", "status": "404"}, 1},
		{map[string]string{"route": "unmatched", "method": "GET", "status": "404"}, 1},
	}
	for _, tt := range tests {
		got, _ := metricValue(t, reg, "crm_http_requests_total", tt.labels)
		if got != tt.want {
			t.Errorf("crm_http_requests_total%v: got %v, want %v", tt.labels, got, tt.want)
		}
	}
	if n, _ := metricValue(t, reg, "crm_http_request_duration_seconds", map[string]string{"route": "/leads/{id}", "method": "GET"}); n != 3 {
		t.Errorf("latency samples of GET /leads/{id}: got %v, want 3", n)
	}
}

func TestLLMCallMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := handlers.NewMetrics(reg)
	timeout := &net.OpError{Op: "read", Err: timeoutErr{}}
	calls := []assistant.LLMCall{
		{Model: "m1", Duration: time.Second, HTTPStatus: 200, PromptTokens: 100, CompletionTokens: 20},
		{Model: "m1", Duration: time.Second, HTTPStatus: 200, PromptTokens: 50, CompletionTokens: 5},
		{Model: "m1", HTTPStatus: 429, Err: errors.New("rate limited")},
		{Model: "m1", HTTPStatus: 500, Err: errors.New("boom")},
		{Model: "m1", HTTPStatus: 400, Err: errors.New("bad")},
		{Model: "m1", Err: context.DeadlineExceeded},
		{Model: "m1", Err: timeout},
		{Model: "m1", Err: errors.New("connection refused")},
		{Model: "m1", HTTPStatus: 200, Err: errors.New("invalid character")},
		{Model: "m2", HTTPStatus: 200, PromptTokens: 7},
	}
	for _, c := range calls {
		m.ObserveLLMCall(c)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"crm_llm_calls_total", map[string]string{"model": "m1", "outcome": "ok"}, 2},
		{"crm_llm_calls_total", map[string]string{"model": "m1", "outcome": "rate_limited"}, 1},
		{"crm_llm_calls_total", map[string]string{"model": "m1", "outcome": "server_error"}, 1},
		{"crm_llm_calls_total", map[string]string{"model": "m1", "outcome": "client_error"}, 1},
		{"crm_llm_calls_total", map[string]string{"model": "m1", "outcome": "timeout"}, 2},
		{"crm_llm_calls_total", map[string]string{"model": "m1", "outcome": "network_error"}, 1},
		{"crm_llm_calls_total", map[string]string{"model": "m1", "outcome": "bad_response"}, 1},
		{"crm_llm_tokens_total", map[string]string{"model": "m1", "kind": "prompt"}, 150},
		{"crm_llm_tokens_total", map[string]string{"model": "m1", "kind": "completion"}, 25},
		{"crm_llm_tokens_total", map[string]string{"model": "m2", "kind": "prompt"}, 7},
		{"crm_llm_call_duration_seconds", map[string]string{"model": "m1"}, 9},
	}
	for _, tt := range tests {
		if got, _ := metricValue(t, reg, tt.name, tt.labels); got != tt.want {
			t.Errorf("%s%v: got %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestJobMetricsAndQueueCollector(t *testing.T) {
	t.Parallel()
	opt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	for range 3 {
		if _, err := client.Enqueue(asynq.NewTask("test:job", nil), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	m := handlers.NewMetrics(reg)
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	reg.MustRegister(handlers.NewQueueCollector(insp))
	if got, _ := metricValue(t, reg, "crm_queue_tasks", map[string]string{"queue": "default", "state": "pending"}); got != 3 {
		t.Errorf("pending tasks: got %v, want 3", got)
	}
	if got, _ := metricValue(t, reg, "crm_workers", nil); got != 0 {
		t.Errorf("workers before start: got %v, want 0", got)
	}

	// A real worker runs them through the middleware: two succeed, one fails.
	var n int
	mux := asynq.NewServeMux()
	mux.Use(handlers.JobLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), m.InstrumentJobs)
	done := make(chan struct{}, 3)
	mux.HandleFunc("test:job", func(ctx context.Context, task *asynq.Task) error {
		defer func() { done <- struct{}{} }()
		n++
		if n == 3 {
			return errors.New("third one fails")
		}
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 1, LogLevel: asynq.FatalLevel})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	for range 3 {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("the worker did not run 3 jobs within 30s")
		}
	}
	for _, tt := range []struct {
		result string
		want   float64
	}{{"ok", 2}, {"error", 1}} {
		if got, _ := metricValue(t, reg, "crm_jobs_processed_total", map[string]string{"type": "test:job", "result": tt.result}); got != tt.want {
			t.Errorf("jobs %s: got %v, want %v", tt.result, got, tt.want)
		}
	}
	if got, _ := metricValue(t, reg, "crm_job_duration_seconds", map[string]string{"type": "test:job"}); got != 3 {
		t.Errorf("job duration samples: got %v, want 3", got)
	}
	if got, _ := metricValue(t, reg, "crm_workers", nil); got != 1 {
		t.Errorf("workers while running: got %v, want 1", got)
	}
}

// With Redis unreachable a scrape still answers, at once, with crm_queue_up 0.
func TestQueueCollectorRedisDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	insp := asynq.NewInspector(asynq.RedisClientOpt{Addr: addr})
	t.Cleanup(func() { insp.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(handlers.NewQueueCollector(insp))
	got, ok := metricValue(t, reg, "crm_queue_up", nil)
	if !ok || got != 0 {
		t.Errorf("crm_queue_up: got %v (present %v), want 0", got, ok)
	}
}

func TestReadyzOptionalChecks(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	down := func(context.Context) error { return errors.New("no worker seen in the last 10 seconds") }
	srv := &handlers.Server{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Checks: []handlers.Check{
		{Name: "postgres", Ping: st.Ping},
		{Name: "redis", Ping: func(context.Context) error { return io.ErrUnexpectedEOF }},
		{Name: "worker", Ping: down, Optional: true},
	}}
	ts := httptest.NewServer(srv.Routes())
	defer ts.Close()
	tests := []struct {
		path       string
		wantStatus int
		wantState  string
		wantDown   string
	}{
		{"/readyz", 503, "unavailable", "redis,worker"},
		{"/readyz?check=postgres", 200, "ok", ""},
		{"/readyz?check=postgres,worker", 200, "degraded", "worker"},
		{"/readyz?check=nosuch", 400, "", ""},
	}
	for _, tt := range tests {
		r := doJSON(t, ts, "GET", tt.path, "")
		if r.status != tt.wantStatus {
			t.Errorf("GET %s: got %d %s, want %d", tt.path, r.status, r.body, tt.wantStatus)
			continue
		}
		if tt.wantState == "" {
			continue
		}
		body := r.json(t)
		if body["status"] != tt.wantState {
			t.Errorf("GET %s: status got %v, want %s", tt.path, body["status"], tt.wantState)
		}
		var names []string
		if d, ok := body["down"].([]any); ok {
			for _, n := range d {
				names = append(names, n.(string))
			}
		}
		if got := strings.Join(names, ","); got != tt.wantDown {
			t.Errorf("GET %s: down got %q, want %q", tt.path, got, tt.wantDown)
		}
		for _, c := range body["checks"].([]any) {
			c := c.(map[string]any)
			want := "up"
			if strings.Contains(tt.wantDown, c["name"].(string)) {
				want = "down"
			}
			if c["state"] != want {
				t.Errorf("GET %s: check %v state got %v, want %s", tt.path, c["name"], c["state"], want)
			}
			if _, ok := c["latency_ms"].(float64); !ok {
				t.Errorf("GET %s: check %v has no latency_ms", tt.path, c["name"])
			}
		}
	}
}
