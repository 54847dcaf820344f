//go:build faults

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmteam/crm/store/storetest"
)

// workerConcurrency is how many jobs one crm worker runs at once (run.go).
const workerConcurrency = 8

// Two servers and two workers on different ports share one database and one
// Redis, as several machines behind a load balancer would, with no sticky
// sessions. A lead moved through one server is seen through the other; a
// browser's conversation started on one continues on the other; chat jobs
// sent through both are spread over both workers, and each runs exactly once.
func TestScaleTwoServersTwoWorkers(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	const jobs = 2 * workerConcurrency

	// The model holds every turn's first call until more are waiting than one
	// worker can run: proof that both workers are taking jobs at once.
	var mu sync.Mutex
	waiting, peak := 0, 0
	allIn := make(chan struct{})
	llm := startFakeLLM(t, func(w http.ResponseWriter, r *http.Request, req chatRequest) {
		name := strings.TrimPrefix(req.lastUser(), "add ")
		if !req.afterTool() {
			mu.Lock()
			waiting++
			peak = max(peak, waiting)
			if waiting == workerConcurrency+1 {
				close(allIn)
			}
			mu.Unlock()
			select {
			case <-allIn:
			case <-time.After(60 * time.Second):
			case <-r.Context().Done():
			}
			mu.Lock()
			waiting--
			mu.Unlock()
		}
		createLeadModel(name)(w, r, req)
	})
	env := crmEnv(dbURL, storetest.NewRedisURL(t))
	env["WORKER"] = "false"
	for k, v := range llm.env() {
		env[k] = v
	}
	servers := []*proc{startCRM(t, "serve-1", "serve", env), startCRM(t, "serve-2", "serve", env)}
	workers := []*proc{startCRM(t, "worker-1", "worker", env), startCRM(t, "worker-2", "worker", env)}
	for _, w := range workers {
		w.waitReady("/healthz")
	}
	for _, s := range servers {
		s.waitReady("/readyz")
	}
	if got := servers[0].metric("crm_workers", nil); got != 2 {
		t.Errorf("crm_workers: got %v, want 2", got)
	}

	// A lead moved through one server is seen through the other.
	api := apiClient(t, dbURL, "scale-api")
	id := api.createLead(servers[0].base, `{"name":"Shared Lead","status":"Interest"}`)
	api.expect(200, "PUT", servers[0].base+"/leads/"+id+"/status/", `{"status":"Proposal sent","card_order":0}`)
	if got := api.expect(200, "GET", servers[1].base+"/leads/"+id+"/", "").json(t)["status"]; got != "Proposal sent" {
		t.Errorf("status through serve-2 after a move through serve-1: got %v, want Proposal sent", got)
	}
	api.expect(200, "PUT", servers[1].base+"/leads/"+id+"/status/", `{"status":"Negotiation","card_order":0}`)
	if got := api.expect(200, "GET", servers[0].base+"/leads/"+id+"/", "").json(t)["status"]; got != "Negotiation" {
		t.Errorf("status through serve-1 after a move through serve-2: got %v, want Negotiation", got)
	}

	// A browser's session lives in PostgreSQL: signed in through serve-1, its
	// message shows in the panel served by serve-2 (cookies are per host, not
	// per port, as behind one load balancer).
	browser := browserClient(t, dbURL, servers[0].base)
	if page := browser.expect(200, "GET", servers[1].base+"/", ""); !strings.Contains(string(page.body), "Shared Lead") {
		t.Errorf("board through serve-2 with the session from serve-1: got a page without Shared Lead:\n%.300s", page.body)
	}
	if r := browser.htmx("POST", servers[0].base+"/chat/panel/messages", url.Values{"message": {"add Session Lead"}}); r.status != 200 {
		t.Fatalf("chat panel send through serve-1: got %d %s, want 200", r.status, r.body)
	}
	if panel := string(browser.htmx("GET", servers[1].base+"/chat/panel", nil).body); !strings.Contains(panel, "add Session Lead") {
		t.Errorf("chat panel through serve-2: got %.400q, want the message sent through serve-1", panel)
	}

	// Chat jobs through both servers.
	tasks := map[string]string{} // task id -> lead name
	clients := map[string]*client{}
	for i := range jobs {
		name := fmt.Sprintf("Scale Lead %02d", i)
		c := apiClient(t, dbURL, fmt.Sprintf("scale-%02d", i))
		task := c.sendChat(servers[i%2].base, "add "+name)
		tasks[task], clients[task] = name, c
	}
	for task, c := range clients {
		if state, msg, _ := c.waitChat(servers[0].base, task, 2*time.Minute); state != "SUCCESS" {
			t.Errorf("chat job %s (%s): got %s (%s), want SUCCESS", task, tasks[task], state, msg)
		}
	}
	waitFor(t, 60*time.Second, "the session's reply", func() error {
		if panel := string(browser.htmx("GET", servers[1].base+"/chat/panel", nil).body); !strings.Contains(panel, "Added Session Lead") {
			return fmt.Errorf("no reply in the panel yet")
		}
		return nil
	})

	mu.Lock()
	gotPeak := peak
	mu.Unlock()
	if gotPeak <= workerConcurrency {
		t.Errorf("turns waiting for the model at once: got %d, want more than %d (one worker's concurrency)", gotPeak, workerConcurrency)
	}

	// Each job ran once: one lead each, one claim each, one "job done" line in
	// all the workers' logs, and the workers' counts add up.
	_, names := checkColumns(t, api.board(servers[1].base))
	for _, name := range tasks {
		if got := countName(names, name); got != 1 {
			t.Errorf("leads named %s: got %d, want 1", name, got)
		}
	}
	done := map[string]int{}
	total := 0.0
	for _, w := range workers {
		n := w.metric("crm_jobs_processed_total", map[string]string{"type": "chat:reply"})
		if n < 1 {
			t.Errorf("jobs run by %s: got %v, want at least 1", w.name, n)
		}
		total += n
		for _, e := range w.logsWith("job done") {
			if id, ok := e["job_id"].(string); ok {
				done[id]++
			}
		}
	}
	if total != jobs+1 {
		t.Errorf("jobs run by both workers: got %v, want %d", total, jobs+1)
	}
	for task, name := range tasks {
		if done[task] != 1 {
			t.Errorf("\"job done\" lines for %s (%s): got %d, want 1", task, name, done[task])
		}
		if got := replyAttempts(t, dbURL, task); got != 1 {
			t.Errorf("claims of %s (%s): got %d, want 1", task, name, got)
		}
	}
	if t.Failed() {
		b, _ := json.Marshal(done)
		t.Logf("job done lines by job id: %s", b)
	}
}
