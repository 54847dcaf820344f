package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
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
	// With the current password it works, and an admin still sets others'.
	r = e.req(nil, http.MethodPost, own, "application/x-www-form-urlencoded",
		url.Values{"current": {handlers.TestPassword}, "password": {newPW}}.Encode(), "Authorization", "Bearer "+tok)
	if r.status >= 400 || !signsIn("ann@example.com", newPW) {
		t.Fatalf("own password with the current one: got %d, want it changed", r.status)
	}
	r = e.req(nil, http.MethodPost, "/admin/users/"+bob.ID.String()+"/password", "application/x-www-form-urlencoded",
		url.Values{"password": {newPW}}.Encode(), "Authorization", "Bearer "+tok)
	if r.status != http.StatusSeeOther || !signsIn("bob@example.com", newPW) {
		t.Fatalf("admin sets a member's password: got %d, want 303 and the new password working", r.status)
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
