package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/hibiken/asynq"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/store/storetest"
	"github.com/crmteam/crm/views"
)

// newChatTab is newTab with the assistant wired as in crm serve: sessions in
// PostgreSQL, the queue on a Redis database of the test's own, and a worker
// running the offline assistant.
func newChatTab(t *testing.T, browser context.Context) *tab {
	t.Helper()
	st, pool := storetest.NewStore(t)
	redisOpt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	sessions := scs.New()
	sessions.Store = pgxstore.NewWithCleanupInterval(pool, 0)
	sessions.Cookie.HttpOnly = true
	sessions.Cookie.SameSite = http.SameSiteLaxMode
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	queue := &Queue{Client: client}
	off := Rate{N: -1} // the tests chat more than a person would
	srv := &Server{Store: st, Log: log, Version: "test", Sessions: sessions, Enqueuer: queue, AssistantMode: "offline",
		Security: Security{Limits: Limits{ChatPerUser: off}}}
	worker := asynq.NewServer(redisOpt, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond})
	tasks := &Tasks{Store: st, Log: log, Assistant: assistant.New(st, log, assistant.Config{}), Enqueuer: queue}
	if err := worker.Start(NewTaskMux(tasks)); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(worker.Shutdown)

	tb := newTab(t, browser)
	h := srv.Routes()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	tb.url, tb.st = ts.URL, st
	tb.signIn(h, ts.URL, st, "chat@example.com")
	return tb
}

// chatSay types a message into the panel and sends it with Enter, then waits
// until the message shows and its reply is final; it returns the reply's text.
func (tb *tab) chatSay(text string) string {
	tb.t.Helper()
	n := 0
	tb.eval(`document.querySelectorAll('#chat-messages > li').length`, &n)
	tb.do("type "+text, chromedp.SendKeys(chromedp.CSS(views.ChatInputID.Sel()), text+kb.Enter))
	tb.waitFor("the message shows", fmt.Sprintf(
		`[...document.querySelectorAll('#chat-messages .chat-msg-user .chat-text')].some(e => e.textContent === %s)`, js(text)))
	tb.waitFor("the reply is final", fmt.Sprintf(
		`document.querySelectorAll('#chat-messages > li').length === %d && !document.querySelector('#chat-messages .chat-thinking')`, n+2))
	if left := tb.evalString(`document.getElementById('chat-input').value`); left != "" {
		tb.t.Errorf("input after sending: got %q, want it empty", left)
	}
	polling := 0
	tb.eval(`document.querySelectorAll('#chat-messages [hx-trigger]').length`, &polling)
	if polling != 0 {
		tb.t.Errorf("polling elements after the final reply: got %d, want 0", polling)
	}
	return tb.evalString(`document.querySelector('#chat-messages > li:last-child .chat-text').textContent`)
}

func (tb *tab) waitPanel() {
	tb.t.Helper()
	tb.waitFor("the assistant panel is loaded", `!!document.querySelector('#chat-panel #chat-form input[name=message]')`)
}

func TestChatBrowser(t *testing.T) {
	browser := startBrowser(t)
	tb := newChatTab(t, browser)
	seedDemo(t, tb.st)
	tb.open("/")
	tb.waitPanel()
	tb.wantCards("Interest", []string{"Jane Doe", "Bob Martin", "Oliver Smith"})

	// A command moves a card: the reply says so and the board shows it without a
	// reload.
	reply := tb.chatSay("move jane doe to negotiation")
	if reply != "Moved Jane Doe (Example Corp) from Interest to Negotiation." {
		t.Errorf("reply: got %q, want the move said", reply)
	}
	tb.waitFor("Jane Doe's card is in Negotiation", fmt.Sprintf(
		`[...document.querySelectorAll(%s + ' .card .card-name')].some(a => a.textContent.trim() === 'Jane Doe')`, js(views.CardListID("Negotiation").Sel())))
	tb.wantCards("Interest", []string{"Bob Martin", "Oliver Smith"})
	tb.wantDB("Negotiation", []string{"Aisha Okafor", "Lukas Novak", "Jane Doe"})

	// A delete waits for the yes; the card goes only then.
	reply = tb.chatSay("delete Bob Martin")
	if reply != `Delete Bob Martin (Acme Inc, Interest, $20,000)? Reply "yes" to delete it; anything else cancels.` {
		t.Errorf("reply: got %q, want the confirmation question", reply)
	}
	tb.wantCards("Interest", []string{"Bob Martin", "Oliver Smith"})
	tb.chatSay("yes")
	tb.waitFor("Bob Martin's card is gone", fmt.Sprintf(
		`![...document.querySelectorAll(%s + ' .card .card-name')].some(a => a.textContent.trim() === 'Bob Martin')`, js(views.CardListID("Interest").Sel())))
	tb.wantDB("Interest", []string{"Oliver Smith"})

	// The conversation is there after a reload.
	tb.open("/")
	tb.waitPanel()
	var texts []string
	tb.eval(`[...document.querySelectorAll('#chat-messages > li:not(.chat-intro) .chat-text')].map(e => e.textContent)`, &texts)
	if len(texts) != 6 || texts[0] != "move jane doe to negotiation" || texts[5] != "Deleted Bob Martin (Acme Inc)." {
		t.Errorf("history after reload: got %q, want the 6 messages", texts)
	}

	// Under a delete question, Delete and Keep buttons answer it from the
	// keyboard; only the newest question has them.
	tb.chatSay("delete Oliver Smith")
	visible := func() int {
		n := 0
		tb.eval(`[...document.querySelectorAll('#chat-messages .chat-confirm')].filter(e => e.offsetParent !== null).length`, &n)
		return n
	}
	if n := visible(); n != 1 {
		t.Errorf("visible Delete/Keep groups: got %d, want 1", n)
	}
	if got := tb.evalString(`document.querySelector('#chat-messages > li:last-child .chat-confirm-delete').textContent`); got != "Delete Oliver Smith" {
		t.Errorf("delete button: got %q, want Delete Oliver Smith", got)
	}
	n := 0
	tb.eval(`document.querySelectorAll('#chat-messages > li').length`, &n)
	tb.do("press Enter on Delete", chromedp.Focus(chromedp.CSS(`#chat-messages > li:last-child .chat-confirm-delete`)), chromedp.KeyEvent(kb.Enter))
	tb.waitFor("the delete is answered", fmt.Sprintf(
		`document.querySelectorAll('#chat-messages > li').length === %d && !document.querySelector('#chat-messages .chat-thinking')`, n+2))
	if got := tb.evalString(`document.querySelector('#chat-messages > li:last-child .chat-text').textContent`); got != "Deleted Oliver Smith (Smith Consulting)." {
		t.Errorf("reply to Delete: got %q, want Deleted Oliver Smith (Smith Consulting).", got)
	}
	tb.wantDB("Interest", []string{})
	if n := visible(); n != 0 {
		t.Errorf("visible Delete/Keep groups after the answer: got %d, want 0", n)
	}
	tb.chatSay("delete Jane Doe")
	tb.screenshot("chat-confirm.png")
	tb.eval(`document.querySelectorAll('#chat-messages > li').length`, &n)
	tb.do("press Enter on Keep", chromedp.Focus(chromedp.CSS(`#chat-messages > li:last-child .chat-confirm-keep`)), chromedp.KeyEvent(kb.Enter))
	tb.waitFor("the keep is answered", fmt.Sprintf(
		`document.querySelectorAll('#chat-messages > li').length === %d && !document.querySelector('#chat-messages .chat-thinking')`, n+2))
	if got := tb.evalString(`document.querySelector('#chat-messages > li:last-child .chat-text').textContent`); got != "OK, I won't delete Jane Doe (Example Corp, Negotiation, $75,000)." {
		t.Errorf("reply to Keep: got %q, want the delete cancelled", got)
	}
	tb.wantDB("Negotiation", []string{"Aisha Okafor", "Lukas Novak", "Jane Doe"})

	// Clear starts over.
	tb.do("clear", chromedp.Click(chromedp.CSS(".chat-clear")))
	tb.waitFor("the conversation is cleared", `document.querySelectorAll('#chat-messages > li:not(.chat-intro)').length === 0 && !!document.getElementById('chat-input')`)
	tb.screenshot("chat.png")
}
