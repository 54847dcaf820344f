package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crmteam/crm/assistant"
)

// Metrics is the application's Prometheus instrumentation: HTTP requests, jobs
// and calls to the model. It registers its collectors on the registry it is
// given, never on the global one, so each process (and each test) has its own.
type Metrics struct {
	reg prometheus.Gatherer

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge

	jobs         *prometheus.CounterVec
	jobDuration  *prometheus.HistogramVec
	jobsInFlight *prometheus.GaugeVec

	llmCalls    *prometheus.CounterVec
	llmDuration *prometheus.HistogramVec
	llmTokens   *prometheus.CounterVec
}

// NewMetrics registers the application's metrics on reg, which also serves
// them (Handler).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crm_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crm_http_requests_in_flight",
			Help: "HTTP requests being answered.",
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_jobs_processed_total",
			Help: "Background jobs this process ran, by task type and result (ok, error).",
		}, []string{"type", "result"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crm_job_duration_seconds",
			Help:    "Time a background job ran, by task type.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"type"}),
		jobsInFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "crm_jobs_in_flight",
			Help: "Background jobs this process is running, by task type.",
		}, []string{"type"}),
		llmCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_llm_calls_total",
			Help: "Calls to the model's API (each retry counts), by model and outcome: ok, rate_limited, server_error, client_error, timeout, network_error, bad_response, canceled.",
		}, []string{"model", "outcome"}),
		llmDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crm_llm_call_duration_seconds",
			Help:    "Time a call to the model's API took, by model.",
			Buckets: []float64{.1, .25, .5, 1, 2, 4, 8, 15, 30, 60},
		}, []string{"model"}),
		llmTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crm_llm_tokens_total",
			Help: "Tokens the model's API reported using, by model and kind (prompt, completion).",
		}, []string{"model", "kind"}),
	}
	reg.MustRegister(m.httpRequests, m.httpDuration, m.httpInFlight,
		m.jobs, m.jobDuration, m.jobsInFlight,
		m.llmCalls, m.llmDuration, m.llmTokens)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// unmatchedRoute labels requests no route matched, so that random paths cannot
// grow the number of series.
const unmatchedRoute = "unmatched"

// InstrumentHTTP counts and times each request by its chi route pattern. It
// wraps the router, so the pattern is known once the request is answered.
func (m *Metrics) InstrumentHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.httpInFlight.Inc()
		defer m.httpInFlight.Dec()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := ""
		if rc := chi.RouteContext(r.Context()); rc != nil {
			route = rc.RoutePattern()
		}
		if route == "" {
			route = unmatchedRoute
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			method = "other"
		}
		m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.httpDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// InstrumentJobs is asynq middleware that counts and times each job by type.
func (m *Metrics) InstrumentJobs(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		inFlight := m.jobsInFlight.WithLabelValues(t.Type())
		inFlight.Inc()
		defer inFlight.Dec()
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.jobs.WithLabelValues(t.Type(), result).Inc()
		m.jobDuration.WithLabelValues(t.Type()).Observe(time.Since(start).Seconds())
		return err
	})
}

// ObserveLLMCall records one call to the model's API; it makes Metrics an
// assistant.CallObserver.
func (m *Metrics) ObserveLLMCall(c assistant.LLMCall) {
	m.llmCalls.WithLabelValues(c.Model, llmOutcome(c)).Inc()
	m.llmDuration.WithLabelValues(c.Model).Observe(c.Duration.Seconds())
	if c.PromptTokens > 0 {
		m.llmTokens.WithLabelValues(c.Model, "prompt").Add(float64(c.PromptTokens))
	}
	if c.CompletionTokens > 0 {
		m.llmTokens.WithLabelValues(c.Model, "completion").Add(float64(c.CompletionTokens))
	}
}

// llmOutcome names what became of a call, in a few words fit for a label.
func llmOutcome(c assistant.LLMCall) string {
	var netErr net.Error
	switch {
	case c.Err == nil:
		return "ok"
	case c.HTTPStatus == http.StatusTooManyRequests:
		return "rate_limited"
	case c.HTTPStatus >= 500:
		return "server_error"
	case c.HTTPStatus >= 400:
		return "client_error"
	case errors.Is(c.Err, context.Canceled):
		return "canceled"
	case errors.Is(c.Err, context.DeadlineExceeded) || (errors.As(c.Err, &netErr) && netErr.Timeout()):
		return "timeout"
	case c.HTTPStatus == 0:
		return "network_error"
	default:
		return "bad_response" // an answer that could not be read
	}
}
