package handlers_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/views"
)

// A pending reply's long poll waits while no worker runs, and answers with the
// final reply when the job ends (the worker announces it through Redis).
func TestChatLongPollAnsweredWhenJobEnds(t *testing.T) {
	t.Parallel()
	e := newChatEnv(t)
	rdb := e.redisOpt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { rdb.Close() })
	hub := handlers.NewEventHub(e.st, rdb, discardLog())
	if err := hub.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	e.srv.Events, e.tasks.Redis = hub, rdb

	htmx := []string{"HX-Request", "true"}
	sent := e.request(e.client, "POST", views.ChatSendPath, "application/x-www-form-urlencoded",
		url.Values{"message": {"what is Bob Martin's phone"}}.Encode(), htmx...)
	replyURL, _ := sent.doc(t).Find("li.chat-thinking").Attr("hx-get")
	if !strings.HasSuffix(replyURL, "?wait=1") {
		t.Fatalf("pending reply: got hx-get %q, want a long poll", replyURL)
	}

	type answer struct {
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.ts.URL+replyURL, nil)
		req.Header.Set("HX-Request", "true")
		res, err := e.client.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		done <- answer{string(b), err}
	}()
	select {
	case a := <-done:
		t.Fatalf("long poll with no worker running: answered %q at once, want it to wait", a.body)
	case <-time.After(500 * time.Millisecond):
	}
	e.startWorker()
	select {
	case a := <-done:
		if a.err != nil {
			t.Fatal(a.err)
		}
		if strings.Contains(a.body, "hx-trigger") || !strings.Contains(a.body, "+1-555-0142") {
			t.Errorf("long poll after the job ended: got %s, want the final reply with Bob's phone", a.body)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long poll not answered 20 s after the worker started, want the final reply")
	}
}
