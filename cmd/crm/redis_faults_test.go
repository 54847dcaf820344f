//go:build faults

package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/store/storetest"
)

// countRows counts the rows of table in the database at dbURL.
func countRows(t *testing.T, dbURL, table string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// Redis goes down and comes back empty (no persistence), with a chat reply
// waiting on its queue. While it is down the board and the lead API work, a
// chat message is refused with 503 "assistant unavailable, try again" and
// leaves no row behind, /readyz names redis and a scrape still answers. Once
// it is back the lost reply is enqueued again by a worker's sweeper and
// completes, exactly once.
func TestFaultRedisDown(t *testing.T) {
	t.Parallel()
	rs := startRedis(t)
	dbURL := storetest.NewDB(t)
	env := crmEnv(dbURL, rs.URL(0))
	env["WORKER"] = "false"
	srv := startCRM(t, "serve", "serve", env)
	w1 := startCRM(t, "worker-1", "worker", env)
	w1.waitReady("/healthz")
	srv.waitReady("/readyz") // postgres, redis and a worker

	api := apiClient(t, dbURL, "redis-down-api")
	base := srv.base
	lead := api.createLead(base, `{"name":"Before Outage","company":"Acme"}`)
	first := api.sendChat(base, "add Olga Ready from Initech")
	if state, msg, _ := api.waitChat(base, first, 60*time.Second); state != "SUCCESS" {
		t.Fatalf("chat before the outage: got %s (%s), want SUCCESS", state, msg)
	}

	// A reply waits on the queue with no worker running, then Redis dies.
	w1.signal(syscall.SIGTERM)
	if code := w1.waitExit(30 * time.Second); code != 0 {
		t.Fatalf("worker-1 exit code: got %d, want 0", code)
	}
	pat := apiClient(t, dbURL, "redis-down-pending")
	pending := pat.sendChat(base, "add Pat Pending from Globex")
	rs.stop()

	// The board and the lead API keep working.
	if page := api.expect(200, "GET", base+"/", ""); !strings.Contains(string(page.body), "Before Outage") {
		t.Errorf("GET / with Redis down: got a page without the lead Before Outage:\n%.300s", page.body)
	}
	if page := api.expect(200, "GET", base+"/board/leads/"+lead, ""); !strings.Contains(string(page.body), "Before Outage") {
		t.Errorf("GET /board/leads/{id} with Redis down: got a page without the lead:\n%.300s", page.body)
	}
	api.expect(200, "GET", base+"/leads/", "")
	during := api.createLead(base, `{"name":"During Outage"}`)
	api.expect(200, "PUT", base+"/leads/"+during+"/status/", `{"status":"Negotiation","card_order":0}`)
	api.expect(200, "PATCH", base+"/leads/"+lead+"/", `{"phone":"+1-555-0100"}`)

	// A chat message is refused, and nothing of it is written.
	rowsBefore := countRows(t, dbURL, "chat_messages")
	refused := apiClient(t, dbURL, "redis-down-refused")
	r := refused.do("POST", base+"/chat/", `{"message":"add Never Written"}`)
	if r.status != http.StatusServiceUnavailable || r.json(t)["error"] != "assistant unavailable, try again" {
		t.Errorf("POST /chat/ with Redis down: got %d %s, want 503 {\"error\": \"assistant unavailable, try again\"}", r.status, r.body)
	}
	panel := refused.htmx("POST", base+"/chat/panel/messages", url.Values{"message": {"add Never Written Either"}})
	if panel.status != http.StatusServiceUnavailable || !strings.Contains(string(panel.body), "assistant is unavailable") {
		t.Errorf("chat panel send with Redis down: got %d %q, want 503 saying the assistant is unavailable", panel.status, panel.body)
	}
	if got := countRows(t, dbURL, "chat_messages"); got != rowsBefore {
		t.Errorf("chat_messages after refused sends: got %d rows, want %d (nothing half-written)", got, rowsBefore)
	}

	// /readyz says what is down; a scrape answers and says the queue is unreachable.
	rz := api.do("GET", base+"/readyz", "")
	if rz.status != http.StatusServiceUnavailable || !strings.Contains(rz.json(t)["error"].(string), "redis") {
		t.Errorf("GET /readyz with Redis down: got %d %s, want 503 naming redis", rz.status, rz.body)
	}
	api.expect(200, "GET", base+"/readyz?check=postgres", "")
	if up := srv.metric("crm_queue_up", nil); up != 0 {
		t.Errorf("crm_queue_up with Redis down: got %v, want 0", up)
	}

	// Redis comes back, empty; a new worker starts.
	rs.start()
	w2 := startCRM(t, "worker-2", "worker", env)
	state, msg, _ := pat.waitChat(base, pending, 3*time.Minute)
	if state != "SUCCESS" {
		t.Fatalf("the reply pending when Redis died: got %s (%s), want SUCCESS", state, msg)
	}
	again := 0
	for _, e := range w2.logsWith("chat reply enqueued again") {
		if e["reply_id"] == pending {
			again++
		}
	}
	if again != 1 {
		t.Errorf("worker-2 log lines \"chat reply enqueued again\" for %s: got %d, want 1", pending, again)
	}
	// Sending works again at once.
	after := api.sendChat(base, "add Quinn After from Hooli")
	if state, msg, _ := api.waitChat(base, after, 60*time.Second); state != "SUCCESS" {
		t.Fatalf("chat after the outage: got %s (%s), want SUCCESS", state, msg)
	}
	srv.waitReady("/readyz")

	n, names := checkColumns(t, api.board(base))
	for name, want := range map[string]int{
		"Before Outage": 1, "During Outage": 1, "Olga Ready": 1, "Pat Pending": 1, "Quinn After": 1,
		"Never Written": 0, "Never Written Either": 0,
	} {
		if got := countName(names, name); got != want {
			t.Errorf("leads named %q: got %d, want %d (board: %v)", name, got, want, names)
		}
	}
	if n != 5 {
		t.Errorf("leads on the board: got %d, want 5: %v", n, names)
	}
}
