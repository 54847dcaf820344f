package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// sseEvent is one event read from a stream.
type sseEvent struct {
	id, event, data string
}

// sseStream reads a Server-Sent Events response in the background.
type sseStream struct {
	resp     *http.Response
	events   chan sseEvent
	comments chan string
}

// openStream opens GET /events/ on ts with the given headers ("Name", "value"
// pairs) and fails unless it answers 200 text/event-stream.
func openStream(t *testing.T, url string, header ...string) *sseStream {
	t.Helper()
	return openStreamAt(t, url+"/events/", header...)
}

// openStreamAt is openStream of the stream at url (with its query).
func openStreamAt(t *testing.T, url string, header ...string) *sseStream {
	t.Helper()
	resp := getStreamAt(t, url, header...)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: got %d %q, want 200 text/event-stream", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 100), comments: make(chan string, 100)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.event != "" || ev.data != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				select {
				case s.comments <- line:
				default:
				}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

func getStream(t *testing.T, url string, header ...string) *http.Response {
	t.Helper()
	return getStreamAt(t, url+"/events/", header...)
}

func getStreamAt(t *testing.T, url string, header ...string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp
}

// next returns the next event, failing after 10 s.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("stream ended, want an event")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event in 10 s, want one")
	}
	return sseEvent{}
}

// decode returns the event object of ev, checking that its id and type agree
// with the stream's fields.
func (ev sseEvent) decode(t *testing.T) store.Event {
	t.Helper()
	var e store.Event
	if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
		t.Fatalf("event data %q: %v", ev.data, err)
	}
	if strconv.FormatInt(e.ID, 10) != ev.id || e.Type != ev.event {
		t.Errorf("event fields: id %q event %q, data has id %d type %q; want them equal", ev.id, ev.event, e.ID, e.Type)
	}
	return e
}

type eventEnv struct {
	st  *store.Store
	hub *handlers.EventHub
	ts  *httptest.Server
}

// newEventEnv serves the real stack with an event hub (woken through a Redis
// of the test's own when withRedis) for a user with a bearer token.
func newEventEnv(t *testing.T, withRedis bool, configure ...func(*http.Server, *handlers.EventHub)) *eventEnv {
	t.Helper()
	st, _ := storetest.NewStore(t)
	var rdb redis.UniversalClient
	if withRedis {
		opt, err := redis.ParseURL(storetest.NewRedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
	}
	hub := handlers.NewEventHub(st, rdb, discardLog())
	srv := &handlers.Server{Store: st, Log: discardLog(), Events: hub,
		Security: handlers.Security{Limits: handlers.Limits{APIPerToken: handlers.Rate{N: -1}}}}
	u := handlers.UserForTest(t, st, "ann@example.com", store.RoleMember)
	ts := httptest.NewUnstartedServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "events")))
	for _, f := range configure {
		f(ts.Config, hub)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(hub.Close)
	return &eventEnv{st: st, hub: hub, ts: ts}
}

func TestEventStreamSendsEachChange(t *testing.T) {
	t.Parallel()
	for _, withRedis := range []bool{true, false} {
		t.Run(fmt.Sprintf("redis=%v", withRedis), func(t *testing.T) {
			t.Parallel()
			e := newEventEnv(t, withRedis)
			s := openStream(t, e.ts.URL)

			created := do(t, e.ts, "POST", "/leads/", "application/json", `{"name": "Jane Doe", "status": "Interest"}`).json(t)
			id := created["id"].(string)
			do(t, e.ts, "PUT", "/leads/"+id+"/status/", "application/json", `{"status": "Negotiation"}`)
			do(t, e.ts, "PATCH", "/leads/"+id+"/", "application/json", `{"value": 1200}`)
			do(t, e.ts, "DELETE", "/leads/"+id+"/", "", "")

			var prev int64
			for _, want := range []struct{ typ, status string }{
				{store.LeadCreated, "Interest"}, {store.LeadMoved, "Negotiation"}, {store.LeadUpdated, "Negotiation"}, {store.LeadDeleted, "Negotiation"},
			} {
				ev := s.next(t).decode(t)
				if ev.Type != want.typ || ev.Lead.ID.String() != id || ev.Lead.Status != want.status {
					t.Errorf("got %s of %s in %s, want %s of %s in %s", ev.Type, ev.Lead.ID, ev.Lead.Status, want.typ, id, want.status)
				}
				if ev.ID <= prev {
					t.Errorf("event id %d after %d, want increasing", ev.ID, prev)
				}
				if ev.Actor.Kind != store.ActorToken || !strings.Contains(ev.Actor.Name, "Ann") {
					t.Errorf("actor: got %+v, want ann's token", ev.Actor)
				}
				prev = ev.ID
			}
		})
	}
}

func TestEventStreamResumes(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, false)
	first := openStream(t, e.ts.URL)
	do(t, e.ts, "POST", "/leads/", "application/json", `{"name": "One"}`)
	seen := first.next(t).decode(t).ID
	for _, name := range []string{"Two", "Three"} {
		do(t, e.ts, "POST", "/leads/", "application/json", `{"name": "`+name+`"}`)
	}
	// From the hub's memory (Last-Event-ID) and from the table (since, before
	// anything this hub read).
	for _, c := range []struct {
		header []string
		want   []string
	}{
		{[]string{"Last-Event-ID", strconv.FormatInt(seen, 10)}, []string{"Two", "Three"}},
		{[]string{"Last-Event-ID", strconv.FormatInt(seen-1, 10)}, []string{"One", "Two", "Three"}},
	} {
		s := openStream(t, e.ts.URL, c.header...)
		for _, want := range c.want {
			if ev := s.next(t).decode(t); ev.Lead.Name != want {
				t.Errorf("%v: got %s %q, want %q", c.header, ev.Type, ev.Lead.Name, want)
			}
		}
	}
}

func TestEventStreamResumesFromTheTable(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	start := mustLastEventID(t, st)
	for _, name := range []string{"One", "Two"} {
		if _, err := st.CreateLead(context.Background(), store.LeadInput{Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	// A hub started after the changes has none of them in memory.
	hub := handlers.NewEventHub(st, nil, discardLog())
	if err := hub.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	srv := &handlers.Server{Store: st, Log: discardLog(), Events: hub}
	u := handlers.UserForTest(t, st, "ann@example.com", store.RoleMember)
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "events")))
	t.Cleanup(ts.Close)
	s := openStream(t, ts.URL, "Last-Event-ID", strconv.FormatInt(start, 10))
	for _, want := range []string{"One", "Two"} {
		if ev := s.next(t).decode(t); ev.Lead.Name != want || ev.Type != store.LeadCreated {
			t.Errorf("got %s %q, want lead.created %q", ev.Type, ev.Lead.Name, want)
		}
	}
}

func mustLastEventID(t *testing.T, st *store.Store) int64 {
	t.Helper()
	n, err := st.SequenceEvents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEventStreamResetsWhenTooFarBehind(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, false)
	lead := do(t, e.ts, "POST", "/leads/", "application/json", `{"name": "Busy"}`).json(t)
	start := mustLastEventID(t, e.st) - 1
	for i := range handlers.MaxReplay {
		do(t, e.ts, "PATCH", "/leads/"+lead["id"].(string)+"/", "application/json", fmt.Sprintf(`{"notes": "%d"}`, i))
	}
	last := mustLastEventID(t, e.st)
	// The rule is about positions the hub has read: let it catch up.
	for deadline := time.Now().Add(10 * time.Second); e.hub.Last() < last && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	for _, c := range []struct {
		after     int64
		wantReset bool
	}{
		{start, true},      // MaxReplay+1 behind
		{start + 1, false}, // MaxReplay behind
		{last + 100, true}, // a position the stream never had
	} {
		s := openStream(t, e.ts.URL, "Last-Event-ID", strconv.FormatInt(c.after, 10))
		ev := s.next(t)
		if got := ev.event == "reset"; got != c.wantReset {
			t.Errorf("Last-Event-ID %d (last %d): got first event %q, want reset %v", c.after, last, ev.event, c.wantReset)
		}
		if c.wantReset && ev.id != strconv.FormatInt(last, 10) {
			t.Errorf("reset: got id %s, want the current position %d", ev.id, last)
		}
	}
}

func TestEventStreamRefusals(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, false, func(_ *http.Server, hub *handlers.EventHub) { hub.StreamsPerUser = 2 })
	for _, v := range []string{"abc", "-5", "1.5"} {
		if r := getStream(t, e.ts.URL, "Last-Event-ID", v); r.StatusCode != http.StatusBadRequest {
			t.Errorf("Last-Event-ID %q: got %d, want 400", v, r.StatusCode)
		}
	}
	openStream(t, e.ts.URL)
	openStream(t, e.ts.URL)
	r := getStream(t, e.ts.URL)
	if r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third stream of a user capped at 2: got %d, want 429", r.StatusCode)
	}
}

// A stream outlives the server's read and write timeouts, sends heartbeats,
// and ends when the hub closes (shutdown).
func TestEventStreamOutlivesTimeoutsAndEndsOnClose(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, false, func(s *http.Server, hub *handlers.EventHub) {
		s.ReadTimeout, s.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond
		hub.Heartbeat = 200 * time.Millisecond
	})
	s := openStream(t, e.ts.URL)
	time.Sleep(1500 * time.Millisecond) // three times the timeouts
	select {
	case c := <-s.comments:
		if !strings.HasPrefix(c, ":") {
			t.Errorf("comment %q", c)
		}
	default:
		t.Error("no comment line in 1.5 s, want heartbeats")
	}
	if _, err := e.st.CreateLead(context.Background(), store.LeadInput{Name: ptrTo("Late")}); err != nil {
		t.Fatal(err)
	}
	if ev := s.next(t).decode(t); ev.Lead.Name != "Late" {
		t.Errorf("after the timeouts: got %s %q, want the new lead", ev.Type, ev.Lead.Name)
	}
	e.hub.Close()
	select {
	case _, open := <-s.events:
		if open {
			t.Error("after Close: got an event, want the stream ended")
		}
	case <-time.After(5 * time.Second):
		t.Error("stream still open 5 s after Close, want it ended")
	}
}

// TestEventStreamEndsWhenTokenRevoked: a stream opened with a token sends no
// more events once the token is revoked, and ends.
func TestEventStreamEndsWhenTokenRevoked(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, false, func(_ *http.Server, hub *handlers.EventHub) {
		hub.Heartbeat, hub.Recheck = time.Hour, 0 // every batch of events is checked
	})
	s := openStream(t, e.ts.URL)
	ctx := context.Background()
	if _, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Before")}); err != nil {
		t.Fatal(err)
	}
	if ev := s.next(t).decode(t); ev.Lead.Name != "Before" {
		t.Fatalf("before the revocation: got %s %q, want the new lead", ev.Type, ev.Lead.Name)
	}
	u, err := e.st.GetUserByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	toks, err := e.st.ListAPITokens(ctx, u.ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("ann's tokens: got %d, %v; want 1", len(toks), err)
	}
	if _, err := e.st.RevokeAPIToken(ctx, u.ID, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("After")}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, open := <-s.events:
		if open {
			t.Errorf("after the token was revoked: got %s %s, want the stream ended", ev.event, ev.data)
		}
	case <-time.After(10 * time.Second):
		t.Error("stream still open 10 s after its token was revoked, want it ended")
	}
}
