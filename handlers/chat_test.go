package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// chatEnv is the real stack of the assistant: the route table with sessions in
// PostgreSQL, a queue on a Redis database of the test's own, and (after
// startWorker) an asynq worker running the offline assistant.
type chatEnv struct {
	t        *testing.T
	st       *store.Store
	pool     *pgxpool.Pool
	redisOpt asynq.RedisConnOpt
	queue    *handlers.Queue
	tasks    *handlers.Tasks
	srv      *handlers.Server
	ts       *httptest.Server
	client   *http.Client
	user     store.User
	tokens   map[string]string
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newChatEnv(t *testing.T) *chatEnv {
	t.Helper()
	st, pool := storetest.NewStore(t)
	if _, err := st.SeedDemo(context.Background()); err != nil {
		t.Fatalf("seed demo: %v", err)
	}
	redisOpt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	sessions := scs.New()
	sessions.Store = pgxstore.NewWithCleanupInterval(pool, 0)
	sessions.Lifetime = 24 * time.Hour
	sessions.Cookie.HttpOnly = true
	sessions.Cookie.SameSite = http.SameSiteLaxMode
	sessions.Cookie.Name = "crm_session"
	e := &chatEnv{t: t, st: st, pool: pool, redisOpt: redisOpt}
	e.queue = &handlers.Queue{Client: client, TurnTimeout: 30 * time.Second}
	e.tasks = &handlers.Tasks{Store: st, Log: discardLog(), Assistant: assistant.New(st, discardLog(), assistant.Config{}),
		Enqueuer: e.queue, TurnTimeout: 30 * time.Second}
	// Every browser signs in as one member; the sign-in and chat rate limits
	// are off here, as the tests sign in and chat a lot (auth_limits_test.go
	// tests the limits).
	off := handlers.Rate{N: -1}
	e.srv = &handlers.Server{Store: st, Log: discardLog(), Version: "test", Sessions: sessions, Enqueuer: e.queue, AssistantMode: "offline",
		Security: handlers.Security{Limits: handlers.Limits{SignInPerAddress: off, SignInPerAccount: off, ChatPerUser: off}}}
	e.ts = httptest.NewServer(e.srv.Routes())
	t.Cleanup(e.ts.Close)
	e.user = handlers.UserForTest(t, st, "chat@example.com", store.RoleMember)
	e.tokens = map[string]string{}
	e.client = e.newClient()
	return e
}

// newClient is a client with a cookie jar of its own: another browser, signed
// in as the env's user.
func (e *chatEnv) newClient() *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	handlers.SignInClient(e.t, c, e.ts.URL, e.user.Email)
	return c
}

// asUser returns ctx acting as the env's user, as a signed-in request does:
// turns started with it are that user's.
func (e *chatEnv) asUser(ctx context.Context) context.Context {
	return store.WithActor(ctx, store.UserActor(e.user))
}

// token returns the secret of the env user's API token called name, made on
// first use: an API client.
func (e *chatEnv) token(name string) string {
	e.t.Helper()
	if tok, ok := e.tokens[name]; ok {
		return tok
	}
	e.tokens[name] = handlers.TokenForTest(e.t, e.st, e.user, name)
	return e.tokens[name]
}

// startWorker runs an asynq worker on the test's Redis until the test ends.
func (e *chatEnv) startWorker() {
	e.t.Helper()
	w := asynq.NewServer(e.redisOpt, asynq.Config{
		Concurrency: 4, LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
	})
	if err := w.Start(handlers.NewTaskMux(e.tasks)); err != nil {
		e.t.Fatalf("start worker: %v", err)
	}
	e.t.Cleanup(w.Shutdown)
}

type chatResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r chatResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (r chatResponse) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return d
}

// request makes a request with client c; headers are name, value pairs.
func (e *chatEnv) request(c *http.Client, method, path, contentType, body string, headers ...string) chatResponse {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return chatResponse{status: res.StatusCode, header: res.Header, body: b}
}

// send posts a chat message as JSON and returns the task id.
func (e *chatEnv) send(c *http.Client, message string, headers ...string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"message": message})
	r := e.request(c, "POST", "/chat/", "application/json", string(body), headers...)
	if r.status != http.StatusAccepted {
		e.t.Fatalf("POST /chat/ %q: got %d %s, want 202", message, r.status, r.body)
	}
	m := r.json(e.t)
	if m["status"] != "PENDING" {
		e.t.Errorf("POST /chat/ status: got %v, want PENDING", m["status"])
	}
	id, _ := m["task_id"].(string)
	if _, err := uuid.Parse(id); err != nil {
		e.t.Fatalf("task_id: got %q, want a UUID", id)
	}
	return id
}

// poll asks for a task's status until it is final, as a client would.
func (e *chatEnv) poll(c *http.Client, taskID string, headers ...string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.request(c, "GET", "/chat/status/"+taskID+"/", "", "", headers...)
		if r.status != http.StatusOK {
			e.t.Fatalf("GET status: got %d %s, want 200", r.status, r.body)
		}
		m := r.json(e.t)
		switch m["state"] {
		case "SUCCESS", "FAILURE":
			return m
		case "PENDING", "PROCESSING":
		default:
			e.t.Fatalf("state: got %v, want PENDING, PROCESSING, SUCCESS or FAILURE", m["state"])
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("task %s: got state %v after a minute, want it final", taskID, m["state"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// say sends a message and polls its reply's text.
func (e *chatEnv) say(c *http.Client, message string, headers ...string) string {
	e.t.Helper()
	m := e.poll(c, e.send(c, message, headers...), headers...)
	if m["state"] != "SUCCESS" {
		e.t.Fatalf("reply to %q: got %v (%v), want SUCCESS", message, m["state"], m["error"])
	}
	res, _ := m["result"].(map[string]any)
	text, _ := res["ai_message"].(string)
	return text
}

func (e *chatEnv) lead(name string) (store.Lead, bool) {
	e.t.Helper()
	ms, err := e.st.MatchLeads(context.Background(), name, 1)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Lead.Name != name {
		return store.Lead{}, false
	}
	return ms[0].Lead, true
}

func (e *chatEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitQueueEmpty waits until the worker has taken every task off the queue and
// finished it.
func (e *chatEnv) waitQueueEmpty() {
	e.t.Helper()
	in := asynq.NewInspector(e.redisOpt)
	defer in.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		q, err := in.GetQueueInfo("default")
		if err == nil && q.Pending+q.Active+q.Retry+q.Scheduled == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("queue: got %+v after a minute, want it empty (err %v)", q, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChatJobPath(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	e.startWorker()
	id := e.send(e.client, "move Jane Doe to meeting booked")
	m := e.poll(e.client, id)
	if m["state"] != "SUCCESS" || m["error"] != nil {
		t.Fatalf("status: got %v, want SUCCESS with error null", m)
	}
	res := m["result"].(map[string]any)
	if got := res["ai_message"]; got != "Moved Jane Doe (Example Corp) from Interest to Meeting booked." {
		t.Errorf("ai_message: got %q, want the move said", got)
	}
	ops := res["operations"].([]any)
	if len(ops) != 1 {
		t.Fatalf("operations: got %v, want one", ops)
	}
	op := ops[0].(map[string]any)
	if op["action"] != "update_lead_status" || op["status"] != "done" || op["lead"].(map[string]any)["status"] != "Meeting booked" {
		t.Errorf("operation: got %v, want update_lead_status done, lead in Meeting booked", op)
	}
	if l, _ := e.lead("Jane Doe"); l.Status != "Meeting booked" {
		t.Errorf("Jane Doe: got status %q, want Meeting booked", l.Status)
	}

	// The same path without trailing slashes, and the status read straight from
	// PostgreSQL: Redis no longer holds anything.
	r := e.request(e.client, "GET", "/chat/status/"+id, "", "")
	if r.status != http.StatusOK || r.json(t)["state"] != "SUCCESS" {
		t.Errorf("GET /chat/status/{id} without slash: got %d %s, want 200 SUCCESS", r.status, r.body)
	}
	e.waitQueueEmpty()
	rdb := asynq.NewInspector(e.redisOpt)
	defer rdb.Close()
	if qs, err := rdb.Queues(); err == nil {
		for _, q := range qs {
			if _, err := rdb.DeleteAllCompletedTasks(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r := e.request(e.client, "GET", "/chat/status/"+id+"/", "", ""); r.json(t)["state"] != "SUCCESS" {
		t.Errorf("status after Redis forgot the task: got %s, want SUCCESS", r.body)
	}
}

// TestChatJobRetriedOnce: a job delivered again (a retry, a duplicate, the
// sweeper's re-enqueue) after its turn was done changes nothing more; a job
// whose first worker died mid-turn is done once by the next.
func TestChatJobRetriedOnce(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	ctx := context.Background()

	// Two deliveries of the same reply before any worker runs, and a third later.
	id := e.send(e.client, "add Zed Zulu from Zulu Inc, value 5k")
	replyID := uuid.MustParse(id)
	if err := e.queue.EnqueueChatReply(ctx, replyID, 2); err != nil {
		t.Fatal(err)
	}
	e.startWorker()
	m := e.poll(e.client, id)
	if m["state"] != "SUCCESS" {
		t.Fatalf("state: got %v, want SUCCESS", m)
	}
	if err := e.queue.EnqueueChatReply(ctx, replyID, 3); err != nil {
		t.Fatal(err)
	}
	e.waitQueueEmpty()
	if n := e.count(`SELECT count(*) FROM leads WHERE name = 'Zed Zulu'`); n != 1 {
		t.Errorf("leads named Zed Zulu: got %d, want 1", n)
	}
	after := e.request(e.client, "GET", "/chat/status/"+id+"/", "", "").json(t)
	if diffText(m, after) {
		t.Errorf("status after the extra deliveries: got %v, want %v", after, m)
	}

	// A worker claimed the next reply and died (its lease ran out): the job
	// delivered again claims it anew and applies the change once.
	turn, err := e.st.StartChatTurn(e.asUser(ctx), "session:crashed", "add Yara Young", 200)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ClaimChatReply(ctx, turn.ReplyID, -time.Second, 20); err != nil {
		t.Fatal(err)
	}
	if err := e.queue.EnqueueChatReply(ctx, turn.ReplyID, 1); err != nil {
		t.Fatal(err)
	}
	m = e.poll(e.client, turn.ReplyID.String())
	if m["state"] != "SUCCESS" {
		t.Fatalf("state: got %v, want SUCCESS", m)
	}
	if n := e.count(`SELECT count(*) FROM leads WHERE name = 'Yara Young'`); n != 1 {
		t.Errorf("leads named Yara Young: got %d, want 1", n)
	}
	if n := e.count(`SELECT attempts FROM chat_messages WHERE id = $1`, turn.ReplyID); n != 2 {
		t.Errorf("attempts: got %d, want 2", n)
	}
}

func diffText(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return !bytes.Equal(x, y)
}

// TestChatSweeper: a reply Redis lost is enqueued again and answered; one nobody
// answered for long fails with a message.
func TestChatSweeper(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	ctx := context.Background()
	lost, err := e.st.StartChatTurn(e.asUser(ctx), "session:lost", "move Bob Martin to won", 200)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE chat_messages SET updated_at = now() - interval '2 minutes' WHERE id = $1`, lost.ReplyID); err != nil {
		t.Fatal(err)
	}
	old, err := e.st.StartChatTurn(e.asUser(ctx), "session:old", "move Grace Kim to won", 200)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE chat_messages SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour' WHERE id = $1`, old.ReplyID); err != nil {
		t.Fatal(err)
	}
	fresh, err := e.st.StartChatTurn(e.asUser(ctx), "session:fresh", "move Kenji to lost", 200)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tasks.Sweep(ctx, time.Now()); err != nil {
		t.Fatalf("sweep: %v", err)
	}
	e.startWorker()
	if m := e.poll(e.client, lost.ReplyID.String()); m["state"] != "SUCCESS" {
		t.Errorf("lost reply: got %v, want SUCCESS", m)
	}
	if l, _ := e.lead("Bob Martin"); l.Status != "Closed won" {
		t.Errorf("Bob Martin: got %q, want Closed won", l.Status)
	}
	m := e.poll(e.client, old.ReplyID.String())
	if m["state"] != "FAILURE" || !strings.Contains(m["error"].(string), "Nothing was changed") {
		t.Errorf("abandoned reply: got %v, want FAILURE saying nothing was changed", m)
	}
	if l, _ := e.lead("Grace Kim"); l.Status != "Closed lost" {
		t.Errorf("Grace Kim: got %q, want Closed lost (unchanged)", l.Status)
	}
	e.waitQueueEmpty()
	if s := e.request(e.client, "GET", "/chat/status/"+fresh.ReplyID.String()+"/", "", "").json(t)["state"]; s != "PENDING" {
		t.Errorf("fresh reply, never enqueued and not yet stale: got %v, want PENDING", s)
	}
}

// TestChatTurnTimeout: a turn that outlives its time limit fails cleanly.
func TestChatTurnTimeout(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	// The model never answers. (Reading the body lets the server notice when the
	// client gives up.)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	llm := assistant.NewLLM(assistant.LLMConfig{APIKey: "k", BaseURL: hang.URL + "/v1", Model: "m", Timeout: time.Minute}, discardLog())
	e.tasks.Assistant = assistant.New(e.st, discardLog(), assistant.Config{LLM: llm})
	e.tasks.TurnTimeout = 300 * time.Millisecond
	e.startWorker()
	before := e.request(e.client, "GET", "/leads/", "", "").body
	m := e.poll(e.client, e.send(e.client, "move Jane Doe to won"))
	if m["state"] != "FAILURE" || !strings.Contains(m["error"].(string), "ran out of time") || m["result"] != nil {
		t.Errorf("status: got %v, want FAILURE, ran out of time, result null", m)
	}
	if after := e.request(e.client, "GET", "/leads/", "", "").body; !bytes.Equal(before, after) {
		t.Errorf("leads changed after a failed turn: got %s, want %s", after, before)
	}
}

// TestChatRedisDown: when the job cannot be queued the send answers 503 and
// leaves nothing behind.
func TestChatRedisDown(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	down := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	e.srv.Enqueuer = &handlers.Queue{Client: down}
	r := e.request(e.client, "POST", "/chat/", "application/json", `{"message": "move Jane Doe to won"}`)
	if r.status != http.StatusServiceUnavailable || r.json(t)["error"] != "assistant unavailable, try again" {
		t.Errorf("POST /chat/: got %d %s, want 503 assistant unavailable, try again", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM chat_messages`); n != 0 {
		t.Errorf("chat messages left behind: got %d, want 0", n)
	}
	p := e.request(e.client, "POST", views.ChatSendPath, "application/x-www-form-urlencoded", "message=hello", "HX-Request", "true")
	if p.status != http.StatusServiceUnavailable || p.header.Get("HX-Retarget") != views.ChatErrorID.Sel() ||
		!strings.Contains(string(p.body), "unavailable") {
		t.Errorf("panel send: got %d %v %s, want 503 retargeted to the panel's error", p.status, p.header, p.body)
	}
	if n := e.count(`SELECT count(*) FROM chat_messages`); n != 0 {
		t.Errorf("chat messages left behind: got %d, want 0", n)
	}
}

func TestChatSendBadInput(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	long := strings.Repeat("a", store.MaxChatMessageLen+1)
	tests := []struct {
		name, path, contentType, body string
		status                        int
		err                           string
	}{
		{"no content type", "/chat/", "", `{"message": "hi"}`, 415, "Content-Type must be application/json"},
		{"form content type", "/chat/", "application/x-www-form-urlencoded", "message=hi", 415, "Content-Type must be application/json"},
		{"empty body", "/chat/", "application/json", "", 400, "request body is empty; send a JSON object"},
		{"malformed JSON", "/chat/", "application/json", `{"message": "hi"`, 400, "malformed JSON: unexpected end of input"},
		{"not an object", "/chat/", "application/json", `["hi"]`, 400, "request body must be a JSON object"},
		{"no message", "/chat/", "application/json", `{}`, 400, "Message is required"},
		{"null message", "/chat", "application/json", `{"message": null}`, 400, "Message is required"},
		{"empty message", "/chat", "application/json", `{"message": "   "}`, 400, "Message is required"},
		{"message not a string", "/chat/", "application/json", `{"message": 42}`, 400, "message must be a string"},
		{"unknown field", "/chat/", "application/json", `{"message": "hi", "session_key": "x"}`, 400, `unknown field "session_key"`},
		{"overlong message", "/chat/", "application/json", `{"message": "` + long + `"}`, 400, "message must be at most 4000 characters"},
		{"NUL in message", "/chat/", "application/json", `{"message": "a\u0000b"}`, 400, "message must not contain NUL characters"},
		{"body over 1 MiB", "/chat/", "application/json", `{"message": "` + strings.Repeat("a", 1<<20) + `"}`, 413, "request body is larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.request(e.client, "POST", tt.path, tt.contentType, tt.body)
			if r.status != tt.status {
				t.Errorf("status: got %d %s, want %d", r.status, r.body, tt.status)
			}
			if got := r.json(t)["error"]; got != tt.err {
				t.Errorf("error: got %q, want %q", got, tt.err)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM chat_messages`); n != 0 {
		t.Errorf("chat messages stored from bad input: got %d, want 0", n)
	}
	for _, tt := range []struct{ method, path string }{{"GET", "/chat/status/not-a-uuid/"}, {"GET", "/chat/status/" + uuid.NewString() + "/"}} {
		r := e.request(e.client, tt.method, tt.path, "", "")
		if r.status != http.StatusNotFound || r.json(t)["error"] != "Task not found" {
			t.Errorf("%s %s: got %d %s, want 404 Task not found", tt.method, tt.path, r.status, r.body)
		}
	}
	// A user message's id is not a task.
	id := e.send(e.client, "hello")
	var msgID string
	if err := e.pool.QueryRow(context.Background(), `SELECT reply_to::text FROM chat_messages WHERE id = $1`, id).Scan(&msgID); err != nil {
		t.Fatal(err)
	}
	if r := e.request(e.client, "GET", "/chat/status/"+msgID+"/", "", ""); r.status != http.StatusNotFound {
		t.Errorf("status of a user message: got %d, want 404", r.status)
	}
	if r := e.request(e.client, "GET", "/chat/", "", ""); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
		t.Errorf("GET /chat/: got %d Allow %q, want 405 Allow POST", r.status, r.header.Get("Allow"))
	}
	if r := e.request(e.client, "POST", "/chat/", "application/json", `{"message": "hi"}`, "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site POST /chat/: got %d, want 403", r.status)
	}
}

// TestChatOneTurnAtATime: a second message while the first is unanswered is
// refused with 409; once answered, the next goes through.
func TestChatOneTurnAtATime(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	e.send(e.client, "pipeline summary")
	r := e.request(e.client, "POST", "/chat/", "application/json", `{"message": "again"}`)
	if r.status != http.StatusConflict || !strings.Contains(r.json(t)["error"].(string), "still answering") {
		t.Errorf("second send: got %d %s, want 409 still answering", r.status, r.body)
	}
	other := e.newClient()
	e.send(other, "pipeline summary") // another conversation is not held up
	e.startWorker()
	e.waitQueueEmpty()
	e.say(e.client, "pipeline summary")
}

// TestChatConversations: a browser session and a bearer token each have their own
// conversation: a yes in one does not confirm a delete asked in another, and the
// history survives a reload (a new request with the same cookie).
func TestChatConversations(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	e.startWorker()
	r := e.request(e.client, "POST", "/chat/", "application/json", `{"message": "delete Bob Martin"}`)
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "crm_session" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge != 86400 {
		t.Fatalf("session cookie: got %+v, want crm_session, HttpOnly, SameSite=Lax, Max-Age 86400", cookie)
	}
	e.poll(e.client, r.json(t)["task_id"].(string))

	// Another browser's yes, and a bearer client's, confirm nothing.
	if text := e.say(e.newClient(), "yes"); !strings.Contains(text, "nothing waiting") {
		t.Errorf("another browser's yes: got %q, want nothing waiting", text)
	}
	tokA := []string{"Authorization", "Bearer " + e.token("token-a")}
	if text := e.say(e.newClient(), "yes", tokA...); !strings.Contains(text, "nothing waiting") {
		t.Errorf("a bearer client's yes: got %q, want nothing waiting", text)
	}
	if _, ok := e.lead("Bob Martin"); !ok {
		t.Fatalf("Bob Martin: deleted by someone else's yes, want kept")
	}
	// The browser's own yes deletes.
	if text := e.say(e.client, "yes"); text != "Deleted Bob Martin (Acme Inc)." {
		t.Errorf("the browser's yes: got %q, want Deleted Bob Martin (Acme Inc).", text)
	}

	// A bearer token keeps its conversation across requests and clients, without
	// a cookie; another token has another conversation.
	e.say(e.newClient(), "delete Grace Kim", tokA...)
	resp := e.request(e.newClient(), "POST", "/chat/", "application/json", `{"message": "yes"}`, "Authorization", "Bearer "+e.token("token-b"))
	var setCookies []string
	for _, c := range (&http.Response{Header: resp.header}).Cookies() {
		setCookies = append(setCookies, c.Name)
	}
	if strings.Join(setCookies, ",") != "crm_chat_client" {
		t.Errorf("bearer request: got Set-Cookie %v, want only crm_chat_client (no session)", setCookies)
	}
	e.poll(e.client, resp.json(t)["task_id"].(string))
	if _, ok := e.lead("Grace Kim"); !ok {
		t.Fatalf("Grace Kim: deleted by another token's yes, want kept")
	}
	if text := e.say(e.newClient(), "yes", tokA...); text != "Deleted Grace Kim (Seoul Bakery Group)." {
		t.Errorf("token A's yes: got %q, want Deleted Grace Kim (Seoul Bakery Group).", text)
	}
	var tokenStored int
	tokenStored = e.count(`SELECT count(*) FROM conversations WHERE owner_key LIKE '%' || $1 || '%'`, e.token("token-a"))
	if tokenStored != 0 {
		t.Errorf("conversations keyed by the raw token: got %d, want 0 (only its hash)", tokenStored)
	}

	// The panel shows the browser's history after a reload.
	p := e.request(e.client, "GET", views.ChatPanelURL, "", "", "HX-Request", "true")
	doc := p.doc(t)
	var texts []string
	doc.Find("#chat-messages > li:not(.chat-intro) .chat-text").Each(func(_ int, s *goquery.Selection) { texts = append(texts, s.Text()) })
	want := []string{"delete Bob Martin", "Delete Bob Martin (Acme Inc, Interest, $20,000)? Reply \"yes\" to delete it; anything else cancels.", "yes", "Deleted Bob Martin (Acme Inc)."}
	if strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("panel history: got %q, want %q", texts, want)
	}

	// Clearing starts over.
	c := e.request(e.client, "POST", "/chat/clear/", "", "")
	if c.status != http.StatusOK || c.json(t)["status"] != "cleared" {
		t.Errorf("POST /chat/clear/: got %d %s, want 200 cleared", c.status, c.body)
	}
	if n := e.request(e.client, "GET", views.ChatPanelURL, "", "", "HX-Request", "true").doc(t).Find("#chat-messages > li:not(.chat-intro)").Length(); n != 0 {
		t.Errorf("messages after clear: got %d, want 0", n)
	}
	if c := e.request(e.newClient(), "POST", "/chat/clear", "application/json", `{}`); c.status != http.StatusOK {
		t.Errorf("clear without a conversation: got %d, want 200", c.status)
	}
}

func TestChatPanel(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	htmx := []string{"HX-Request", "true"}

	// Outside htmx the panel's URL is the board's.
	if r := e.request(e.client, "GET", views.ChatPanelURL, "", ""); r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Errorf("GET /chat/panel without htmx: got %d %q, want 303 to /", r.status, r.header.Get("Location"))
	}
	p := e.request(e.client, "GET", views.ChatPanelURL, "", "", htmx...)
	doc := p.doc(t)
	if p.status != http.StatusOK || doc.Find("form#chat-form[hx-post='/chat/panel/messages'] input[name=message]").Length() != 1 {
		t.Fatalf("panel: got %d %s, want 200 with the message form", p.status, p.body)
	}
	if got := doc.Find(".chat-mode").Text(); got != "Built-in (offline)" {
		t.Errorf("mode: got %q, want Built-in (offline)", got)
	}
	if doc.Find("script, [onclick], [style]").Length() != 0 {
		t.Errorf("panel has inline script or style, want none")
	}

	// Bad input shows in the panel's error region.
	bad := e.request(e.client, "POST", views.ChatSendPath, "application/x-www-form-urlencoded", "message=+++", htmx...)
	if bad.status != http.StatusUnprocessableEntity || bad.header.Get("HX-Retarget") != "#chat-error" || !strings.Contains(string(bad.body), "Type a message first.") {
		t.Errorf("empty message: got %d %v %s, want 422 retargeted to #chat-error", bad.status, bad.header, bad.body)
	}

	// A send shows the person's message at once and a reply that polls.
	msg := "move Jane Doe to won"
	s := e.request(e.client, "POST", views.ChatSendPath, "application/x-www-form-urlencoded", url.Values{"message": {msg}}.Encode(), htmx...)
	sd := s.doc(t)
	if s.status != http.StatusOK || sd.Find("li.chat-msg-user .chat-text").Text() != msg {
		t.Fatalf("send: got %d %s, want the message", s.status, s.body)
	}
	thinking := sd.Find("li.chat-thinking")
	replyURL, _ := thinking.Attr("hx-get")
	if trig, _ := thinking.Attr("hx-trigger"); trig != "load" || !strings.HasPrefix(replyURL, "/chat/panel/replies/") || !strings.HasSuffix(replyURL, "?wait=1") {
		t.Fatalf("pending reply: got hx-get %q hx-trigger %q, want a long poll of its fragment at once", replyURL, trig)
	}
	if oob, _ := sd.Find("form#chat-form").Attr("hx-swap-oob"); oob != "true" {
		t.Errorf("form after send: got hx-swap-oob %q, want true (an empty form)", oob)
	}
	poll := e.request(e.client, "GET", strings.TrimSuffix(replyURL, "?wait=1"), "", "", htmx...)
	if _, ok := poll.doc(t).Find("li").Attr("hx-trigger"); !ok || poll.header.Get("HX-Trigger") != "" {
		t.Errorf("pending poll: got %s (HX-Trigger %q), want still polling and no event", poll.body, poll.header.Get("HX-Trigger"))
	}

	e.startWorker()
	e.waitQueueEmpty()
	final := e.request(e.client, "GET", replyURL, "", "", htmx...)
	fd := final.doc(t)
	if _, polling := fd.Find("li").Attr("hx-trigger"); polling {
		t.Errorf("final reply: still has hx-trigger, want none: %s", final.body)
	}
	if got := final.header.Get("HX-Trigger"); got != "leads-changed" {
		t.Errorf("final reply that moved a lead: got HX-Trigger %q, want leads-changed", got)
	}
	if got := fd.Find(".chat-text").Text(); got != "Moved Jane Doe (Example Corp) from Interest to Closed won." {
		t.Errorf("final reply: got %q, want the move said", got)
	}

	// Markup in a message is text, in the message and in the reply quoting it.
	evil := `find <script>alert(1)</script><img src=x onerror=alert(2)>`
	x := e.request(e.client, "POST", views.ChatSendPath, "application/x-www-form-urlencoded", url.Values{"message": {evil}}.Encode(), htmx...)
	xd := x.doc(t)
	if xd.Find("li.chat-msg-user .chat-text").Text() != evil || xd.Find("script, img").Length() != 0 {
		t.Errorf("send with markup: got %s, want it escaped", x.body)
	}
	xURL, _ := xd.Find("li.chat-thinking").Attr("hx-get")
	e.waitQueueEmpty()
	if xf := e.request(e.client, "GET", xURL, "", "", htmx...); xf.doc(t).Find("script, img").Length() != 0 {
		t.Errorf("reply quoting markup: got %s, want it escaped", xf.body)
	}

	// A reply that changed nothing triggers nothing.
	q := e.request(e.client, "POST", views.ChatSendPath, "application/x-www-form-urlencoded", "message=what+is+Bob+Martin%27s+phone", htmx...)
	qURL, _ := q.doc(t).Find("li.chat-thinking").Attr("hx-get")
	e.waitQueueEmpty()
	qf := e.request(e.client, "GET", qURL, "", "", htmx...)
	if qf.header.Get("HX-Trigger") != "" || !strings.Contains(string(qf.body), "+1-555-0142") {
		t.Errorf("question's reply: got HX-Trigger %q body %s, want no event and the phone", qf.header.Get("HX-Trigger"), qf.body)
	}

	// Clearing from the panel gives an empty panel; a poll of a cleared reply
	// answers nothing, which ends the polling.
	cl := e.request(e.client, "POST", views.ChatClearPath, "application/x-www-form-urlencoded", "", htmx...)
	if cl.status != http.StatusOK || cl.doc(t).Find("#chat-messages > li:not(.chat-intro)").Length() != 0 {
		t.Errorf("panel clear: got %d %s, want an empty panel", cl.status, cl.body)
	}
	if gone := e.request(e.client, "GET", qURL, "", "", htmx...); gone.status != http.StatusOK || len(bytes.TrimSpace(gone.body)) != 0 {
		t.Errorf("poll of a cleared reply: got %d %q, want 200 and nothing", gone.status, gone.body)
	}
}

// TestChatClientConversations: API clients that keep cookies have a
// conversation each, though they share a token: one client's yes never
// confirms another's delete. A client's first message (sent before it had its
// cookie) belongs to it; a client that keeps no cookies stays in the token's
// conversation.
func TestChatClientConversations(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	e.startWorker()
	tok := []string{"Authorization", "Bearer " + e.token("scripts")}
	script := func() *http.Client {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Jar: jar}
	}
	a, b := script(), script()

	// A asks, B asks, each answers yes: each deletes its own lead.
	e.say(a, "delete Bob Martin", tok...)
	var cookie *http.Cookie
	u, _ := url.Parse(e.ts.URL + "/chat/")
	for _, c := range a.Jar.Cookies(u) {
		if c.Name == "crm_chat_client" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("client cookie: got none, want crm_chat_client after the first send")
	}
	e.say(b, "delete Grace Kim", tok...)
	if text := e.say(a, "yes", tok...); !strings.Contains(text, "nothing waiting") {
		t.Errorf("A's yes after B's question in the shared conversation: got %q, want nothing waiting", text)
	}
	if _, ok := e.lead("Bob Martin"); !ok {
		t.Errorf("Bob Martin: deleted, want kept (B's question cancelled it in the shared conversation)")
	}
	if _, ok := e.lead("Grace Kim"); !ok {
		t.Fatalf("Grace Kim: deleted by A's yes, want kept")
	}
	if text := e.say(b, "yes", tok...); text != "Deleted Grace Kim (Seoul Bakery Group)." {
		t.Errorf("B's yes: got %q, want Deleted Grace Kim (Seoul Bakery Group).", text)
	}

	// Now with their own conversations: questions and answers interleave.
	e.say(a, "delete Oliver Smith", tok...)
	e.say(b, "delete Tom Becker", tok...)
	if text := e.say(b, "yes", tok...); text != "Deleted Tom Becker (Becker & Sons)." {
		t.Errorf("B's yes: got %q, want Deleted Tom Becker (Becker & Sons).", text)
	}
	if _, ok := e.lead("Oliver Smith"); !ok {
		t.Fatalf("Oliver Smith: deleted by B's yes, want kept")
	}
	if text := e.say(a, "yes", tok...); text != "Deleted Oliver Smith (Smith Consulting)." {
		t.Errorf("A's yes: got %q, want Deleted Oliver Smith (Smith Consulting).", text)
	}

	// A new client's first question is its own from the start.
	c := script()
	e.say(c, "delete Carlos Mendes", tok...)
	if text := e.say(c, "yes", tok...); text != "Deleted Carlos Mendes (Lisbon Logistics)." {
		t.Errorf("C's yes: got %q, want Deleted Carlos Mendes (Lisbon Logistics).", text)
	}

	// A client without cookies keeps the token's conversation.
	plain := &http.Client{}
	e.say(plain, "delete Emily Chen", tok...)
	if text := e.say(plain, "yes", tok...); text != "Deleted Emily Chen (Brightside Health)." {
		t.Errorf("cookie-less yes: got %q, want Deleted Emily Chen (Brightside Health).", text)
	}

	// A forged or foreign cookie is no conversation of anyone's.
	r := e.request(&http.Client{}, "POST", "/chat/", "application/json", `{"message": "hi"}`, append(tok, "Cookie", "crm_chat_client=garbage")...)
	if r.status != http.StatusAccepted {
		t.Errorf("send with a bad client cookie: got %d %s, want 202", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM conversations WHERE owner_key LIKE '%garbage%'`); n != 0 {
		t.Errorf("conversations keyed by a bad cookie: got %d, want 0", n)
	}
}

// TestChatStoreDown: errors are answers, not crashes.
func TestChatStoreDown(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	tok := e.token("t")
	e.pool.Close()
	r := e.request(e.client, "POST", "/chat/", "application/json", `{"message": "hi"}`, "Authorization", "Bearer "+tok)
	if r.status < 500 || r.json(t)["error"] == nil {
		t.Errorf("send with the database closed: got %d %s, want a 5xx JSON error", r.status, r.body)
	}
	p := e.request(e.client, "GET", views.ChatPanelURL, "", "", "HX-Request", "true", "Authorization", "Bearer "+tok)
	if p.status < 500 || p.header.Get("HX-Retarget") != "#chat-error" {
		t.Errorf("panel with the database closed: got %d %v, want a 5xx retargeted to #chat-error", p.status, p.header)
	}
}
