package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// importEvent is an import event read from a stream: its type, whether it
// had an id: line, and its data.
type importEvent struct {
	typ   string
	hasID bool
	data  map[string]any
}

func (ev importEvent) num(key string) int {
	n, _ := ev.data[key].(float64)
	return int(n)
}

// nextImportEvent returns the next import.* event of s, skipping (and
// counting in leads) the lead events before it.
func (s *sseStream) nextImportEvent(t *testing.T, leads map[string]int) importEvent {
	t.Helper()
	for {
		ev := s.next(t)
		if !strings.HasPrefix(ev.event, "import.") {
			if leads != nil {
				leads[ev.event]++
			}
			continue
		}
		out := importEvent{typ: ev.event, hasID: ev.id != ""}
		if err := json.Unmarshal([]byte(ev.data), &out.data); err != nil {
			t.Fatalf("%s data %q: %v", ev.event, ev.data, err)
		}
		return out
	}
}

// importFile is a CSV of n good rows and one row with a bad email.
func importFile(n int) string {
	var b strings.Builder
	b.WriteString("Name,Company,Email\n")
	for i := range n {
		fmt.Fprintf(&b, "Lead %d,Bulk Co,lead%d@example.com\n", i, i)
	}
	b.WriteString("Broken,Bulk Co,not an email\n")
	return b.String()
}

// serverOf serves st's routes with hub, for a user with a bearer token.
func serverOf(t *testing.T, st *store.Store, hub *handlers.EventHub, token string) *httptest.Server {
	t.Helper()
	srv := &handlers.Server{Store: st, Log: discardLog(), Events: hub,
		Security: handlers.Security{Limits: handlers.Limits{APIPerToken: handlers.Rate{N: -1}}}}
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), token))
	t.Cleanup(ts.Close)
	return ts
}

// An import run by a worker (a process with no hub, its own store) reaches the
// streams of two servers (each a hub over a store of its own, one Redis):
// import.progress while it runs, with rows_done growing, then
// import.finished with the counts; an undo made through one server reaches
// the other as import.undone. The events have no id: line and no errors
// list; ?only=import carries them without the leads' events.
func TestImportEventsReachEveryServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st1, pool := storetest.NewStore(t)
	st2, worker := store.New(pool), store.New(pool)
	redisURL := storetest.NewRedisURL(t)
	client := func() redis.UniversalClient {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		return c
	}
	u := handlers.UserForTest(t, st1, "ann@example.com", store.RoleMember)
	token := handlers.TokenForTest(t, st1, u, "imports")
	var servers []*httptest.Server
	for _, st := range []*store.Store{st1, st2} {
		hub := handlers.NewEventHub(st, client(), discardLog())
		if err := hub.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(hub.Close)
		servers = append(servers, serverOf(t, st, hub, token))
	}
	pubCtx, stopPub := context.WithCancel(ctx)
	t.Cleanup(stopPub)
	go handlers.PublishWrites(pubCtx, worker, client(), discardLog())
	// Both hubs listen before anything is announced.
	rdb := client()
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := rdb.PubSubNumSub(ctx, handlers.ImportChannel).Result()
		if err == nil && n[handlers.ImportChannel] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribers of %s: %v %v, want the two hubs", handlers.ImportChannel, n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if r := getStreamAt(t, servers[0].URL+"/events/?only=leads"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("?only=leads: got %d, want 400", r.StatusCode)
	}
	all := openStream(t, servers[0].URL)                           // server 1, every event
	only := openStreamAt(t, servers[1].URL+"/events/?only=import") // server 2, import events alone

	const rows = 9000 // a few batches
	imp, err := worker.CreateImport(store.WithActor(ctx, store.UserActor(u)), store.ImportUpload{FileName: "leads.csv", Body: strings.NewReader(importFile(rows))})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.RunImport(ctx, imp.ID); err != nil {
		t.Fatal(err)
	}

	onlyLeads := map[string]int{}
	for _, c := range []struct {
		name  string
		s     *sseStream
		leads map[string]int
	}{{"server 1", all, map[string]int{}}, {"server 2, only=import", only, onlyLeads}} {
		progress, last := 0, -1
		var ev importEvent
		for ev = c.s.nextImportEvent(t, c.leads); ev.typ == handlers.EventImportProgress; ev = c.s.nextImportEvent(t, c.leads) {
			progress++
			if done := ev.num("rows_done"); done < last || done > rows+1 || ev.data["state"] != store.ImportRunning {
				t.Errorf("%s: import.progress with rows_done %d (%v) after %d, want running and growing up to %d", c.name, done, ev.data["state"], last, rows+1)
			} else {
				last = done
			}
		}
		if progress == 0 {
			t.Errorf("%s: no import.progress before %s, want one a batch (coalesced)", c.name, ev.typ)
		}
		if ev.typ != handlers.EventImportFinished || ev.data["state"] != store.ImportDone || ev.num("rows_done") != rows+1 ||
			ev.num("rows_total") != rows+1 || ev.num("created") != rows || ev.num("failed") != 1 ||
			ev.data["id"] != imp.ID.String() || ev.data["file_name"] != "leads.csv" || ev.data["imported_by"] != "Ann" {
			t.Errorf("%s: got %s %v, want import.finished, done, %d created and 1 failed of %d", c.name, ev.typ, ev.data, rows, rows+1)
		}
		if ev.hasID {
			t.Errorf("%s: %s has an id: line, want none (ephemeral)", c.name, ev.typ)
		}
		if _, ok := ev.data["errors"]; ok {
			t.Errorf("%s: %s carries the errors, want them left to GET /imports/{id}/", c.name, ev.typ)
		}
		if ev.data["url"] != "/imports/"+imp.ID.String()+"/" {
			t.Errorf("%s: url %v", c.name, ev.data["url"])
		}
	}
	// ?only=import: not one of the import's thousands of lead events.
	if n := len(onlyLeads); n > 0 {
		t.Errorf("?only=import stream: got other events %v, want import events alone", onlyLeads)
	}

	undo := do(t, servers[0], "POST", "/imports/"+imp.ID.String()+"/undo/", "", "")
	if undo.status != http.StatusOK {
		t.Fatalf("undo: got %d %s", undo.status, undo.body)
	}
	ev := only.nextImportEvent(t, onlyLeads)
	if ev.typ != handlers.EventImportUndone || ev.data["state"] != store.ImportUndone || ev.data["undone_at"] == nil {
		t.Errorf("on server 2 after an undo through server 1: got %s %v, want import.undone", ev.typ, ev.data)
	}
	if res, _ := ev.data["undo_result"].(map[string]any); res["removed"] != float64(rows) || res["message"] == "" || res["kept"] != nil {
		t.Errorf("import.undone's undo_result: got %v, want removed %d, the message, and no lists", res, rows)
	}
	if _, err := uuid.Parse(fmt.Sprint(ev.data["id"])); err != nil {
		t.Errorf("import.undone's id: %v", ev.data["id"])
	}
}

// Without Redis a server's hub sends the import events of its own process.
func TestImportEventsWithoutRedis(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, false)
	s := openStreamAt(t, e.ts.URL+"/events/?only=import")
	imp, err := e.st.CreateImport(t.Context(), store.ImportUpload{FileName: "few.csv", Body: strings.NewReader(importFile(3))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.RunImport(t.Context(), imp.ID); err != nil {
		t.Fatal(err)
	}
	ev := s.nextImportEvent(t, nil)
	for ev.typ == handlers.EventImportProgress {
		ev = s.nextImportEvent(t, nil)
	}
	if ev.typ != handlers.EventImportFinished || ev.num("created") != 3 || ev.num("failed") != 1 || ev.data["id"] != imp.ID.String() {
		t.Errorf("got %s %v, want import.finished of few.csv, 3 created and 1 failed", ev.typ, ev.data)
	}
}

// A ?burst=reset stream (the board's) is sent one reset instead of more than
// BurstEvents waiting events, here an import's 300 lead.created; a plain
// stream gets all 300, and after the burst both get single events again.
func TestEventStreamBurstReset(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, false)
	if r := getStreamAt(t, e.ts.URL+"/events/?burst=drop"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("?burst=drop: got %d, want 400", r.StatusCode)
	}
	burst := openStreamAt(t, e.ts.URL+"/events/?burst=reset")
	plain := openStream(t, e.ts.URL)
	const rows = 300
	imp, err := e.st.CreateImport(t.Context(), store.ImportUpload{FileName: "burst.csv", Body: strings.NewReader(importFile(rows - 1))})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.RunImport(t.Context(), imp.ID); err != nil {
		t.Fatal(err)
	}
	last := mustLastEventID(t, e.st)
	// next skips the import events.
	next := func(s *sseStream) sseEvent {
		for {
			if ev := s.next(t); !strings.HasPrefix(ev.event, "import.") {
				return ev
			}
		}
	}
	if ev := next(burst); ev.event != "reset" || ev.id != strconv.FormatInt(last, 10) {
		t.Errorf("?burst=reset after %d events at once: got %s (id %s), want one reset at %d", rows-1, ev.event, ev.id, last)
	}
	for i := range rows - 1 {
		if ev := next(plain); ev.event != store.LeadCreated {
			t.Fatalf("plain stream, event %d of the import: got %s, want lead.created", i+1, ev.event)
		}
	}
	if _, err := e.st.CreateLead(t.Context(), store.LeadInput{Name: ptrTo("After")}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sseStream{burst, plain} {
		if ev := next(s); ev.event != store.LeadCreated || ev.decode(t).Lead.Name != "After" {
			t.Errorf("after the burst: got %s %s, want lead.created of After", ev.event, ev.data)
		}
	}
}
