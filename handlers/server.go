package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"

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
}

// Check is one dependency /readyz probes.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// checkResult is one line of the /readyz answer.
type checkResult struct {
	Name      string  `json:"name"`
	OK        bool    `json:"ok"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// handleHealthz answers liveness: the process is up and serving.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz checks every dependency, each with a short timeout, and answers 503
// naming what is down.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	results := make([]checkResult, len(s.Checks))
	down := []string{}
	for i, c := range s.Checks {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		start := time.Now()
		err := c.Ping(ctx)
		cancel()
		results[i] = checkResult{Name: c.Name, OK: err == nil, LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			results[i].Error = err.Error()
			down = append(down, c.Name)
		}
	}
	status, code := "ok", http.StatusOK
	body := map[string]any{"checks": results}
	if len(down) > 0 {
		status, code = "unavailable", http.StatusServiceUnavailable
		body["down"] = down
		body["error"] = "not ready: " + joinNames(down) + " down"
	}
	body["status"] = status
	writeJSON(w, code, body)
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// handleTest answers GET /test/ as the original backend did.
func (s *Server) handleTest(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"message": "CRM API is running", "status": "ok"})
}
