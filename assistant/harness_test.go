package assistant_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// harness is one conversation with an assistant over a fresh database holding
// the demo pipeline plus a second Jane (Jane Smith at Acme Inc), so that "jane",
// "acme" and "smith" are ambiguous.
type harness struct {
	t   *testing.T
	st  *store.Store
	a   *assistant.Assistant
	key string
	// now is the assistant's clock; tests move it to expire confirmations.
	now time.Time
	// user, when set, is who writes: the conversation is theirs ("me").
	user *store.User
}

// pipeline is a database for a test: the demo leads plus a second Jane.
type pipeline struct {
	st   *store.Store
	pool *pgxpool.Pool
}

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	st, pool := storetest.NewStore(t)
	p := &pipeline{st: st, pool: pool}
	p.seed(t)
	return p
}

func (p *pipeline) seed(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := p.st.SeedDemo(ctx); err != nil {
		t.Fatalf("seed demo: %v", err)
	}
	name, company, email, status := "Jane Smith", "Acme Inc", "jane.smith@acme.test", "Negotiation"
	value := store.Money(3_300_000)
	if _, err := p.st.CreateLead(ctx, store.LeadInput{Name: &name, Company: &company, Email: &email, Status: &status, Value: &value}); err != nil {
		t.Fatalf("create Jane Smith: %v", err)
	}
}

// reset puts the pipeline back to the fixture, so the cases of a table can share
// one database (making one per case costs seconds).
func (p *pipeline) reset(t *testing.T) {
	t.Helper()
	if _, err := p.pool.Exec(context.Background(), "TRUNCATE leads, conversations CASCADE"); err != nil {
		t.Fatalf("reset: %v", err)
	}
	p.seed(t)
}

// harness starts a conversation with an assistant (the LLM when llm is set,
// else the offline one).
func (p *pipeline) harness(t *testing.T, llm *assistant.LLM) *harness {
	h := &harness{t: t, st: p.st, key: "test:" + uuid.NewString(), now: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	h.a = assistant.New(p.st, testLogger(t), assistant.Config{LLM: llm, Now: func() time.Time { return h.now }})
	return h
}

func newHarness(t *testing.T, llm *assistant.LLM) *harness {
	t.Helper()
	return newPipeline(t).harness(t, llm)
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// say sends one message and runs its job to the end, as the worker would, and
// returns the reply.
func (h *harness) say(text string) store.ChatMessage {
	h.t.Helper()
	ctx := context.Background()
	if h.user != nil {
		ctx = store.WithActor(ctx, store.UserActor(*h.user))
	}
	turn, err := h.st.StartChatTurn(ctx, h.key, text, 200)
	if err != nil {
		h.t.Fatalf("start turn %q: %v", text, err)
	}
	if err := h.a.RunTurn(ctx, turn.ReplyID, time.Minute); err != nil {
		h.t.Fatalf("run turn %q: %v", text, err)
	}
	reply, err := h.st.GetChatReply(ctx, turn.ReplyID)
	if err != nil {
		h.t.Fatalf("get reply to %q: %v", text, err)
	}
	if !reply.Final() {
		h.t.Fatalf("reply to %q: got state %s, want SUCCESS or FAILURE", text, reply.State)
	}
	return reply
}

// leadState is what a test checks of a lead.
type leadState struct {
	Company, Email, Phone, Value, Status, Source, Notes string
}

// snapshot reads every lead, by name.
func snapshot(t *testing.T, st *store.Store) map[string]leadState {
	t.Helper()
	board, err := st.ListBoard(context.Background(), store.BoardQuery{})
	if err != nil {
		t.Fatalf("list board: %v", err)
	}
	out := map[string]leadState{}
	for _, c := range board.Columns {
		for _, l := range c.Leads {
			if _, dup := out[l.Name]; dup {
				t.Fatalf("two leads named %q", l.Name)
			}
			out[l.Name] = leadState{Company: l.Company, Email: l.Email, Phone: l.Phone, Value: l.Value.String(),
				Status: l.Status, Source: l.Source, Notes: l.Notes}
		}
	}
	return out
}

// change is an expected effect on the database.
type change func(t *testing.T, m map[string]leadState)

func moved(name, status string) change {
	return func(t *testing.T, m map[string]leadState) {
		l, ok := m[name]
		if !ok {
			t.Fatalf("fixture has no lead %q", name)
		}
		l.Status = status
		m[name] = l
	}
}

func set(name string, fn func(*leadState)) change {
	return func(t *testing.T, m map[string]leadState) {
		l, ok := m[name]
		if !ok {
			t.Fatalf("fixture has no lead %q", name)
		}
		fn(&l)
		m[name] = l
	}
}

func renamed(old, new string) change {
	return func(t *testing.T, m map[string]leadState) {
		l, ok := m[old]
		if !ok {
			t.Fatalf("fixture has no lead %q", old)
		}
		delete(m, old)
		m[new] = l
	}
}

func created(name string, l leadState) change {
	return func(t *testing.T, m map[string]leadState) {
		if l.Value == "" {
			l.Value = "0.00"
		}
		if l.Status == "" {
			l.Status = "Interest"
		}
		m[name] = l
	}
}

func deleted(name string) change {
	return func(t *testing.T, m map[string]leadState) {
		if _, ok := m[name]; !ok {
			t.Fatalf("fixture has no lead %q", name)
		}
		delete(m, name)
	}
}

// expect checks that the database is the fixture with exactly the changes.
func expect(t *testing.T, st *store.Store, before map[string]leadState, changes ...change) {
	t.Helper()
	want := maps.Clone(before)
	for _, c := range changes {
		c(t, want)
	}
	if diff := cmp.Diff(want, snapshot(t, st)); diff != "" {
		t.Errorf("leads differ from the expected effect (-want +got):\n%s", diff)
	}
}

func contains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(strings.ToLower(got), strings.ToLower(w)) {
			t.Errorf("%s: got %q, want it to contain %q", what, got, w)
		}
	}
}

func lacks(t *testing.T, what, got string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(strings.ToLower(got), strings.ToLower(w)) {
			t.Errorf("%s: got %q, want it not to contain %q", what, got, w)
		}
	}
}

func describeOps(ops []store.ChatOperation) string {
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%s/%s: %s", op.Action, op.Status, op.Summary)
	}
	return strings.Join(parts, "; ")
}
