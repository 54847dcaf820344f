package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// authEnv is the real stack with accounts: the route table with sessions in
// PostgreSQL and a queue on a Redis database of the test's own.
type authEnv struct {
	t     *testing.T
	st    *store.Store
	pool  *pgxpool.Pool
	srv   *handlers.Server
	ts    *httptest.Server
	queue *handlers.Queue
	redis asynq.RedisConnOpt
}

func newAuthEnv(t *testing.T, configure ...func(*handlers.Server)) *authEnv {
	t.Helper()
	st, pool := storetest.NewStore(t)
	redisOpt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redisOpt)
	t.Cleanup(func() { client.Close() })
	e := &authEnv{t: t, st: st, pool: pool, queue: &handlers.Queue{Client: client, TurnTimeout: 30 * time.Second}, redis: redisOpt}
	e.srv = &handlers.Server{Store: st, Log: discardLog(), Version: "test", Sessions: handlers.SessionsForTest(pool),
		Enqueuer: e.queue, AssistantMode: "offline"}
	for _, f := range configure {
		f(e.srv)
	}
	e.ts = httptest.NewServer(e.srv.Routes())
	t.Cleanup(e.ts.Close)
	return e
}

// startWorker runs an asynq worker with the offline assistant until the test ends.
func (e *authEnv) startWorker() {
	e.t.Helper()
	w := asynq.NewServer(e.redis, asynq.Config{Concurrency: 2, LogLevel: asynq.FatalLevel, TaskCheckInterval: 20 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second})
	tasks := &handlers.Tasks{Store: e.st, Log: discardLog(), Assistant: assistant.New(e.st, discardLog(), assistant.Config{}),
		Enqueuer: e.queue, TurnTimeout: 30 * time.Second}
	if err := w.Start(handlers.NewTaskMux(tasks)); err != nil {
		e.t.Fatalf("start worker: %v", err)
	}
	e.t.Cleanup(w.Shutdown)
}

// chat sends a message as client c and waits for the final reply; it returns
// the reply's status answer.
func (e *authEnv) chat(c *http.Client, message string) map[string]any {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"message": message})
	r := e.req(c, "POST", "/chat/", "application/json", string(b))
	if r.status != http.StatusAccepted {
		e.t.Fatalf("chat %q: got %d %s, want 202", message, r.status, r.body)
	}
	id := r.json(e.t)["task_id"].(string)
	for range 3000 { // a bound against a hang, not a timing assertion
		m := e.get(c, "/chat/status/"+id+"/").json(e.t)
		if m["state"] == "SUCCESS" || m["state"] == "FAILURE" {
			return m
		}
		time.Sleep(20 * time.Millisecond) // polling the job, as a client does
	}
	e.t.Fatalf("chat %q: the reply never became final", message)
	return nil
}

func (e *authEnv) user(email, role string) store.User {
	e.t.Helper()
	return handlers.UserForTest(e.t, e.st, email, role)
}

// browser signs email in and returns the client holding the session.
func (e *authEnv) browser(email string) *http.Client {
	e.t.Helper()
	return handlers.SignedInClient(e.t, e.ts.URL, email)
}

// req makes a request with client c (nil: a client without cookies). headers
// are name, value pairs.
func (e *authEnv) req(c *http.Client, method, path, contentType, body string, headers ...string) response {
	e.t.Helper()
	if c == nil {
		c = handlers.NewBrowserClient(e.t)
	}
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
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (e *authEnv) get(c *http.Client, path string, headers ...string) response {
	e.t.Helper()
	return e.req(c, http.MethodGet, path, "", "", headers...)
}

func (e *authEnv) postForm(c *http.Client, path string, form url.Values, headers ...string) response {
	e.t.Helper()
	return e.req(c, http.MethodPost, path, "application/x-www-form-urlencoded", form.Encode(), headers...)
}

func (e *authEnv) bearer(c *http.Client, token, method, path, body string) response {
	e.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return e.req(c, method, path, ct, body, "Authorization", "Bearer "+token)
}

func (r response) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return d
}

func wantStatus(t *testing.T, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: got %d, want %d; body: %.600s", what, r.status, want, r.body)
	}
}

func wantRedirect(t *testing.T, what string, r response, want string) {
	t.Helper()
	if r.status != http.StatusSeeOther || r.header.Get("Location") != want {
		t.Fatalf("%s: got %d to %q, want 303 to %q; body: %.300s", what, r.status, r.header.Get("Location"), want, r.body)
	}
}

func sessionCookie(t *testing.T, c *http.Client, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "crm_session" {
			return ck.Value
		}
	}
	return ""
}

func (e *authEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestFirstRunSetup(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	anon := handlers.NewBrowserClient(t)
	wantRedirect(t, "GET / on a fresh install", e.get(anon, "/"), "/setup")
	wantRedirect(t, "GET /signin on a fresh install", e.get(anon, "/signin"), "/setup")
	wantStatus(t, "GET /leads/ on a fresh install", e.get(anon, "/leads/"), http.StatusUnauthorized)
	page := e.get(anon, "/setup")
	wantStatus(t, "GET /setup", page, http.StatusOK)
	if page.doc(t).Find(`form[action="/setup"] input[name=password]`).Length() != 1 {
		t.Errorf("setup page: got no password field, want the first admin's form")
	}

	bad := e.postForm(anon, "/setup", url.Values{"email": {"admin@example.com"}, "name": {"Ada"}, "password": {"password123"}})
	wantStatus(t, "setup with a common password", bad, http.StatusUnprocessableEntity)
	if got := bad.doc(t).Find(`[data-field-error=password]`).Text(); !strings.Contains(got, "most common") {
		t.Errorf("setup with a common password: got message %q, want it named common", got)
	}
	if n := e.count("SELECT count(*) FROM users"); n != 0 {
		t.Errorf("users after a refused setup: got %d, want 0", n)
	}

	admin := handlers.NewBrowserClient(t)
	r := e.postForm(admin, "/setup", url.Values{"email": {"admin@example.com"}, "name": {"Ada"}, "password": {handlers.TestPassword}})
	wantRedirect(t, "setup", r, "/")
	wantStatus(t, "board after setup", e.get(admin, "/"), http.StatusOK)
	var role string
	if err := e.pool.QueryRow(context.Background(), "SELECT role FROM users WHERE email = 'admin@example.com'").Scan(&role); err != nil || role != "admin" {
		t.Errorf("first account: got role %q (%v), want admin", role, err)
	}

	// Setup is closed from now on, whoever asks.
	wantRedirect(t, "GET /setup after setup", e.get(anon, "/setup"), "/signin")
	late := e.postForm(anon, "/setup", url.Values{"email": {"mallory@example.com"}, "name": {"M"}, "password": {handlers.TestPassword}})
	wantRedirect(t, "POST /setup after setup", late, "/signin")
	if n := e.count("SELECT count(*) FROM users"); n != 1 {
		t.Errorf("users after a second setup: got %d, want 1", n)
	}
	wantRedirect(t, "GET / signed out", e.get(anon, "/"), "/signin")
}

func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	c := handlers.NewBrowserClient(t)

	wantRedirect(t, "GET /trash signed out", e.get(c, "/trash"), "/signin?next=%2Ftrash")
	page := e.get(c, "/signin?next=%2Ftrash")
	wantStatus(t, "sign-in page", page, http.StatusOK)
	if v, _ := page.doc(t).Find(`input[name=next]`).Attr("value"); v != "/trash" {
		t.Errorf("sign-in page next: got %q, want /trash", v)
	}
	for _, tc := range []struct {
		name, email, password string
		want                  int
	}{
		{"wrong password", "ann@example.com", "not the password", http.StatusUnauthorized},
		{"unknown email", "nobody@example.com", handlers.TestPassword, http.StatusUnauthorized},
		{"no password", "ann@example.com", "", http.StatusUnprocessableEntity},
		{"no email", "", handlers.TestPassword, http.StatusUnprocessableEntity},
	} {
		r := e.postForm(c, "/signin", url.Values{"email": {tc.email}, "password": {tc.password}})
		if r.status != tc.want || sessionCookie(t, c, e.ts.URL) != "" {
			t.Errorf("sign in with %s: got %d and cookie %q, want %d and no session", tc.name, r.status, sessionCookie(t, c, e.ts.URL), tc.want)
		}
	}
	wrong := e.postForm(c, "/signin", url.Values{"email": {"ann@example.com"}, "password": {"nope nope nope"}})
	unknown := e.postForm(c, "/signin", url.Values{"email": {"zed@example.com"}, "password": {"nope nope nope"}})
	if a, b := wrong.doc(t).Find("#signin-error").Text(), unknown.doc(t).Find("#signin-error").Text(); a != b || a == "" {
		t.Errorf("messages for a wrong password and an unknown email: got %q and %q, want the same", a, b)
	}

	// Open redirects are refused: next must be a path of this site.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		c2 := handlers.NewBrowserClient(t)
		r := e.postForm(c2, "/signin", url.Values{"email": {"ann@example.com"}, "password": {handlers.TestPassword}, "next": {next}})
		wantRedirect(t, "sign in with next "+next, r, "/")
	}

	r := e.postForm(c, "/signin", url.Values{"email": {"ann@example.com"}, "password": {handlers.TestPassword}, "next": {"/trash"}})
	wantRedirect(t, "sign in", r, "/trash")
	for _, ck := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(ck, "crm_session=") && (!strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Lax")) {
			t.Errorf("session cookie got %q, want HttpOnly and SameSite=Lax", ck)
		}
	}
	wantStatus(t, "trash signed in", e.get(c, "/trash"), http.StatusOK)
	wantStatus(t, "API signed in by cookie", e.get(c, "/leads/"), http.StatusOK)
	if d := e.get(c, "/").doc(t); d.Find(`form[action="/signout"]`).Length() != 1 {
		t.Errorf("board: got no sign-out form, want one in the top bar")
	}

	old := sessionCookie(t, c, e.ts.URL)
	out := e.postForm(c, "/signout", nil)
	wantRedirect(t, "sign out", out, "/signin?signed_out=1")
	if n := e.count("SELECT count(*) FROM sessions WHERE token = $1", old); n != 0 {
		t.Errorf("session rows of the token after sign-out: got %d, want 0", n)
	}
	wantRedirect(t, "board after sign-out", e.get(c, "/"), "/signin")
	wantStatus(t, "API after sign-out", e.get(c, "/leads/"), http.StatusUnauthorized)
	// The old token, replayed, is worth nothing.
	replay := e.get(nil, "/leads/", "Cookie", "crm_session="+old)
	wantStatus(t, "API with the signed-out token", replay, http.StatusUnauthorized)
	// A bearer call to sign out has no session to end: nothing breaks.
	tok := handlers.TokenForTest(t, e.st, ann, "script")
	wantRedirect(t, "sign out with a token", e.req(nil, "POST", "/signout", "", "", "Authorization", "Bearer "+tok), "/signin?signed_out=1")
	wantStatus(t, "the token after its sign-out", e.bearer(nil, tok, "GET", "/leads/", ""), http.StatusOK)
	// Signing out is a POST: a GET changes nothing (and there is no such route).
	if r := e.get(nil, "/signout"); r.status == http.StatusOK {
		t.Errorf("GET /signout: got 200, want no sign-out by GET")
	}
}

func TestHTMXRequestSignedOut(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("ann@example.com", store.RoleMember)
	r := e.get(nil, "/board/cards?status=Interest&after=-1", "HX-Request", "true", "HX-Current-URL", e.ts.URL+"/?q=acme")
	if r.status != http.StatusUnauthorized || r.header.Get("HX-Redirect") != "/signin?next=%2F%3Fq%3Dacme" {
		t.Errorf("htmx request signed out: got %d with HX-Redirect %q, want 401 with HX-Redirect to sign-in returning to /?q=acme",
			r.status, r.header.Get("HX-Redirect"))
	}
}

// TestSessionFixation plants a session token before sign-in: signing in must
// give a new one and leave the planted one worthless.
func TestSessionFixation(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("ann@example.com", store.RoleMember)
	e.user("mallory@example.com", store.RoleMember)

	// Mallory gets a real session token of her own, and plants it in Ann's browser.
	mallory := e.browser("mallory@example.com")
	planted := sessionCookie(t, mallory, e.ts.URL)
	victim := handlers.NewBrowserClient(t)
	u, _ := url.Parse(e.ts.URL)
	victim.Jar.SetCookies(u, []*http.Cookie{{Name: "crm_session", Value: planted, Path: "/"}})

	handlers.SignInClient(t, victim, e.ts.URL, "ann@example.com")
	got := sessionCookie(t, victim, e.ts.URL)
	if got == "" || got == planted {
		t.Fatalf("session token after sign-in: got %q, want a new one (planted %q)", got, planted)
	}
	if n := e.count("SELECT count(*) FROM sessions WHERE token = $1", planted); n != 0 {
		t.Errorf("rows of the planted token after sign-in: got %d, want 0", n)
	}
	// What the planted token names is not Ann's session.
	r := e.get(nil, "/settings", "Cookie", "crm_session="+planted)
	if r.status == http.StatusOK && strings.Contains(string(r.body), "ann@example.com") {
		t.Errorf("settings with the planted token: got Ann's page, want anything but")
	}
	if d := e.get(victim, "/settings").doc(t); !strings.Contains(d.Find(".account-sub").Text(), "ann@example.com") {
		t.Errorf("settings after sign-in: got %q, want Ann's", d.Find(".account-sub").Text())
	}

	// A made-up token is replaced too.
	made := handlers.NewBrowserClient(t)
	made.Jar.SetCookies(u, []*http.Cookie{{Name: "crm_session", Value: "attacker-chosen-token-aaaaaaaaaaaaaaaaaaaa", Path: "/"}})
	handlers.SignInClient(t, made, e.ts.URL, "ann@example.com")
	if got := sessionCookie(t, made, e.ts.URL); got == "attacker-chosen-token-aaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("session token after sign-in with a made-up one: got the same, want a new one")
	}
}

// TestSignOutWithRequestInFlight signs out while another request of the same
// session is still running, one that writes the session when it ends (a chat
// message: it stores the conversation's key in the session). scs then saves the
// session again under the old token, but the session stays ended.
func TestSignOutWithRequestInFlight(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("ann@example.com", store.RoleMember)
	c := e.browser("ann@example.com")
	token := sessionCookie(t, c, e.ts.URL)

	// The slow request: the body is sent only once the handler reads it (Expect:
	// 100-continue), so when the first byte is taken the request has passed
	// the sign-in check and is in its handler.
	pr, pw := io.Pipe()
	slow := &http.Client{Jar: c.Jar, Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Minute}}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/chat/", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	var wg sync.WaitGroup
	var slowRes *http.Response
	var slowErr error
	wg.Go(func() { slowRes, slowErr = slow.Do(req) })
	body := []byte(`{"message": "list leads in Interest"}`)
	if _, err := pw.Write(body[:1]); err != nil { // returns once the handler reads
		t.Fatal(err)
	}

	out := e.postForm(c, "/signout", nil)
	wantRedirect(t, "sign out", out, "/signin?signed_out=1")

	if _, err := pw.Write(body[1:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	wg.Wait()
	if slowErr != nil {
		t.Fatal(slowErr)
	}
	slowRes.Body.Close()
	if slowRes.StatusCode != http.StatusAccepted {
		t.Errorf("the request in flight: got %d, want 202 (it was signed in when it started)", slowRes.StatusCode)
	}
	// The in-flight request saved the session's data again under the old token:
	// the case this test is about.
	if n := e.count("SELECT count(*) FROM sessions WHERE token = $1", token); n != 1 {
		t.Errorf("scs rows of the old token after the request in flight ended: got %d, want 1 (saved again)", n)
	}
	// Yet the session is over: it names a signed-out session.
	for _, path := range []string{"/leads/", "/chat/status/00000000-0000-0000-0000-000000000000/"} {
		r := e.get(nil, path, "Cookie", "crm_session="+token)
		wantStatus(t, "GET "+path+" with the signed-out session's token", r, http.StatusUnauthorized)
	}
	wantRedirect(t, "board with the signed-out session's token", e.get(nil, "/", "Cookie", "crm_session="+token), "/signin")
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleMember)
	bob := e.user("bob@example.com", store.RoleMember)
	laptop, phone := e.browser("ann@example.com"), e.browser("ann@example.com")
	bobs := e.browser("bob@example.com")
	token := handlers.TokenForTest(t, e.st, ann, "script")

	wrong := e.postForm(laptop, "/settings/password", url.Values{"current": {"not my password"}, "password": {"a whole new passphrase"}})
	wantStatus(t, "password change with a wrong current password", wrong, http.StatusUnprocessableEntity)
	common := e.postForm(laptop, "/settings/password", url.Values{"current": {handlers.TestPassword}, "password": {"1234567890"}})
	wantStatus(t, "password change to a common password", common, http.StatusUnprocessableEntity)
	wantStatus(t, "phone after refused changes", e.get(phone, "/leads/"), http.StatusOK)

	before := sessionCookie(t, laptop, e.ts.URL)
	r := e.postForm(laptop, "/settings/password", url.Values{"current": {handlers.TestPassword}, "password": {"a whole new passphrase"}})
	wantRedirect(t, "password change", r, "/settings?done=password")
	if after := sessionCookie(t, laptop, e.ts.URL); after == before {
		t.Errorf("laptop's session token after the change: got the same, want a new one")
	}
	wantStatus(t, "laptop (made the change)", e.get(laptop, "/leads/"), http.StatusOK)
	wantStatus(t, "phone (another session)", e.get(phone, "/leads/"), http.StatusUnauthorized)
	wantRedirect(t, "phone's board", e.get(phone, "/"), "/signin")
	wantStatus(t, "bob's session", e.get(bobs, "/leads/"), http.StatusOK)
	wantStatus(t, "ann's API token (revoked on its own)", e.bearer(nil, token, "GET", "/leads/", ""), http.StatusOK)

	fresh := handlers.NewBrowserClient(t)
	old := e.postForm(fresh, "/signin", url.Values{"email": {"ann@example.com"}, "password": {handlers.TestPassword}})
	wantStatus(t, "sign in with the old password", old, http.StatusUnauthorized)
	ok := e.postForm(fresh, "/signin", url.Values{"email": {"ann@example.com"}, "password": {"a whole new passphrase"}})
	wantRedirect(t, "sign in with the new password", ok, "/")

	// An admin's reset ends every session of that person.
	admin := e.user("root@example.com", store.RoleAdmin)
	_ = admin
	root := e.browser("root@example.com")
	reset := e.postForm(root, "/admin/users/"+bob.ID.String()+"/password", url.Values{"password": {"bob's brand new passphrase"}})
	wantRedirect(t, "admin resets bob's password", reset, "/admin/users?done=password")
	wantStatus(t, "bob's session after the reset", e.get(bobs, "/leads/"), http.StatusUnauthorized)
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("ann@example.com", store.RoleMember)
	bob := e.user("bob@example.com", store.RoleMember)
	ann := e.browser("ann@example.com")

	page := e.postForm(ann, "/settings/tokens", url.Values{"name": {"nightly import"}})
	wantStatus(t, "create token", page, http.StatusOK)
	secret, _ := page.doc(t).Find("#new-token").Attr("value")
	if !strings.HasPrefix(secret, store.TokenPrefix) {
		t.Fatalf("new token on the page: got %q, want crm_...", secret)
	}
	if cc := page.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("page with the new token: Cache-Control got %q, want no-store", cc)
	}
	again := e.get(ann, "/settings")
	if strings.Contains(string(again.body), secret) {
		t.Errorf("settings page after creating: got the secret shown again, want it shown once")
	}
	if again.doc(t).Find(`tr[data-token="nightly import"]`).Length() != 1 {
		t.Errorf("settings page: got no row for the token, want one")
	}
	dup := e.postForm(ann, "/settings/tokens", url.Values{"name": {"nightly import"}})
	wantStatus(t, "second token with the name", dup, http.StatusUnprocessableEntity)

	created := e.bearer(nil, secret, "POST", "/leads/", `{"name": "From a script"}`)
	wantStatus(t, "API create with the token", created, http.StatusCreated)
	var lead store.Lead
	_ = json.Unmarshal(created.body, &lead)
	if h, _ := e.st.LeadHistory(context.Background(), lead.ID, 10); len(h) != 1 || h[0].ActorName != "API token “nightly import” of Ann" {
		t.Errorf("history of the lead made with the token: got %+v, want one create by the token of Ann", h)
	}
	listed := e.get(ann, "/settings").doc(t).Find(`tr[data-token="nightly import"]`).Text()
	if !strings.Contains(listed, "last used") {
		t.Errorf("token row after a use: got %q, want a last-used time", listed)
	}

	var tokenID string
	if err := e.pool.QueryRow(context.Background(), "SELECT id::text FROM api_tokens WHERE name = 'nightly import'").Scan(&tokenID); err != nil {
		t.Fatal(err)
	}
	// Bob cannot revoke Ann's token.
	bobs := e.browser("bob@example.com")
	wantStatus(t, "bob revokes ann's token", e.postForm(bobs, "/settings/tokens/"+tokenID+"/revoke", nil), http.StatusNotFound)
	wantStatus(t, "token after bob's attempt", e.bearer(nil, secret, "GET", "/leads/", ""), http.StatusOK)

	rev := e.postForm(ann, "/settings/tokens/"+tokenID+"/revoke", nil)
	wantRedirect(t, "revoke", rev, "/settings?done=revoked")
	r := e.bearer(nil, secret, "GET", "/leads/", "")
	wantStatus(t, "API with the revoked token", r, http.StatusUnauthorized)
	if !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("revoked token: WWW-Authenticate got %q, want invalid_token", r.header.Get("WWW-Authenticate"))
	}
	// A bad token is refused even when a good session cookie comes along.
	wantStatus(t, "revoked token with a session cookie", e.bearer(ann, secret, "GET", "/leads/", ""), http.StatusUnauthorized)

	// Deactivating a user stops their tokens; reactivating brings them back.
	bobToken := handlers.TokenForTest(t, e.st, bob, "bob's script")
	e.user("root@example.com", store.RoleAdmin)
	root := e.browser("root@example.com")
	wantRedirect(t, "deactivate bob", e.postForm(root, "/admin/users/"+bob.ID.String()+"/deactivate", nil), "/admin/users?done=deactivated")
	wantStatus(t, "bob's token while deactivated", e.bearer(nil, bobToken, "GET", "/leads/", ""), http.StatusUnauthorized)
	wantStatus(t, "bob's session while deactivated", e.get(bobs, "/leads/"), http.StatusUnauthorized)
	wantRedirect(t, "reactivate bob", e.postForm(root, "/admin/users/"+bob.ID.String()+"/activate", nil), "/admin/users?done=activated")
	wantStatus(t, "bob's token reactivated", e.bearer(nil, bobToken, "GET", "/leads/", ""), http.StatusOK)
	wantStatus(t, "bob's session reactivated (ended by the deactivation)", e.get(bobs, "/leads/"), http.StatusUnauthorized)

	// Malformed Authorization headers.
	for _, h := range []string{"Basic YW5uOnB3", "Bearer", "Bearer ", "Token " + secret, secret} {
		r := e.get(nil, "/leads/", "Authorization", h)
		wantStatus(t, "Authorization: "+h, r, http.StatusUnauthorized)
	}
}

func TestAdminPage(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("root@example.com", store.RoleAdmin)
	e.user("mem@example.com", store.RoleMember)
	root, mem := e.browser("root@example.com"), e.browser("mem@example.com")

	wantStatus(t, "member opens the admin page", e.get(mem, "/admin/users"), http.StatusForbidden)
	if e.get(mem, "/").doc(t).Find(`a[href="/admin/users"]`).Length() != 0 {
		t.Errorf("member's top bar: got an admin link, want none")
	}
	page := e.get(root, "/admin/users")
	wantStatus(t, "admin page", page, http.StatusOK)
	if n := page.doc(t).Find("tr[data-user]").Length(); n != 2 {
		t.Errorf("admin page: got %d accounts, want 2", n)
	}
	add := e.postForm(root, "/admin/users", url.Values{"email": {"new@example.com"}, "name": {"Newt"}, "password": {handlers.TestPassword}, "role": {"member"}})
	wantRedirect(t, "add account", add, "/admin/users?done=added")
	wantRedirect(t, "new account signs in", e.postForm(handlers.NewBrowserClient(t), "/signin",
		url.Values{"email": {"new@example.com"}, "password": {handlers.TestPassword}}), "/")
	dup := e.postForm(root, "/admin/users", url.Values{"email": {"NEW@example.com"}, "name": {"Again"}, "password": {handlers.TestPassword}})
	wantStatus(t, "add an account with a used email", dup, http.StatusUnprocessableEntity)
	if msg := dup.doc(t).Find("[data-field-error=email]").Text(); !strings.Contains(msg, "already used") {
		t.Errorf("used email: got %q, want it said", msg)
	}
	var rootID string
	_ = e.pool.QueryRow(context.Background(), "SELECT id::text FROM users WHERE email = 'root@example.com'").Scan(&rootID)
	self := e.postForm(root, "/admin/users/"+rootID+"/deactivate", nil)
	wantStatus(t, "admin deactivates themselves", self, http.StatusBadRequest)
	wantStatus(t, "unknown account", e.postForm(root, "/admin/users/"+"00000000-0000-0000-0000-000000000001/deactivate", nil), http.StatusNotFound)
	wantStatus(t, "not a uuid", e.postForm(root, "/admin/users/nope/deactivate", nil), http.StatusNotFound)
}
