//go:build faults

package main

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5"

	"github.com/crmteam/crm/store/storetest"
)

// replyAttempts returns how often workers claimed the chat reply id.
func replyAttempts(t *testing.T, dbURL, id string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT attempts FROM chat_messages WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatalf("attempts of reply %s: %v", id, err)
	}
	return n
}

// queueIdle reports an error while the queue still holds a task that may run:
// pending, active, scheduled or waiting for a retry.
func queueIdle(insp *asynq.Inspector) error {
	q, err := insp.GetQueueInfo("default")
	if err != nil {
		return err
	}
	if n := q.Pending + q.Active + q.Scheduled + q.Retry; n > 0 {
		return fmt.Errorf("%d pending, %d active, %d scheduled, %d retry", q.Pending, q.Active, q.Scheduled, q.Retry)
	}
	return nil
}

// A worker is killed (SIGKILL) while its job waits for the model. Another worker
// picks the job up again (the sweeper re-enqueues a reply whose worker's lease
// ran out; asynq's recoverer re-delivers the killed task too) and the change
// happens exactly once: one lead, one SUCCESS, and the model asked once more
// for the second attempt only.
func TestFaultWorkerKilledMidJob(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	redisURL := storetest.NewRedisURL(t)
	inFirstCall := make(chan struct{})
	var called atomic.Bool
	answer := createLeadModel("Killian Once")
	llm := startFakeLLM(t, func(w http.ResponseWriter, r *http.Request, req chatRequest) {
		if called.CompareAndSwap(false, true) {
			close(inFirstCall)
			<-r.Context().Done() // hang until the worker is gone
			return
		}
		answer(w, r, req)
	})
	env := crmEnv(dbURL, redisURL)
	env["WORKER"] = "false"
	env["ASSISTANT_TURN_TIMEOUT"] = "5s" // the killed worker's claim lasts 35s
	for k, v := range llm.env() {
		env[k] = v
	}
	srv := startCRM(t, "serve", "serve", env)
	w1 := startCRM(t, "worker-1", "worker", env)
	srv.waitReady("/readyz")

	api := apiClient(t, dbURL, "killed-worker")
	task := api.sendChat(srv.base, "add Killian Once from Faults Inc")
	select {
	case <-inFirstCall:
	case <-time.After(60 * time.Second):
		t.Fatal("worker-1 did not call the model within 60s")
	}
	if state, _, _ := api.chatState(srv.base, task); state != "PROCESSING" {
		t.Fatalf("reply while worker-1 waits for the model: got %s, want PROCESSING", state)
	}
	w1.signal(syscall.SIGKILL)
	w1.waitExit(30 * time.Second)

	w2 := startCRM(t, "worker-2", "worker", env)
	state, msg, _ := api.waitChat(srv.base, task, 3*time.Minute)
	if state != "SUCCESS" {
		t.Fatalf("reply after worker-1 was killed: got %s (%s), want SUCCESS", state, msg)
	}

	// Let every delivery of the task run, the killed one included (asynq hands
	// it out again once its lease is long expired), before counting.
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	waitFor(t, 4*time.Minute, "every delivery of the task run", func() error { return queueIdle(insp) })

	_, names := checkColumns(t, api.board(srv.base))
	if got := countName(names, "Killian Once"); got != 1 {
		t.Errorf("leads named Killian Once: got %d, want 1", got)
	}
	if got := replyAttempts(t, dbURL, task); got != 2 {
		t.Errorf("claims of the reply: got %d, want 2 (the killed one and the one that finished)", got)
	}
	if got := llm.callCount(); got != 3 {
		t.Errorf("calls to the model: got %d, want 3 (1 cut off by the kill, 2 for the finished turn)", got)
	}
	if got := w2.metric("crm_jobs_processed_total", map[string]string{"type": "chat:reply", "result": "ok"}); got < 1 {
		t.Errorf("jobs worker-2 ran: got %v, want at least 1", got)
	}
	turns := 0
	for _, e := range w2.logsWith("assistant turn") {
		if e["reply_id"] == task {
			turns++
			if e["job_id"] == nil {
				t.Errorf("\"assistant turn\" log line without job_id: %v", e)
			}
		}
	}
	if turns != 1 {
		t.Errorf("worker-2 \"assistant turn\" lines for the reply: got %d, want 1", turns)
	}
}
