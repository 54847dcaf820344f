//go:build faults

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crmteam/crm/store/storetest"
)

// streamEvent is one event read from GET /events/.
type streamEvent struct {
	id, event string
	data      map[string]any
}

// eventStream is an open GET /events/ being read in the background.
type eventStream struct {
	t      *testing.T
	events chan streamEvent
	cancel context.CancelFunc
}

// openEvents opens base's event stream as c, resuming after lastID when it
// is not empty.
func (c *client) openEvents(base, lastID string) *eventStream {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/events/", nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := (&http.Client{}).Do(req) // no client timeout: a stream lasts
	if err != nil {
		c.t.Fatalf("GET %s/events/: %v", base, err)
	}
	if res.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s/events/: got %d, want 200", base, res.StatusCode)
	}
	s := &eventStream{t: c.t, events: make(chan streamEvent, 100), cancel: cancel}
	c.t.Cleanup(cancel)
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev streamEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && ev.event != "":
				s.events <- ev
				ev = streamEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data)
			}
		}
	}()
	return s
}

// next returns the next event; it fails after 15 s or when the stream ends.
func (s *eventStream) next() streamEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("event stream ended, want an event")
		}
		return ev
	case <-time.After(15 * time.Second):
		s.t.Fatal("no event in 15 s, want one")
	}
	return streamEvent{}
}

// leadName is the name of the lead an event carries.
func (ev streamEvent) leadName() string {
	lead, _ := ev.data["lead"].(map[string]any)
	name, _ := lead["name"].(string)
	return name
}

// Two servers and a worker on one database and one Redis: a change made
// through one server, or by the worker's assistant, arrives on a stream of the
// other server, and so does the progress of an import the worker runs; that server shuts down, its stream ends cleanly, and a stream
// opened with Last-Event-ID after it comes back gets the changes made while it
// was down.
func TestScaleEventsReachEveryServer(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	llm := startFakeLLM(t, func(w http.ResponseWriter, r *http.Request, req chatRequest) {
		createLeadModel(strings.TrimPrefix(req.lastUser(), "add "))(w, r, req)
	})
	env := crmEnv(dbURL, storetest.NewRedisURL(t))
	env["WORKER"] = "false"
	for k, v := range llm.env() {
		env[k] = v
	}
	env2 := cloneEnv(env)
	env2["LISTEN_ADDR"] = "127.0.0.1:" + strconv.Itoa(freePort(t))
	one, two := startCRM(t, "serve-1", "serve", env), startCRM(t, "serve-2", "serve", env2)
	worker := startCRM(t, "worker", "worker", env)
	one.waitReady("/readyz?check=postgres")
	two.waitReady("/readyz?check=postgres")
	worker.waitReady("/healthz")

	api := apiClient(t, dbURL, "events-api")
	s := api.openEvents(two.base, "")
	id := api.createLead(one.base, `{"name":"Across","status":"Interest"}`)
	if ev := s.next(); ev.event != "lead.created" || ev.leadName() != "Across" {
		t.Errorf("on serve-2 after a create through serve-1: got %s of %q, want lead.created of Across", ev.event, ev.leadName())
	}
	api.expect(200, "PUT", one.base+"/leads/"+id+"/status/", `{"status":"Negotiation"}`)
	ev := s.next()
	if lead, _ := ev.data["lead"].(map[string]any); ev.event != "lead.moved" || lead["status"] != "Negotiation" {
		t.Errorf("on serve-2 after a move through serve-1: got %s to %v, want lead.moved to Negotiation", ev.event, lead["status"])
	}
	task := api.sendChat(one.base, "add Robot Lead")
	if state, msg, _ := api.waitChat(one.base, task, time.Minute); state != "SUCCESS" {
		t.Fatalf("chat: got %s (%s), want SUCCESS", state, msg)
	}
	ev = s.next()
	if actor, _ := ev.data["actor"].(map[string]any); ev.event != "lead.created" || ev.leadName() != "Robot Lead" || actor["kind"] != "assistant" {
		t.Errorf("on serve-2 after the worker's turn: got %s of %q by %v, want lead.created of Robot Lead by the assistant", ev.event, ev.leadName(), actor)
	}
	lastID := ev.id

	// An import uploaded to serve-1 runs in the worker; its progress reaches
	// serve-2's stream as import events (no id), ending in import.finished.
	var file strings.Builder
	file.WriteString("Name,Company\n")
	for i := range 2500 {
		file.WriteString("Scale " + strconv.Itoa(i) + ",Across Co\n")
	}
	impID, _ := api.expect(202, "POST", one.base+"/imports/?file_name=scale.csv", file.String()).json(t)["id"].(string)
	for ev = s.next(); ev.event != "import.finished"; ev = s.next() {
		if ev.event == "import.progress" && (ev.id != "" || ev.data["id"] != impID) {
			t.Errorf("on serve-2: import.progress with id %q of import %v, want no id, import %s", ev.id, ev.data["id"], impID)
		}
		if ev.id != "" {
			lastID = ev.id
		}
	}
	if ev.id != "" || ev.data["id"] != impID || ev.data["state"] != "done" || ev.data["created"] != float64(2500) {
		t.Errorf("on serve-2 after an import through serve-1 run by the worker: got %s (id %q) %v, want import.finished of %s, 2,500 created", ev.event, ev.id, ev.data, impID)
	}
	// The rest of the import's leads, if they come after its end.
	for drained := false; !drained; {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatal("serve-2's stream ended")
			}
			if e.id != "" {
				lastID = e.id
			}
		case <-time.After(2 * time.Second):
			drained = true
		}
	}

	// serve-2 stops: its stream ends with the shutdown, not after the grace.
	stopped := time.Now()
	two.signal(syscall.SIGTERM)
	select {
	case _, open := <-s.events:
		if open {
			t.Error("serve-2's stream at shutdown: got an event, want the stream ended")
		}
	case <-time.After(10 * time.Second):
		t.Error("serve-2's stream still open 10 s after SIGTERM, want it ended at once")
	}
	if code := two.waitExit(30 * time.Second); code != 0 {
		t.Errorf("serve-2 exit code: got %d, want 0", code)
	}
	if took := time.Since(stopped); took > 10*time.Second {
		t.Errorf("serve-2 took %s to stop with a stream open, want it not to wait for the stream", took)
	}

	for _, name := range []string{"While Down 1", "While Down 2"} {
		api.createLead(one.base, `{"name":"`+name+`"}`)
	}
	two = startCRM(t, "serve-2 again", "serve", env2)
	two.waitReady("/readyz?check=postgres")
	resumed := api.openEvents(two.base, lastID)
	for _, want := range []string{"While Down 1", "While Down 2"} {
		if ev := resumed.next(); ev.event != "lead.created" || ev.leadName() != want {
			t.Errorf("resumed after %s on the restarted serve-2: got %s of %q, want lead.created of %q", lastID, ev.event, ev.leadName(), want)
		}
	}
}
