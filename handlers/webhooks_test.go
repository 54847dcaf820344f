package handlers_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
)

// TestWebhookSignatureSpecExample signs the Standard Webhooks specification's
// own example (its reference libraries' test values) and gets its signature.
func TestWebhookSignatureSpecExample(t *testing.T) {
	got, err := handlers.SignWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature: got %s, want %s", got, want)
	}
}

func TestWebhookURLRefusedWhenPrivate(t *testing.T) {
	refused := []string{
		"http://127.0.0.1/hook", "http://127.9.9.9:8080/", "http://[::1]/", "http://10.1.2.3/", "http://172.16.0.1/",
		"http://192.168.1.1/", "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/", "http://[fc00::1]/",
		"http://[fd12:3456::1]/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:8.8.8.8]/",
		"http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/", "http://[ff02::1]/", "http://localhost:8080/",
	}
	for _, u := range refused {
		if msg := handlers.CheckWebhookURL(t.Context(), u, false); !strings.Contains(msg, "refused") {
			t.Errorf("%s: got %q, want it refused", u, msg)
		}
		if msg := handlers.CheckWebhookURL(t.Context(), u, true); msg != "" {
			t.Errorf("%s with WEBHOOK_ALLOW_PRIVATE: got %q, want it allowed", u, msg)
		}
	}
	for _, u := range []string{"https://93.184.215.14/hook", "http://[2606:4700::1111]/"} {
		if msg := handlers.CheckWebhookURL(t.Context(), u, false); msg != "" {
			t.Errorf("%s: got %q, want a public address allowed", u, msg)
		}
	}
}

// webhookEnv is a server with an admin (browser and token) and a receiver.
type webhookEnv struct {
	*authEnv
	adminToken string
	admin      *http.Client
	rx         *receiver
}

func newWebhookEnv(t *testing.T, allowPrivate bool) *webhookEnv {
	t.Helper()
	e := newAuthEnv(t, func(s *handlers.Server) { s.WebhookAllowPrivate = allowPrivate })
	root := e.user("root@example.com", store.RoleAdmin)
	w := &webhookEnv{authEnv: e, adminToken: handlers.TokenForTest(t, e.st, root, "hooks"), admin: e.browser("root@example.com")}
	w.rx = newReceiver(t)
	return w
}

// subscribe makes a subscription to the receiver through the API.
func (e *webhookEnv) subscribe(events string) string {
	e.t.Helper()
	r := e.bearer(nil, e.adminToken, "POST", "/webhooks/", `{"url": "`+e.rx.srv.URL+`/in", "events": `+events+`}`)
	wantStatus(e.t, "create webhook", r, http.StatusCreated)
	m := r.json(e.t)
	e.rx.setSecret(m["secret"].(string))
	return m["id"].(string)
}

// dispatch runs d until the test ends or the returned stop is called; stop
// waits for it to return.
func (e *webhookEnv) dispatch(d *handlers.WebhookDispatcher) (stop func()) {
	d.Store, d.Log = e.st, discardLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	stop = func() { cancel(); <-done }
	e.t.Cleanup(stop)
	return stop
}

// fastRetries is a dispatcher that retries at once, for tests.
func fastRetries(allowPrivate bool) *handlers.WebhookDispatcher {
	return &handlers.WebhookDispatcher{AllowPrivate: allowPrivate, Poll: 20 * time.Millisecond,
		RetryBase: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}
}

// receiver is a webhook receiver that verifies every signature.
type receiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	secret   []byte
	status   int           // answer; 0: 200
	hold     chan struct{} // non-nil: requests wait for the client to give up
	held     []string      // webhook-ids of requests held
	requests int
	badSig   []string
	accepted []delivered // answered 2xx, in arrival order
}

type delivered struct {
	id    string
	event map[string]any
	body  []byte
}

func newReceiver(t *testing.T) *receiver {
	rx := &receiver{t: t}
	rx.srv = httptest.NewServer(http.HandlerFunc(rx.serve))
	t.Cleanup(rx.srv.Close)
	return rx
}

func (rx *receiver) setSecret(s string) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || !strings.HasPrefix(s, "whsec_") || len(key) < 24 || len(key) > 32 {
		rx.t.Fatalf("secret %q: want whsec_ and base64 of 24 to 32 bytes", s)
	}
	rx.mu.Lock()
	rx.secret = key
	rx.mu.Unlock()
}

// verify checks a request as a Standard Webhooks receiver does.
func (rx *receiver) verify(h http.Header, body []byte) bool {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, rx.secret)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, _ := strings.Cut(sig, ",")
		got, err := base64.StdEncoding.DecodeString(b64)
		if v == "v1" && err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

func (rx *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rx.mu.Lock()
	rx.requests++
	if !rx.verify(r.Header, body) {
		rx.badSig = append(rx.badSig, id)
	}
	hold, status := rx.hold, rx.status
	if hold != nil {
		rx.held = append(rx.held, id)
	}
	rx.mu.Unlock()
	if hold != nil {
		<-r.Context().Done() // the sender gave up (or was killed)
		return
	}
	if status != 0 && status != http.StatusOK {
		w.WriteHeader(status)
		fmt.Fprint(w, "receiver is down")
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rx.mu.Lock()
	rx.accepted = append(rx.accepted, delivered{id: id, event: ev, body: body})
	rx.mu.Unlock()
	fmt.Fprint(w, `{"ok": true}`)
}

func (rx *receiver) set(status int, hold chan struct{}) {
	rx.mu.Lock()
	rx.status, rx.hold = status, hold
	rx.mu.Unlock()
}

func (rx *receiver) snapshot() (requests int, held []string, accepted []delivered, badSig []string) {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return rx.requests, append([]string(nil), rx.held...), append([]delivered(nil), rx.accepted...), append([]string(nil), rx.badSig...)
}

func hookLead(t *testing.T, st *store.Store, name, company, status string, value store.Money) store.Lead {
	t.Helper()
	l, err := st.CreateLead(context.Background(), store.LeadInput{Name: &name, Company: &company, Status: &status, Value: &value})
	if err != nil {
		t.Fatalf("create lead %s: %v", name, err)
	}
	return l
}

// waitFor polls cond until it holds; the deadline bounds a hang, it is not a
// timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 90s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamEvents returns every event of the stream, as GET /events/ has them.
func streamEvents(t *testing.T, st *store.Store) []store.Event {
	t.Helper()
	if _, err := st.SequenceEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs, err := st.EventsAfter(context.Background(), 0, store.MaxEventsRead)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestWebhookDeliveryReceiverDownThenUp: changes made while the receiver is
// down all arrive once it is up, each webhook-id accepted once, signed, in
// order per lead, with the event object of the live stream as the body; two
// dispatchers (two servers) run at once and send nothing twice. A change
// rolled back sends nothing, and an event whose transaction commits late (its
// id below ids already sent) still goes out.
func TestWebhookDeliveryReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	e := newWebhookEnv(t, true)
	ctx := context.Background()
	e.subscribe(`["*"]`)
	e.rx.set(http.StatusServiceUnavailable, nil)
	e.dispatch(fastRetries(true))
	e.dispatch(fastRetries(true))

	// A transaction that records an event and will roll back, and one that
	// records an event and commits after later events were sent.
	rolledBack, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lateLead, goneLead := uuid.New(), uuid.New()
	if _, err := rolledBack.Exec(ctx, `INSERT INTO lead_events (lead_id, action, actor_kind, actor_name) VALUES ($1, 'create', 'system', 'rolled back')`, goneLead); err != nil {
		t.Fatal(err)
	}
	if _, err := late.Exec(ctx, `INSERT INTO lead_events (lead_id, action, actor_kind, actor_name) VALUES ($1, 'create', 'system', 'late')`, lateLead); err != nil {
		t.Fatal(err)
	}

	ann := hookLead(t, e.st, "Ann Webhook", "Acme", "Interest", 1000)
	bob := hookLead(t, e.st, "Bob Webhook", "Beta", "Interest", 2000)
	for i := range 4 {
		notes := fmt.Sprintf("call %d", i)
		if _, err := e.st.UpdateLead(ctx, ann.ID, store.LeadInput{Notes: &notes}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.MoveLead(ctx, ann.ID, "Negotiation", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DeleteLead(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the receiver to refuse a few attempts", func() bool { n, _, _, _ := e.rx.snapshot(); return n >= 6 })
	if err := rolledBack.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	e.rx.set(http.StatusOK, nil)
	waitFor(t, "the changes so far to arrive", func() bool { _, _, got, _ := e.rx.snapshot(); return len(got) >= 8 })
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want := streamEvents(t, e.st)
	if len(want) != 9 {
		t.Fatalf("stream: got %d events, want 9 (2 creates, 4 updates, a move, a delete, the late create)", len(want))
	}
	waitFor(t, "every event to arrive", func() bool { _, _, got, _ := e.rx.snapshot(); return len(got) >= len(want) })

	_, _, got, badSig := e.rx.snapshot()
	if len(badSig) > 0 {
		t.Errorf("signatures: %d requests failed verification (%v), want none", len(badSig), badSig)
	}
	if len(got) != len(want) {
		t.Errorf("accepted: got %d deliveries, want %d (one per event)", len(got), len(want))
	}
	byID := map[string]int{}
	lastSeq := map[string]float64{}
	bySeq := map[float64]delivered{}
	for _, d := range got {
		byID[d.id]++
		lead := d.event["lead"].(map[string]any)["id"].(string)
		seq := d.event["id"].(float64)
		if seq <= lastSeq[lead] {
			t.Errorf("lead %s: event %v arrived after event %v, want stream order per lead", lead, seq, lastSeq[lead])
		}
		lastSeq[lead] = seq
		bySeq[seq] = d
		if d.event["lead"].(map[string]any)["id"] == goneLead.String() {
			t.Errorf("the rolled-back change was sent: %s", d.body)
		}
	}
	for id, n := range byID {
		if n != 1 {
			t.Errorf("webhook-id %s: accepted %d times, want once", id, n)
		}
	}
	for _, ev := range want {
		d, ok := bySeq[float64(ev.ID)]
		if !ok {
			t.Errorf("event %d (%s of %s): never delivered", ev.ID, ev.Type, ev.Lead.ID)
			continue
		}
		// The body is the stream's event object, byte for byte.
		b, _ := json.Marshal(ev)
		if string(b) != string(d.body) {
			t.Errorf("event %d: got body %s, want the stream's %s", ev.ID, d.body, b)
		}
	}
	var move map[string]any
	for _, d := range got {
		if d.event["type"] == store.LeadMoved {
			move = d.event
		}
	}
	if move == nil || !strings.Contains(fmt.Sprint(move["changes"]), "field:status new:Negotiation old:Interest") {
		t.Errorf("lead.moved: got %v, want changes with status from Interest to Negotiation", move)
	}

	// The log: every delivery delivered, the early ones after failed attempts.
	hooks, _ := e.st.ListWebhooks(ctx)
	var ds []store.WebhookDelivery
	waitFor(t, "every delivery recorded", func() bool {
		ds, err = e.st.ListWebhookDeliveries(ctx, hooks[0].ID, 100)
		return err == nil && !slices.ContainsFunc(ds, func(d store.WebhookDelivery) bool { return d.State == store.DeliveryPending })
	})
	failedFirst := 0
	for _, d := range ds {
		if d.State != store.DeliveryDelivered || len(d.Log) != d.Attempts {
			t.Errorf("delivery %d: got %s after %d attempts with %d logged, want delivered with every attempt logged", d.ID, d.State, d.Attempts, len(d.Log))
		}
		if len(d.Log) > 1 && d.Log[len(d.Log)-1].StatusCode != nil && *d.Log[len(d.Log)-1].StatusCode == 503 &&
			d.Log[len(d.Log)-1].Response == "receiver is down" {
			failedFirst++
		}
	}
	if failedFirst == 0 {
		t.Errorf("log: got no delivery whose first attempt logged the 503 and its answer, want some")
	}
}

// TestWebhookWorkerKilledMidDelivery: a dispatcher stopped while the receiver
// holds its request leaves the delivery to the next one, which sends it with
// the same webhook-id.
func TestWebhookWorkerKilledMidDelivery(t *testing.T) {
	t.Parallel()
	e := newWebhookEnv(t, true)
	e.subscribe(`["lead.created"]`)
	e.rx.set(0, make(chan struct{}))
	d := fastRetries(true)
	d.Lease = 300 * time.Millisecond // the killed dispatcher's claim runs out soon
	d.Timeout = time.Minute
	stop := e.dispatch(d)
	hookLead(t, e.st, "Cat Killed", "Gamma", "Interest", 0)
	var held []string
	waitFor(t, "the receiver to hold a request", func() bool { _, held, _, _ = e.rx.snapshot(); return len(held) > 0 })
	stop() // the worker dies mid-delivery: no result is recorded
	e.rx.set(0, nil)
	d2 := fastRetries(true)
	e.dispatch(d2)
	waitFor(t, "the delivery after the restart", func() bool { _, _, got, _ := e.rx.snapshot(); return len(got) > 0 })
	_, _, got, _ := e.rx.snapshot()
	if got[0].id != held[0] || got[0].event["type"] != store.LeadCreated {
		t.Errorf("after the restart: got %s %v, want the held delivery %s again", got[0].id, got[0].event["type"], held[0])
	}
}

// TestWebhookDisabledAfterFailures: a receiver that keeps failing gets its
// subscription turned off, shown on the page; turned on again, the waiting
// delivery goes out.
func TestWebhookDisabledAfterFailures(t *testing.T) {
	t.Parallel()
	e := newWebhookEnv(t, true)
	id := e.subscribe(`["lead.created", "lead.moved"]`)
	e.rx.set(http.StatusInternalServerError, nil)
	d := fastRetries(true)
	d.DisableAfter, d.DisableAfterFailures = time.Nanosecond, 3
	e.dispatch(d)
	hookLead(t, e.st, "Dora Failing", "Delta", "Interest", 0)
	hookID := uuid.MustParse(id)
	waitFor(t, "the webhook to be turned off", func() bool {
		h, err := e.st.GetWebhook(context.Background(), hookID)
		return err == nil && !h.Enabled
	})
	h := e.get(e.admin, "/webhooks/"+id+"/", "Accept", "application/json").json(t)
	if h["enabled"] != false || !strings.Contains(fmt.Sprint(h["disabled_reason"]), "every attempt failed") {
		t.Errorf("GET the webhook: got %v, want it off with the reason", h)
	}
	page := e.get(e.admin, "/admin/webhooks").doc(t)
	if alert := page.Find(`[data-disabled-webhook="` + id + `"]`); alert.Length() != 1 || !strings.Contains(alert.Text(), "is off") {
		t.Errorf("page: got no alert that the webhook is off")
	}
	n, _, _, _ := e.rx.snapshot()
	if n < 3 {
		t.Errorf("attempts before turning off: got %d, want at least 3", n)
	}

	e.rx.set(http.StatusOK, nil)
	r := e.bearer(nil, e.adminToken, "PATCH", "/webhooks/"+id+"/", `{"enabled": true}`)
	wantStatus(t, "turn it back on", r, http.StatusOK)
	if m := r.json(t); m["enabled"] != true || m["consecutive_failures"] != float64(0) {
		t.Errorf("turned on: got %v, want enabled with no failures", m)
	}
	waitFor(t, "the waiting delivery", func() bool { _, _, got, _ := e.rx.snapshot(); return len(got) == 1 })
}

// TestWebhookSSRFAtConnect: a subscription whose receiver is (by now) on a
// loopback address is refused when connecting, whatever it resolved to when
// made.
func TestWebhookSSRFAtConnect(t *testing.T) {
	t.Parallel()
	e := newWebhookEnv(t, false)
	// Made behind the API's back, as a host whose DNS changed would be.
	h, secret, err := e.st.CreateWebhook(context.Background(), store.WebhookInput{URL: e.rx.srv.URL + "/in", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	e.rx.setSecret(secret)
	d := fastRetries(false)
	e.dispatch(d)
	hookLead(t, e.st, "Eve Internal", "Epsilon", "Interest", 0)
	var ds []store.WebhookDelivery
	waitFor(t, "a refused attempt", func() bool {
		ds, err = e.st.ListWebhookDeliveries(context.Background(), h.ID, 10)
		return err == nil && len(ds) == 1 && len(ds[0].Log) > 0
	})
	a := ds[0].Log[0]
	if a.StatusCode != nil || !strings.Contains(a.Error, "refused") || !strings.Contains(a.Error, "loopback") {
		t.Errorf("attempt: got %+v, want refused as a loopback address", a)
	}
	if n, _, _, _ := e.rx.snapshot(); n != 0 {
		t.Errorf("receiver: got %d requests, want none", n)
	}
	// And at subscription time, through the API and the page.
	r := e.bearer(nil, e.adminToken, "POST", "/webhooks/", `{"url": "`+e.rx.srv.URL+`", "events": ["*"]}`)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "loopback") {
		t.Errorf("API subscription to loopback: got %d %s, want 400 naming loopback", r.status, r.body)
	}
	p := e.postForm(e.admin, "/admin/webhooks", url.Values{"url": {"http://10.0.0.8/hook"}, "events": {"*"}})
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(string(p.body), "private address") {
		t.Errorf("page subscription to 10.0.0.8: got %d, want 422 naming a private address", p.status)
	}
	if hooks, _ := e.st.ListWebhooks(context.Background()); len(hooks) != 1 {
		t.Errorf("webhooks: got %d, want only the one made behind the API's back", len(hooks))
	}
}

// TestWebhookAPI: admins manage subscriptions; members get 403; bad input
// gets 400 naming the problem and changes nothing; a delivery can be resent.
func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	e := newWebhookEnv(t, true)
	member := e.user("mem@example.com", store.RoleMember)
	memberToken := handlers.TokenForTest(t, e.st, member, "member's")
	if r := e.bearer(nil, memberToken, "GET", "/webhooks/", ""); r.status != http.StatusForbidden || r.json(t)["error"] == nil {
		t.Errorf("member: got %d %s, want 403 JSON", r.status, r.body)
	}
	if r := e.bearer(nil, memberToken, "POST", "/webhooks/", `{"url": "https://example.com/", "events": ["*"]}`); r.status != http.StatusForbidden {
		t.Errorf("member create: got %d, want 403", r.status)
	}

	long := "https://example.com/" + strings.Repeat("a", 2000)
	bad := []struct{ body, want string }{
		{`{"events": ["*"]}`, "url"},
		{`{"url": "ftp://example.com/", "events": ["*"]}`, "http:// or https://"},
		{`{"url": "example.com/hook", "events": ["*"]}`, "absolute"},
		{`{"url": "` + long + `", "events": ["*"]}`, "at most 2000"},
		{`{"url": "https://user:pw@example.com/", "events": ["*"]}`, "password"},
		{`{"url": "https://example.com/", "events": ["lead.exploded", "lead.moved", "deal.won"]}`, `unknown event types \"lead.exploded\", \"deal.won\"`},
		{`{"url": "https://example.com/", "events": []}`, "at least one"},
		{`{"url": "https://example.com/"}`, "at least one"},
		{`{"url": "https://example.com/", "events": "*"}`, "list"},
		{`{"url": 5, "events": ["*"]}`, "string"},
		{`{"url": "https://example.com/", "events": ["*"], "secret": "mine"}`, `unknown field \"secret\"`},
		{`{"url": "https://example.com/", "events": ["*"], "description": "` + strings.Repeat("d", 501) + `"}`, "500"},
		{`not json`, "JSON"},
	}
	for _, c := range bad {
		r := e.bearer(nil, e.adminToken, "POST", "/webhooks/", c.body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.want) {
			t.Errorf("POST %.80s: got %d %s, want 400 with %s", c.body, r.status, r.body, c.want)
		}
	}
	if n := e.count(`SELECT count(*) FROM webhooks`); n != 0 {
		t.Fatalf("after bad input: got %d webhooks, want none", n)
	}

	id := e.subscribe(`["lead.created", "lead.moved", "lead.created"]`)
	list := e.bearer(nil, e.adminToken, "GET", "/webhooks/", "")
	wantStatus(t, "list", list, http.StatusOK)
	if strings.Contains(string(list.body), "whsec_") || !strings.Contains(string(list.body), `"events":["lead.created","lead.moved"]`) {
		t.Errorf("list: got %s, want the events without duplicates and no secret", list.body)
	}
	for _, c := range bad[1:7] {
		r := e.bearer(nil, e.adminToken, "PATCH", "/webhooks/"+id+"/", c.body)
		if r.status != http.StatusBadRequest {
			t.Errorf("PATCH %.80s: got %d, want 400", c.body, r.status)
		}
	}
	r := e.bearer(nil, e.adminToken, "PATCH", "/webhooks/"+id+"/", `{"description": "to Zapier", "enabled": "yes"}`)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "true or false") {
		t.Errorf("PATCH enabled \"yes\": got %d %s, want 400", r.status, r.body)
	}
	r = e.bearer(nil, e.adminToken, "PATCH", "/webhooks/"+id+"/", `{"description": "to Zapier"}`)
	if r.status != http.StatusOK || r.json(t)["description"] != "to Zapier" {
		t.Errorf("PATCH description: got %d %s", r.status, r.body)
	}
	for _, p := range []string{"/webhooks/" + uuid.NewString() + "/", "/webhooks/nope/", "/webhooks/" + id + "/deliveries/99/resend/"} {
		method := "PATCH"
		if strings.HasSuffix(p, "resend/") {
			method = "POST"
		}
		if r := e.bearer(nil, e.adminToken, method, p, `{"description": "x"}`); r.status != http.StatusNotFound || r.json(t)["error"] == nil {
			t.Errorf("%s %s: got %d %s, want 404 JSON", method, p, r.status, r.body)
		}
	}

	// A delivery, then a resend with the same webhook-id; the log shows both.
	stop := e.dispatch(fastRetries(true))
	hookLead(t, e.st, "Fay Resent", "Zeta", "Interest", 0)
	waitFor(t, "the delivery to be recorded", func() bool {
		ds, err := e.st.ListWebhookDeliveries(context.Background(), uuid.MustParse(id), 10)
		return err == nil && len(ds) == 1 && ds[0].State == store.DeliveryDelivered
	})
	ds := e.bearer(nil, e.adminToken, "GET", "/webhooks/"+id+"/deliveries/", "")
	wantStatus(t, "deliveries", ds, http.StatusOK)
	var log struct {
		Deliveries []store.WebhookDelivery `json:"deliveries"`
	}
	if err := json.Unmarshal(ds.body, &log); err != nil || len(log.Deliveries) != 1 || log.Deliveries[0].State != "delivered" {
		t.Fatalf("deliveries: got %s, want one delivered", ds.body)
	}
	dl := log.Deliveries[0]
	if a := dl.Log[0]; a.StatusCode == nil || *a.StatusCode != 200 || a.Response != `{"ok": true}` {
		t.Errorf("attempt: got %+v, want 200 with the answer", a)
	}
	r = e.bearer(nil, e.adminToken, "POST", fmt.Sprintf("/webhooks/%s/deliveries/%d/resend/", id, dl.ID), "")
	wantStatus(t, "resend", r, http.StatusAccepted)
	waitFor(t, "the resend", func() bool { _, _, got, _ := e.rx.snapshot(); return len(got) == 2 })
	// The page's resend too.
	page := e.get(e.admin, "/admin/webhooks/"+id).doc(t)
	if page.Find("#delivery-"+strconv.FormatInt(dl.ID, 10)).Length() != 1 {
		t.Errorf("log page: got no row for delivery %d", dl.ID)
	}
	wantRedirect(t, "page resend", e.postForm(e.admin, fmt.Sprintf("/admin/webhooks/%s/deliveries/%d/resend", id, dl.ID), nil),
		"/admin/webhooks/"+id+"?done=resent")
	waitFor(t, "the page's resend", func() bool { _, _, got, _ := e.rx.snapshot(); return len(got) == 3 })
	stop()
	_, _, got, _ := e.rx.snapshot()
	if got[0].id != dl.MessageID || got[1].id != dl.MessageID || got[2].id != dl.MessageID {
		t.Errorf("resends: got webhook-ids %s, %s, %s, want %s each time", got[0].id, got[1].id, got[2].id, dl.MessageID)
	}

	wantStatus(t, "delete", e.bearer(nil, e.adminToken, "DELETE", "/webhooks/"+id+"/", ""), http.StatusNoContent)
	wantStatus(t, "delete again", e.bearer(nil, e.adminToken, "DELETE", "/webhooks/"+id+"/", ""), http.StatusNotFound)
	if n := e.count(`SELECT count(*) FROM webhook_deliveries`); n != 0 {
		t.Errorf("after delete: got %d deliveries, want none", n)
	}
}

// TestWebhooksPage: an admin adds a webhook on the page and sees its secret
// once; turns it off and on; members are refused.
func TestWebhooksPage(t *testing.T) {
	t.Parallel()
	e := newWebhookEnv(t, true)
	e.user("mem@example.com", store.RoleMember)
	if r := e.get(e.browser("mem@example.com"), "/admin/webhooks"); r.status != http.StatusForbidden {
		t.Errorf("member: got %d, want 403", r.status)
	}
	admin := e.get(e.admin, "/admin/users").doc(t)
	if admin.Find(`a[href="/admin/webhooks"]`).Length() == 0 {
		t.Errorf("admin page: got no link to the webhooks page")
	}
	bad := e.postForm(e.admin, "/admin/webhooks", url.Values{"url": {"gopher://x"}, "events": {"lead.created"}})
	if bad.status != http.StatusUnprocessableEntity || bad.doc(t).Find(`[data-field-error="url"]`).Length() != 1 {
		t.Errorf("bad form: got %d, want 422 with a message at the URL", bad.status)
	}
	r := e.postForm(e.admin, "/admin/webhooks", url.Values{"url": {e.rx.srv.URL}, "events": {"lead.created", "lead.moved"}, "description": {"sales tool"}})
	wantStatus(t, "add on the page", r, http.StatusOK)
	secret := r.doc(t).Find("[data-secret]").Text()
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("page after adding: got secret %q, want it shown", secret)
	}
	page := e.get(e.admin, "/admin/webhooks")
	if strings.Contains(string(page.body), secret) {
		t.Errorf("page later: the secret is shown again")
	}
	hooks, _ := e.st.ListWebhooks(context.Background())
	if len(hooks) != 1 || strings.Join(hooks[0].Events, ",") != "lead.created,lead.moved" || hooks[0].Description != "sales tool" {
		t.Fatalf("webhooks: got %+v", hooks)
	}
	id := hooks[0].ID.String()
	wantRedirect(t, "turn off", e.postForm(e.admin, "/admin/webhooks/"+id+"/disable", nil), "/admin/webhooks?done=disabled")
	if h, _ := e.st.GetWebhook(context.Background(), hooks[0].ID); h.Enabled {
		t.Errorf("after turning off: still on")
	}
	wantRedirect(t, "turn on", e.postForm(e.admin, "/admin/webhooks/"+id+"/enable", nil), "/admin/webhooks?done=enabled")
	wantRedirect(t, "delete", e.postForm(e.admin, "/admin/webhooks/"+id+"/delete", nil), "/admin/webhooks?done=deleted")
	if n := e.count(`SELECT count(*) FROM webhooks`); n != 0 {
		t.Errorf("after delete: got %d webhooks, want none", n)
	}
}
