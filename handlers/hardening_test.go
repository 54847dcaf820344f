package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// Tests of the findings of an attack with real tools (issue 16): each failed
// before its fix.

// syncLog collects log output written from handler goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browserResolve is where a browser goes for the Location loc of a response
// from base, after the URL parser's own clean-up (WHATWG URL standard): leading
// and trailing C0 controls and spaces are stripped, tabs and newlines removed
// anywhere, and a backslash is a slash in http(s) URLs.
func browserResolve(t *testing.T, base, loc string) *url.URL {
	t.Helper()
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
	b, _ := url.Parse(base)
	u, err := b.Parse(loc)
	if err != nil {
		t.Fatalf("the browser cannot parse Location %q: %v", loc, err)
	}
	return u
}

// TestSignInNextStaysOnSite: ?next= never sends a browser to another site,
// whatever it hides in tabs, newlines or backslashes, both when a signed-in
// browser opens /signin and when a sign-in succeeds.
func TestSignInNextStaysOnSite(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.user("ann@example.com", store.RoleMember)
	signedIn := e.browser("ann@example.com")
	host := strings.TrimPrefix(e.ts.URL, "http://")
	for _, next := range []string{
		"/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", " //evil.example",
		`/\evil.example`, `\/evil.example`, `/\t\evil.example`, "/\t\\evil.example", "//evil.example",
		"https://evil.example/", "/%09/evil.example", "/\x00/evil.example", "\x01//evil.example",
		"/\u00a0/evil.example", "/leads/?q=a\tb",
	} {
		for _, how := range []string{"signed in", "signing in"} {
			var r response
			if how == "signed in" {
				r = e.get(signedIn, "/signin?"+url.Values{"next": {next}}.Encode())
			} else {
				form := url.Values{"email": {"ann@example.com"}, "password": {handlers.TestPassword}, "next": {next}}
				r = e.postForm(nil, "/signin", form)
			}
			if r.status != http.StatusSeeOther {
				t.Fatalf("%s with next=%q: got %d, want 303", how, next, r.status)
			}
			loc := r.header.Get("Location")
			if u := browserResolve(t, e.ts.URL, loc); u.Host != host {
				t.Errorf("%s with next=%q: got Location %q, which a browser opens at host %q; want this site (%s)", how, next, loc, u.Host, host)
			}
		}
	}
	// A plain local path still comes back.
	r := e.get(signedIn, "/signin?next="+url.QueryEscape("/board/leads/new?status=Interest"))
	wantRedirect(t, "signed in with a local next", r, "/board/leads/new?status=Interest")
}

// TestTokensCannotMakeTokens: an API token cannot create or revoke API tokens
// (revoking a leaked token must end its access); a signed-in browser can.
func TestTokensCannotMakeTokens(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	tok := handlers.TokenForTest(t, e.st, ann, "script")
	other := handlers.TokenForTest(t, e.st, ann, "other")
	_ = other
	tokens := func() int {
		return e.count(`SELECT count(*) FROM api_tokens WHERE user_id = $1`, ann.ID)
	}
	before := tokens()
	r := e.req(nil, http.MethodPost, "/settings/tokens", "application/x-www-form-urlencoded", url.Values{"name": {"more"}}.Encode(),
		"Authorization", "Bearer "+tok)
	if r.status != http.StatusForbidden || tokens() != before {
		t.Fatalf("POST /settings/tokens with a bearer token: got %d and %d tokens, want 403 and %d tokens; body: %.300s",
			r.status, tokens(), before, r.body)
	}
	var otherID string
	if err := e.pool.QueryRow(t.Context(), `SELECT id::text FROM api_tokens WHERE name = 'other'`).Scan(&otherID); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/settings/tokens/" + otherID + "/revoke", "/admin/users/" + ann.ID.String() + "/tokens/" + otherID + "/revoke"} {
		r = e.req(nil, http.MethodPost, path, "application/x-www-form-urlencoded", "", "Authorization", "Bearer "+tok)
		if r.status != http.StatusForbidden || tokens() != before {
			t.Fatalf("POST %s with a bearer token: got %d and %d tokens, want 403 and %d tokens", path, r.status, tokens(), before)
		}
	}
	// A browser session still manages tokens.
	b := e.browser("ann@example.com")
	wantStatus(t, "POST /settings/tokens signed in", e.postForm(b, "/settings/tokens", url.Values{"name": {"more"}}), http.StatusOK)
	if tokens() != before+1 {
		t.Fatalf("after creating a token signed in: got %d tokens, want %d", tokens(), before+1)
	}
}

// TestOwnPasswordNeedsCurrent: an admin's API token (or session) cannot set the
// admin's own password through the admin route without the current password;
// setting someone else's still works.
func TestOwnPasswordNeedsCurrent(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	tok := handlers.TokenForTest(t, e.st, ann, "script")
	const newPW = "a brand new password 42"
	signsIn := func(email, pw string) bool {
		r := e.postForm(nil, "/signin", url.Values{"email": {email}, "password": {pw}})
		return r.status == http.StatusSeeOther
	}
	own := "/admin/users/" + ann.ID.String() + "/password"
	r := e.req(nil, http.MethodPost, own, "application/x-www-form-urlencoded", url.Values{"password": {newPW}}.Encode(),
		"Authorization", "Bearer "+tok)
	if r.status < 400 || r.status >= 500 || signsIn("ann@example.com", newPW) {
		t.Fatalf("admin token sets own password without the current one: got %d (new password works: %v), want a 4xx and no change",
			r.status, signsIn("ann@example.com", newPW))
	}
	b := e.browser("ann@example.com")
	r = e.postForm(b, own, url.Values{"password": {newPW}})
	if r.status < 400 || r.status >= 500 || signsIn("ann@example.com", newPW) {
		t.Fatalf("admin session sets own password without the current one: got %d, want a 4xx and no change", r.status)
	}
	r = e.req(nil, http.MethodPost, own, "application/x-www-form-urlencoded",
		url.Values{"current": {"not the password"}, "password": {newPW}}.Encode(), "Authorization", "Bearer "+tok)
	if r.status < 400 || r.status >= 500 || signsIn("ann@example.com", newPW) {
		t.Fatalf("own password with a wrong current one: got %d, want a 4xx and no change", r.status)
	}
	// With the current password it works, from a signed-in browser, and an
	// admin still sets others' there.
	r = e.postForm(b, own, url.Values{"current": {handlers.TestPassword}, "password": {newPW}})
	if r.status >= 400 || !signsIn("ann@example.com", newPW) {
		t.Fatalf("own password with the current one: got %d, want it changed", r.status)
	}
	r = e.postForm(b, "/admin/users/"+bob.ID.String()+"/password", url.Values{"password": {newPW}})
	if r.status != http.StatusSeeOther || !signsIn("bob@example.com", newPW) {
		t.Fatalf("admin sets a member's password: got %d, want 303 and the new password working", r.status)
	}
}

// TestAdminTokenCannotManageAccounts: an admin's API token reads the admin
// page but changes no account (no new user, no password set, no deactivation),
// so revoking a leaked admin token ends its access for good.
func TestAdminTokenCannotManageAccounts(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	tok := handlers.TokenForTest(t, e.st, ann, "script")
	users := func() int { return e.count(`SELECT count(*) FROM users WHERE active`) }
	before := users()
	form := "application/x-www-form-urlencoded"
	for _, c := range []struct{ path, body string }{
		{"/admin/users", url.Values{"email": {"mallory@evil.example"}, "name": {"Mallory"}, "password": {"Mallory!Pass2026 long"}, "role": {"admin"}}.Encode()},
		{"/admin/users/" + bob.ID.String() + "/password", url.Values{"password": {"a brand new password 42"}}.Encode()},
		{"/admin/users/" + bob.ID.String() + "/deactivate", ""},
	} {
		r := e.req(nil, http.MethodPost, c.path, form, c.body, "Authorization", "Bearer "+tok)
		if r.status != http.StatusForbidden {
			t.Errorf("POST %s with an admin token: got %d, want 403; body: %.200s", c.path, r.status, r.body)
		}
	}
	if got := users(); got != before {
		t.Errorf("active users after the token's attempts: got %d, want %d", got, before)
	}
	if r := e.postForm(nil, "/signin", url.Values{"email": {"bob@example.com"}, "password": {handlers.TestPassword}}); r.status != http.StatusSeeOther {
		t.Errorf("bob signs in with his old password after the token's attempts: got %d, want 303", r.status)
	}
	if r := e.req(nil, http.MethodGet, "/admin/users", "", "", "Authorization", "Bearer "+tok); r.status != http.StatusOK {
		t.Errorf("GET /admin/users with an admin token: got %d, want 200", r.status)
	}
}

// TestFailedSignInLogsNoRawEmail: what was typed into the email field (maybe a
// password) never reaches the log as it was typed, neither for a failed
// sign-in nor for a rate-limited one.
func TestFailedSignInLogsNoRawEmail(t *testing.T) {
	t.Parallel()
	logs := &syncLog{}
	e := newAuthEnv(t, func(s *handlers.Server) {
		s.Log = slog.New(slog.NewTextHandler(logs, nil))
		s.Security.Limits.SignInPerAccount = handlers.Rate{N: 2, Per: time.Minute}
	})
	e.user("ann@example.com", store.RoleMember)
	const typed = "Hunter2-secret-pw@x"
	for range 3 {
		e.postForm(nil, "/signin", url.Values{"email": {typed}, "password": {"whatever it is"}})
	}
	out := logs.String()
	if !strings.Contains(out, "sign-in failed") || !strings.Contains(out, "rate limited") {
		t.Fatalf("log: got %q, want a failed sign-in and a rate limit logged", out)
	}
	for _, leak := range []string{typed, strings.ToLower(typed), "Hunter2", "secret-pw"} {
		if strings.Contains(out, leak) {
			t.Fatalf("log holds %q of the email field; got:\n%s", leak, out)
		}
	}
}

// TestReadyzShowsNoDetails: /readyz (no sign-in) says which dependency is up or
// down, never an error's text, which can hold URLs and credentials; the log
// has the details.
func TestReadyzShowsNoDetails(t *testing.T) {
	t.Parallel()
	logs := &syncLog{}
	srv := &handlers.Server{Log: slog.New(slog.NewTextHandler(logs, nil)), Checks: []handlers.Check{
		{Name: "postgres", Ping: func(context.Context) error { return nil }},
		{Name: "llm", Optional: true, Ping: func(context.Context) error {
			return errors.New("no answer from https://user:s3cret@llm.internal/v1: dial tcp: lookup llm.internal: no such host")
		}},
	}}
	ts := httptest.NewServer(srv.Routes())
	t.Cleanup(ts.Close)
	res, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"degraded"`) {
		t.Fatalf("GET /readyz with the model down: got %d %s, want 200 degraded", res.StatusCode, body)
	}
	for _, leak := range []string{"s3cret", "llm.internal", "http", "no such host"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("GET /readyz: got %s, want no %q in it", body, leak)
		}
	}
	if !strings.Contains(logs.String(), "no such host") {
		t.Errorf("log: got %q, want the llm check's error", logs.String())
	}
}

// opsEnv is a server with metrics and a queue dashboard (a stand-in: asynqmon
// itself is tested through the route table), with loopback in OpsAllow as the
// default METRICS_ALLOW_CIDRS has it, its public routes and its METRICS_ADDR
// routes, and accounts: an admin and a member, with a session and a token
// each, and a metrics token.
type opsEnv struct {
	*authEnv
	ops                                   *httptest.Server
	admin, member                         *http.Client
	adminToken, memberToken, metricsToken string
}

func newOpsEnv(t *testing.T, configure ...func(*handlers.Server)) *opsEnv {
	t.Helper()
	e := newAuthEnv(t, append([]func(*handlers.Server){func(s *handlers.Server) {
		s.Metrics = handlers.NewMetrics(prometheus.NewRegistry())
		s.OpsAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		s.QueueDashboard = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the dashboard") })
	}}, configure...)...)
	o := &opsEnv{authEnv: e}
	o.ops = httptest.NewServer(e.srv.OpsRoutes())
	t.Cleanup(o.ops.Close)
	ann := e.user("ann@example.com", store.RoleAdmin)
	bob := e.user("bob@example.com", store.RoleMember)
	o.admin, o.member = e.browser("ann@example.com"), e.browser("bob@example.com")
	o.adminToken = handlers.TokenForTest(t, e.st, ann, "admin's")
	o.memberToken = handlers.TokenForTest(t, e.st, bob, "member's")
	_, o.metricsToken, _ = e.st.CreateScopedAPIToken(t.Context(), bob.ID, "prometheus", store.ScopeMetrics)
	if o.metricsToken == "" {
		t.Fatal("no metrics token")
	}
	return o
}

// TestQueueDashboardAdminsOnly: the dashboard (it pauses and deletes jobs) is
// for a signed-in admin or an admin's token, never for an address.
func TestQueueDashboardAdminsOnly(t *testing.T) {
	t.Parallel()
	o := newOpsEnv(t)
	for _, path := range []string{"/admin/queues", "/admin/queues/api/queues"} {
		for _, tc := range []struct {
			who    string
			c      *http.Client
			header []string
			want   int
		}{
			{"nobody, from loopback", nil, nil, http.StatusSeeOther}, // to sign-in
			{"a member's session", o.member, nil, http.StatusForbidden},
			{"a member's token", nil, []string{"Authorization", "Bearer " + o.memberToken}, http.StatusForbidden},
			{"a metrics token", nil, []string{"Authorization", "Bearer " + o.metricsToken}, http.StatusForbidden},
			{"an admin's session", o.admin, nil, http.StatusOK},
			{"an admin's token", nil, []string{"Authorization", "Bearer " + o.adminToken}, http.StatusOK},
		} {
			r := o.get(tc.c, path, tc.header...)
			if r.status != tc.want || (tc.want != http.StatusOK && strings.Contains(string(r.body), "the dashboard")) {
				t.Errorf("GET %s as %s: got %d %.100s, want %d", path, tc.who, r.status, r.body, tc.want)
			}
		}
	}
	// Pausing a queue from another site with an admin's session is refused.
	r := o.req(o.admin, http.MethodPost, "/admin/queues/api/queues/default:pause", "", "", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	wantStatus(t, "cross-site pause with an admin's session", r, http.StatusForbidden)
}

// TestMetricsForMetricsTokens: /metrics on the public listener answers only a
// metrics token, which opens nothing else; METRICS_ADDR also answers its
// allowed networks, but not a web page.
func TestMetricsForMetricsTokens(t *testing.T) {
	t.Parallel()
	o := newOpsEnv(t)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	for _, tc := range []struct {
		who    string
		c      *http.Client
		header []string
		want   int
	}{
		{"nobody, from loopback", nil, nil, http.StatusForbidden},
		{"an admin's session", o.admin, nil, http.StatusForbidden},
		{"an admin's token", nil, bearer(o.adminToken), http.StatusForbidden},
		{"a member's token", nil, bearer(o.memberToken), http.StatusForbidden},
		{"a bad token", nil, bearer("crm_nope"), http.StatusUnauthorized},
		{"a metrics token", nil, bearer(o.metricsToken), http.StatusOK},
		{"a metrics token through a proxy", nil, append(bearer(o.metricsToken), "X-Forwarded-For", "203.0.113.9"), http.StatusOK},
	} {
		r := o.get(tc.c, "/metrics", tc.header...)
		if r.status != tc.want || (tc.want == http.StatusOK) != strings.Contains(string(r.body), "crm_http_requests_total") {
			t.Errorf("GET /metrics as %s: got %d %.100s, want %d", tc.who, r.status, r.body, tc.want)
		}
	}
	// The metrics token is good for nothing else.
	for _, path := range []string{"/leads/", "/", "/settings", "/admin/queues"} {
		if r := o.get(nil, path, bearer(o.metricsToken)...); r.status != http.StatusForbidden {
			t.Errorf("GET %s with a metrics token: got %d, want 403", path, r.status)
		}
	}
	// METRICS_ADDR: loopback without a token, not through a proxy, not for a
	// page's script, and a metrics token from anywhere.
	for _, tc := range []struct {
		who    string
		header []string
		want   int
	}{
		{"loopback", nil, http.StatusOK},
		{"loopback, a person typing the URL", []string{"Sec-Fetch-Site", "none"}, http.StatusOK},
		{"loopback, a web page's script", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusForbidden},
		{"loopback, a cross-site page", []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"through a proxy", []string{"X-Forwarded-For", "203.0.113.9"}, http.StatusForbidden},
		{"through a proxy with a metrics token", append([]string{"X-Forwarded-For", "203.0.113.9"}, bearer(o.metricsToken)...), http.StatusOK},
		{"through a proxy with an admin's token", append([]string{"X-Forwarded-For", "203.0.113.9"}, bearer(o.adminToken)...), http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodGet, o.ops.URL+"/metrics", nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Header.Set(tc.header[i], tc.header[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("METRICS_ADDR /metrics, %s: got %d, want %d", tc.who, res.StatusCode, tc.want)
		}
	}
}

// TestUnknownHostRefused: a request naming another Host (a page whose DNS name
// was rebound to this server) is refused before anything runs; health
// endpoints answer whatever the Host, for load balancers.
func TestUnknownHostRefused(t *testing.T) {
	t.Parallel()
	o := newOpsEnv(t)
	// The same server, answering for crm.example.com only.
	srv := *o.srv
	srv.Security.Hosts = []string{"crm.example.com"}
	ts := httptest.NewServer(srv.Routes())
	t.Cleanup(ts.Close)
	do := func(c *http.Client, method, path, h string, header ...string) response {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		req.Host = h
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if c == nil {
			c = handlers.NewBrowserClient(t)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return response{status: res.StatusCode, header: res.Header, body: b}
	}
	for _, h := range []string{"evil.example", "evil.example:80", "crm.example.com.evil.example", "127.0.0.1"} {
		for _, tc := range []struct{ method, path string }{
			{"GET", "/admin/queues"}, {"POST", "/admin/queues/api/queues/default:pause"}, {"GET", "/leads/"}, {"GET", "/"},
			{"GET", "/metrics"}, {"GET", "/signin"}, {"GET", "/test/"},
		} {
			r := do(nil, tc.method, tc.path, h, "Authorization", "Bearer "+o.adminToken)
			if r.status != http.StatusBadRequest || strings.Contains(string(r.body), "the dashboard") {
				t.Errorf("%s %s with Host %s: got %d %.100s, want 400", tc.method, tc.path, h, r.status, r.body)
			}
		}
		for _, path := range []string{"/healthz", "/readyz"} {
			if r := do(nil, "GET", path, h); r.status != http.StatusOK {
				t.Errorf("GET %s with Host %s: got %d, want 200 (load balancers probe by address)", path, h, r.status)
			}
		}
	}
	for _, h := range []string{"crm.example.com", "CRM.example.com:443", "crm.example.com."} {
		if r := do(nil, "GET", "/admin/queues", h, "Authorization", "Bearer "+o.adminToken); r.status != http.StatusOK {
			t.Errorf("GET /admin/queues with Host %s: got %d, want 200", h, r.status)
		}
	}
}

// twoServers is two servers of one CRM (one database), each with its own
// route table, as two processes behind a balancer have, sharing the rate
// limits through rdb.
func twoServers(t *testing.T, rdb redis.UniversalClient, limits handlers.Limits) (*authEnv, *httptest.Server) {
	t.Helper()
	e := newAuthEnv(t, func(s *handlers.Server) {
		s.Redis = rdb
		s.Security.ClientIPHeader = "X-Real-IP"
		s.Security.Limits = limits
	})
	second := *e.srv
	ts2 := httptest.NewServer(second.Routes())
	t.Cleanup(ts2.Close)
	return e, ts2
}

// TestRateLimitsAcrossServers: two servers on one Redis enforce one limit
// between them, for sign-ins and for API tokens; each used to allow the whole
// limit on its own.
func TestRateLimitsAcrossServers(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	const n = 4
	e, ts2 := twoServers(t, rdb, handlers.Limits{
		SignInPerAccount: handlers.Rate{N: n, Per: time.Hour}, SignInPerAddress: handlers.Rate{N: 100, Per: time.Hour},
		APIPerToken: handlers.Rate{N: n, Per: time.Hour},
	})
	ann := e.user("ann@example.com", store.RoleMember)
	servers := []string{e.ts.URL, ts2.URL}
	signIn := func(i int, pw string) int {
		form := url.Values{"email": {"ann@example.com"}, "password": {pw}}
		req, _ := http.NewRequest(http.MethodPost, servers[i%2]+"/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Real-IP", "203.0.113.7")
		res, err := handlers.NewBrowserClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := range n {
		if got := signIn(i, "wrong guess"); got != http.StatusUnauthorized {
			t.Fatalf("guess %d (server %d): got %d, want 401", i+1, i%2+1, got)
		}
	}
	for i := range 2 {
		if got := signIn(i, "wrong guess"); got != http.StatusTooManyRequests {
			t.Errorf("guess %d, past the limit of %d shared by two servers, on server %d: got %d, want 429", n+i+1, n, i%2+1, got)
		}
	}

	tok := handlers.TokenForTest(t, e.st, ann, "script")
	statuses := []int{}
	for i := range n + 2 {
		req, _ := http.NewRequest(http.MethodGet, servers[i%2]+"/leads/?limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		statuses = append(statuses, res.StatusCode)
	}
	want := []int{200, 200, 200, 200, 429, 429}
	if fmt.Sprint(statuses) != fmt.Sprint(want) {
		t.Errorf("API calls with one token alternating between two servers, limit %d: got %v, want %v", n, statuses, want)
	}
}

// TestSignInLimitWithoutRedis: when Redis does not answer, sign-in attempts
// are still limited, by each server's memory, and nobody gets a 5xx.
func TestSignInLimitWithoutRedis(t *testing.T) {
	t.Parallel()
	logs := &syncLog{}
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	const n = 3
	e := newAuthEnv(t, func(s *handlers.Server) {
		s.Redis = dead
		s.Log = slog.New(slog.NewTextHandler(logs, nil))
		s.Security.Limits = handlers.Limits{SignInPerAccount: handlers.Rate{N: n, Per: time.Hour}}
	})
	e.user("ann@example.com", store.RoleMember)
	for i := range n + 2 {
		r := e.postForm(nil, "/signin", url.Values{"email": {"ann@example.com"}, "password": {"wrong guess"}})
		want := http.StatusUnauthorized
		if i >= n {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Fatalf("guess %d with Redis down, limit %d: got %d, want %d", i+1, n, r.status, want)
		}
	}
	if !strings.Contains(logs.String(), "rate limits fall back") {
		t.Errorf("log: got %q, want the fallback to memory said once", logs.String())
	}
}
