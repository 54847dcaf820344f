package handlers_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// sweepEnv is the imports API over a queue on a Redis of the test's own, the
// worker's sweeper (Tasks), and an inspector to lose and archive tasks with.
type sweepEnv struct {
	ts        *httptest.Server
	st        *store.Store
	pool      *pgxpool.Pool
	redisOpt  asynq.RedisConnOpt
	inspector *asynq.Inspector
	tasks     *handlers.Tasks
}

func newSweepEnv(t *testing.T) *sweepEnv {
	t.Helper()
	st, pool := storetest.NewStore(t)
	redisOpt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	inspector := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { inspector.Close() })
	queue := &handlers.Queue{Client: client, Inspector: inspector}
	srv := &handlers.Server{Store: st, Log: discardLog(), Enqueuer: queue,
		Security: handlers.Security{Limits: handlers.Limits{APIPerToken: handlers.Rate{N: -1}}}}
	u := handlers.UserForTest(t, st, "sweeper@example.com", store.RoleMember)
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "sweep tests")))
	t.Cleanup(ts.Close)
	return &sweepEnv{ts: ts, st: st, pool: pool, redisOpt: redisOpt, inspector: inspector,
		tasks: &handlers.Tasks{Store: st, Log: discardLog(), Enqueuer: queue}}
}

// upload imports a small file (its job queued, no worker yet) and returns the
// import's id.
func (e *sweepEnv) upload(t *testing.T, name string) uuid.UUID {
	t.Helper()
	r := do(t, e.ts, "POST", "/imports/?file_name="+name+".csv", "text/csv",
		"Name,Company\n"+name+" One,Acme\n"+name+" Two,Globex\n")
	if r.status != 202 {
		t.Fatalf("upload %s: %d %s", name, r.status, r.body)
	}
	return uuid.MustParse(r.json(t)["id"].(string))
}

func (e *sweepEnv) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// taskState is the state of import id's task, or "none".
func (e *sweepEnv) taskState(t *testing.T, id uuid.UUID) string {
	t.Helper()
	info, err := e.inspector.GetTaskInfo("default", "import-"+id.String())
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	return info.State.String()
}

func (e *sweepEnv) startWorker(t *testing.T) {
	t.Helper()
	w := asynq.NewServer(e.redisOpt, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel,
		TaskCheckInterval: 20 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	if err := w.Start(handlers.NewTaskMux(e.tasks)); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Shutdown)
}

// TestImportSweeper loses the jobs of imports in the ways the queue loses
// them and checks that the sweeper enqueues them again (and the worker then
// runs them), fails the one whose job failed its last attempt, and leaves
// alone the jobs still on the queue and the imports too new to be lost.
func TestImportSweeper(t *testing.T) {
	t.Parallel()
	e := newSweepEnv(t)
	ctx := context.Background()

	// Lost while queued: Redis restarted without its data a while ago.
	lost := e.upload(t, "lost")
	if err := e.inspector.DeleteTask("default", "import-"+lost.String()); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `UPDATE imports SET created_at = now() - interval '2 minutes' WHERE id = $1`, lost)
	// Lost while running: the worker crashed, then Redis lost the task.
	crashed := e.upload(t, "crashed")
	if err := e.inspector.DeleteTask("default", "import-"+crashed.String()); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `UPDATE imports SET state = 'running', started_at = now() - interval '5 minutes',
		lease_until = now() - interval '1 minute', created_at = now() - interval '5 minutes' WHERE id = $1`, crashed)
	// Failed for good: the worker crashed on the last attempt, asynq archived
	// the task, and nobody marked the import failed.
	gaveUp := e.upload(t, "gaveup")
	if err := e.inspector.ArchiveTask("default", "import-"+gaveUp.String()); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `UPDATE imports SET state = 'running', lease_until = now() - interval '1 minute' WHERE id = $1`, gaveUp)
	// Waiting its turn on the queue (the workers are busy): left alone.
	waiting := e.upload(t, "waiting")
	e.exec(t, `UPDATE imports SET created_at = now() - interval '2 minutes' WHERE id = $1`, waiting)
	// Its task lost a moment ago: too new to tell from one about to start.
	fresh := e.upload(t, "fresh")
	if err := e.inspector.DeleteTask("default", "import-"+fresh.String()); err != nil {
		t.Fatal(err)
	}

	for range 2 { // a second sweep (another worker's) changes nothing more
		if err := e.tasks.SweepImports(ctx, time.Now()); err != nil {
			t.Fatalf("sweep: %v", err)
		}
	}
	for id, want := range map[uuid.UUID]string{lost: "pending", crashed: "pending", gaveUp: "archived", waiting: "pending", fresh: "none"} {
		if got := e.taskState(t, id); got != want {
			t.Errorf("task of import %s: %s, want %s", id, got, want)
		}
	}
	g := doJSON(t, e.ts, "GET", "/imports/"+gaveUp.String()+"/", "").json(t)
	if g["state"] != "failed" || !strings.Contains(g["error"].(string), "server error") {
		t.Errorf("import whose job gave up: %v %v, want failed saying why", g["state"], g["error"])
	}

	e.startWorker(t)
	for _, id := range []uuid.UUID{lost, crashed, waiting} {
		m := waitImport(t, e.ts, "/imports/"+id.String()+"/")
		if m["state"] != "done" || m["created"] != 2.0 {
			t.Errorf("import %s after the sweep: %v, %v created; want done, 2", id, m["state"], m["created"])
		}
	}
	if m := doJSON(t, e.ts, "GET", "/imports/"+fresh.String()+"/", "").json(t); m["state"] != "queued" {
		t.Errorf("fresh import: %v, want queued (the next sweeps enqueue it)", m["state"])
	}
	// A minute later it is lost for the sweeper too.
	if err := e.tasks.SweepImports(ctx, time.Now().Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m := waitImport(t, e.ts, "/imports/"+fresh.String()+"/"); m["state"] != "done" {
		t.Errorf("fresh import after a later sweep: %v, want done", m["state"])
	}
}

// TestImportSweeperCompletedTask: a completed task kept by a retention holds
// the import's task id; the sweeper makes room and enqueues the job again.
func TestImportSweeperCompletedTask(t *testing.T) {
	t.Parallel()
	e := newSweepEnv(t)
	id := e.upload(t, "kept")
	if err := e.inspector.DeleteTask("default", "import-"+id.String()); err != nil {
		t.Fatal(err)
	}
	// A task of the same id that completed and is kept for an hour.
	client := asynq.NewClient(e.redisOpt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("noop", nil), asynq.TaskID("import-"+id.String()), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	w := asynq.NewServer(e.redisOpt, asynq.Config{Concurrency: 1, LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond})
	mux := asynq.NewServeMux()
	mux.HandleFunc("noop", func(context.Context, *asynq.Task) error { return nil })
	if err := w.Start(mux); err != nil {
		t.Fatal(err)
	}
	for i := 0; e.taskState(t, id) != "completed"; i++ {
		if i == 500 {
			t.Fatalf("the noop task never completed: %s", e.taskState(t, id))
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.Shutdown()
	e.exec(t, `UPDATE imports SET created_at = now() - interval '2 minutes' WHERE id = $1`, id)
	if err := e.tasks.SweepImports(context.Background(), time.Now()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	if got := e.taskState(t, id); got != "pending" {
		t.Fatalf("task after the sweep: %s, want pending", got)
	}
	e.startWorker(t)
	if m := waitImport(t, e.ts, "/imports/"+id.String()+"/"); m["state"] != "done" || m["created"] != 2.0 {
		t.Errorf("import: %v, %v created; want done, 2", m["state"], m["created"])
	}
}
