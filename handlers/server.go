package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/store"
)

// Server holds what the HTTP handlers need. Its fields are set by cmd/crm.
type Server struct {
	Store *store.Store
	Log   *slog.Logger
	// Checks are the dependencies /readyz reports on, by name.
	Checks []Check
	// Version is reported by /test/ and the logs.
	Version string
	// Sessions keeps browser sessions; the assistant's conversation of a browser
	// is keyed by its session. Nil: chat requests without a bearer token have no
	// conversation.
	Sessions *scs.SessionManager
	// Enqueuer puts the assistant's jobs on the queue. Nil: sending a chat message
	// answers 503.
	Enqueuer Enqueuer
	// AssistantMode is "llm" or "offline", shown in the chat panel.
	AssistantMode string
	// Metrics counts requests and serves /metrics; nil: no metrics.
	Metrics *Metrics
	// OpsAllow are the networks that may read /metrics on the METRICS_ADDR
	// listener (OpsRoutes) without a token (METRICS_ALLOW_CIDRS).
	OpsAllow []netip.Prefix
	// QueueDashboard is the job queue UI served at /admin/queues; nil: none.
	QueueDashboard http.Handler
	// Security configures accounts, CORS and rate limits (auth.go); the zero
	// value is the default.
	Security Security
	// Redis keeps the rate limits' counts, shared by every server
	// (auth_limits.go); nil: each server counts in its own memory.
	Redis redis.UniversalClient
	// Events is the server's event hub, which feeds GET /events/; nil: the
	// stream answers 503.
	Events *EventHub
	// WebhookAllowPrivate accepts webhook receivers on loopback and private
	// addresses (WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool

	// sec is the state Routes makes from Security: rate limiters and such.
	sec *security
	// boardReads admits unpaged reads of the whole board (GET /leads/ without a
	// limit) a few at a time; see handleLeadList. Made by Routes.
	boardReads chan struct{}
	// boardVer reads the board version for many requests at once, and
	// boardCache keeps the encoded answers of GET /leads/ per board version
	// (boardcache.go). Made by Routes.
	boardVer   *versionReader
	boardCache *boardCache
}

// Check is one dependency /readyz probes.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
	// Optional marks a dependency the server answers requests without (the
	// worker, the model): when it is down /readyz still answers 200, with status
	// "degraded" and the check named under "down".
	Optional bool
}

// checkResult is one line of the /readyz answer.
type checkResult struct {
	Name string `json:"name"`
	// State is "up" or "down".
	State     string  `json:"state"`
	OK        bool    `json:"ok"`
	Optional  bool    `json:"optional,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

// checkTimeout bounds each readiness probe.
const checkTimeout = 2 * time.Second

// handleHealthz answers liveness: the process is up and serving.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz probes every dependency at once, each with a short timeout, and
// answers each one's state (up or down, never why: that is logged) and 503
// naming what is down, or 200 with status "degraded" when only
// optional ones are. ?check=postgres,redis probes only those (a load balancer
// that should keep a server while Redis is down asks for postgres alone).
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	checks := s.Checks
	if q := r.URL.Query().Get("check"); q != "" {
		checks = nil
		for name := range strings.SplitSeq(q, ",") {
			i := slices.IndexFunc(s.Checks, func(c Check) bool { return c.Name == strings.TrimSpace(name) })
			if i < 0 {
				names := make([]string, len(s.Checks))
				for j, c := range s.Checks {
					names[j] = c.Name
				}
				writeJSON(w, http.StatusBadRequest, errorBody{Error: "unknown check " + strconv.Quote(name) + "; checks: " + strings.Join(names, ", ")})
				return
			}
			checks = append(checks, s.Checks[i])
		}
	}
	results := make([]checkResult, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			start := time.Now()
			err := c.Ping(ctx)
			res := checkResult{Name: c.Name, State: "up", OK: err == nil, Optional: c.Optional,
				LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				// The reason goes to the log only: /readyz answers anyone, and an
				// error can name hosts, URLs and what is in them.
				res.State = "down"
				s.Log.WarnContext(r.Context(), "readiness check failed", "check", c.Name, "err", err,
					"request_id", RequestID(r.Context()))
			}
			results[i] = res
		})
	}
	wg.Wait()
	down, required := []string{}, []string{}
	for _, res := range results {
		if !res.OK {
			down = append(down, res.Name)
			if !res.Optional {
				required = append(required, res.Name)
			}
		}
	}
	status, code := "ok", http.StatusOK
	body := map[string]any{"checks": results}
	switch {
	case len(required) > 0:
		status, code = "unavailable", http.StatusServiceUnavailable
		body["error"] = "not ready: " + strings.Join(down, ", ") + " down"
	case len(down) > 0:
		status = "degraded"
		body["error"] = "degraded: " + strings.Join(down, ", ") + " down"
	}
	if len(down) > 0 {
		body["down"] = down
	}
	body["status"] = status
	writeJSON(w, code, body)
}

// handleTest answers GET /test/ as the original backend did.
func (s *Server) handleTest(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "CRM API is running", "status": "ok"})
}
