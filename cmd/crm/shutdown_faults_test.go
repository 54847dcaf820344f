//go:build faults

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/store/storetest"
)

// SIGTERM while a request is in flight (a move waiting for a column's lock):
// serve stops taking connections, lets the request finish with 200 and exits
// 0 within SHUTDOWN_GRACE.
func TestFaultShutdownDrainsRequests(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	env := crmEnv(dbURL, storetest.NewRedisURL(t))
	env["WORKER"] = "false"
	env["SHUTDOWN_GRACE"] = "20s"
	srv := startCRM(t, "serve", "serve", env)
	srv.waitReady("/readyz?check=postgres,redis")
	api := apiClient(t, dbURL, "drain-api")
	id := api.createLead(srv.base, `{"name":"Drained Move","status":"Interest"}`)
	api.createLead(srv.base, `{"name":"Already There","status":"Negotiation"}`)

	// Hold the Negotiation column's lock, so the move waits for it.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM stages WHERE name = 'Negotiation' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	moved := make(chan reply, 1)
	go func() {
		r, err := newClient(t, api.token).try("PUT", srv.base+"/leads/"+id+"/status/", `{"status":"Negotiation","card_order":0}`)
		if err != nil {
			r = reply{status: -1, body: []byte(err.Error())}
		}
		moved <- r
	}()
	waitFor(t, 30*time.Second, "the move waiting for the column lock", func() error {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		if err == nil && n == 0 {
			err = fmt.Errorf("no backend waits for a lock")
		}
		return err
	})

	srv.signal(syscall.SIGTERM)
	waitFor(t, 10*time.Second, "serve shutting down", func() error {
		if len(srv.logsWith("shutting down")) == 0 {
			return fmt.Errorf("no \"shutting down\" line yet")
		}
		return nil
	})
	// New connections are refused while the move is still in flight.
	addr := strings.TrimPrefix(srv.base, "http://")
	waitFor(t, 10*time.Second, "new connections refused", func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return fmt.Errorf("a new connection to %s was accepted", addr)
		}
		return nil
	})
	select {
	case r := <-moved:
		t.Fatalf("the move answered %d %s before its lock was free", r.status, r.body)
	default:
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-moved
	if r.status != 200 {
		t.Errorf("the move in flight at shutdown: got %d %s, want 200", r.status, r.body)
	}
	if code := srv.waitExit(25 * time.Second); code != 0 {
		t.Errorf("serve exit code: got %d, want 0", code)
	}
	if len(srv.logsWith("stopped")) != 1 {
		t.Errorf("serve did not log \"stopped\"")
	}
	var status string
	var order int
	// The position is the rank of the lead's sort key in its column (migration 00005).
	if err := conn.QueryRow(ctx, `SELECT l.status, (SELECT count(*) FROM leads o WHERE o.status = l.status AND o.card_order < l.card_order)
		FROM leads l WHERE l.id = $1`, id).Scan(&status, &order); err != nil {
		t.Fatal(err)
	}
	if status != "Negotiation" || order != 0 {
		t.Errorf("the lead after the drained move: got %s #%d, want Negotiation #0", status, order)
	}
}

// holdingLLM is a fake model whose first call waits until release is closed (or
// the caller gives up); the others answer as createLeadModel(name).
func holdingLLM(t *testing.T, name string) (llm *fakeLLM, inFirst, release chan struct{}) {
	inFirst, release = make(chan struct{}), make(chan struct{})
	var called atomic.Bool
	answer := createLeadModel(name)
	llm = startFakeLLM(t, func(w http.ResponseWriter, r *http.Request, req chatRequest) {
		if called.CompareAndSwap(false, true) {
			close(inFirst)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		answer(w, r, req)
	})
	return llm, inFirst, release
}

// SIGTERM while a job waits for the model: the worker takes no new job, lets
// the running one finish within SHUTDOWN_GRACE and exits 0.
func TestFaultShutdownDrainsJobs(t *testing.T) {
	t.Parallel()
	llm, inFirst, release := holdingLLM(t, "Drained Job")
	dbURL := storetest.NewDB(t)
	env := crmEnv(dbURL, storetest.NewRedisURL(t))
	env["WORKER"] = "false"
	env["SHUTDOWN_GRACE"] = "20s"
	for k, v := range llm.env() {
		env[k] = v
	}
	srv := startCRM(t, "serve", "serve", env)
	w := startCRM(t, "worker", "worker", env)
	srv.waitReady("/readyz")
	api := apiClient(t, dbURL, "drained-job")
	task := api.sendChat(srv.base, "add Drained Job")
	select {
	case <-inFirst:
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not call the model within 60s")
	}
	w.signal(syscall.SIGTERM)
	waitFor(t, 10*time.Second, "worker shutting down", func() error {
		if len(w.logsWith("worker shutting down")) == 0 {
			return fmt.Errorf("no \"worker shutting down\" line yet")
		}
		return nil
	})
	close(release)
	if code := w.waitExit(25 * time.Second); code != 0 {
		t.Errorf("worker exit code: got %d, want 0", code)
	}
	if state, msg, _ := api.chatState(srv.base, task); state != "SUCCESS" {
		t.Errorf("the job in flight at shutdown: got %s (%s), want SUCCESS before the worker exited", state, msg)
	}
	_, names := checkColumns(t, api.board(srv.base))
	if got := countName(names, "Drained Job"); got != 1 {
		t.Errorf("leads named Drained Job: got %d, want 1", got)
	}
}

// A job that outlasts SHUTDOWN_GRACE is cut off: the worker still exits 0 at
// the end of the grace period, nothing of the turn is written, and the next
// worker finishes it, once.
func TestFaultShutdownGraceExceeded(t *testing.T) {
	t.Parallel()
	llm, inFirst, _ := holdingLLM(t, "Handed Back")
	dbURL := storetest.NewDB(t)
	env := crmEnv(dbURL, storetest.NewRedisURL(t))
	env["WORKER"] = "false"
	env["ASSISTANT_TURN_TIMEOUT"] = "5s"
	for k, v := range llm.env() {
		env[k] = v
	}
	srv := startCRM(t, "serve", "serve", env)
	wenv := cloneEnv(env)
	wenv["SHUTDOWN_GRACE"] = "2s"
	w1 := startCRM(t, "worker-1", "worker", wenv)
	srv.waitReady("/readyz")
	api := apiClient(t, dbURL, "handed-back")
	task := api.sendChat(srv.base, "add Handed Back")
	select {
	case <-inFirst:
	case <-time.After(60 * time.Second):
		t.Fatal("worker-1 did not call the model within 60s")
	}
	w1.signal(syscall.SIGTERM)
	if code := w1.waitExit(20 * time.Second); code != 0 {
		t.Errorf("worker-1 exit code: got %d, want 0", code)
	}
	if state, _, _ := api.chatState(srv.base, task); state == "SUCCESS" || state == "FAILURE" {
		t.Fatalf("reply after worker-1 gave up: got %s, want it still to be answered", state)
	}
	_, names := checkColumns(t, api.board(srv.base))
	if got := countName(names, "Handed Back"); got != 0 {
		t.Fatalf("leads named Handed Back after the cut-off turn: got %d, want 0", got)
	}

	startCRM(t, "worker-2", "worker", env)
	if state, msg, _ := api.waitChat(srv.base, task, 3*time.Minute); state != "SUCCESS" {
		t.Fatalf("reply after worker-2 started: got %s (%s), want SUCCESS", state, msg)
	}
	_, names = checkColumns(t, api.board(srv.base))
	if got := countName(names, "Handed Back"); got != 1 {
		t.Errorf("leads named Handed Back: got %d, want 1", got)
	}
}
