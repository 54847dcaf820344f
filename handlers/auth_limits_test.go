package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/static"
	"github.com/crmteam/crm/store"
)

// wantTooMany checks a 429 with a Retry-After of whole seconds.
func wantTooMany(t *testing.T, what string, r response) {
	t.Helper()
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || err != nil || secs < 1 {
		t.Errorf("%s: got %d with Retry-After %q, want 429 with a number of seconds", what, r.status, r.header.Get("Retry-After"))
	}
}

func TestSignInRateLimits(t *testing.T) {
	t.Parallel()
	// The client's address comes from a header a proxy would set, so the test
	// can sign in from several places.
	e := newAuthEnv(t, func(s *handlers.Server) { s.Security.ClientIPHeader = "X-Real-IP" })
	e.user("ann@example.com", store.RoleMember)
	from := func(addr, email, password string) response {
		return e.postForm(handlers.NewBrowserClient(t), "/signin", url.Values{"email": {email}, "password": {password}}, "X-Real-IP", addr)
	}
	limit := handlers.DefaultLimits.SignInPerAccount.N

	// Someone guessing Ann's password from one address.
	for i := range limit {
		if r := from("203.0.113.7", "ann@example.com", "guess number "+strconv.Itoa(i)); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: got %d, want 401", i+1, r.status)
		}
	}
	r := from("203.0.113.7", "ann@example.com", "one guess too many")
	wantTooMany(t, "the guess past the limit", r)
	if msg := r.doc(t).Find("#signin-error").Text(); !strings.Contains(msg, "Too many sign-in attempts") {
		t.Errorf("message past the limit: got %q, want it to say so", msg)
	}
	// Even the right password is refused there, for now: the limit is not an oracle.
	wantTooMany(t, "the right password from the guessing address", from("203.0.113.7", "ann@example.com", handlers.TestPassword))
	// Ann herself, from elsewhere, is not locked out.
	wantRedirect(t, "Ann from her own address", from("198.51.100.20", "ann@example.com", handlers.TestPassword), "/")
	// An IPv6 client counts per /64: another address of the same block shares the limit.
	for i := range limit {
		from("2001:db8:1:2::"+strconv.Itoa(i+1), "ann@example.com", "v6 guess")
	}
	wantTooMany(t, "guess from another address of the same /64", from("2001:db8:1:2::ff", "ann@example.com", "v6 guess"))

	// One address trying many accounts.
	perAddr := handlers.DefaultLimits.SignInPerAddress.N
	for i := range perAddr {
		if r := from("192.0.2.99", "user"+strconv.Itoa(i)+"@example.com", "spray spray spray"); r.status != http.StatusUnauthorized {
			t.Fatalf("spray %d: got %d, want 401", i+1, r.status)
		}
	}
	wantTooMany(t, "the spray past the per-address limit", from("192.0.2.99", "someone.else@example.com", "spray spray spray"))
	wantRedirect(t, "Ann again from her address", from("198.51.100.20", "ann@example.com", handlers.TestPassword), "/")
}

func TestChatRateLimit(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, func(s *handlers.Server) { s.Security.Limits.ChatPerUser = handlers.Rate{N: 3, Per: time.Hour} })
	e.user("ann@example.com", store.RoleMember)
	e.user("bob@example.com", store.RoleMember)
	ann, bob := e.browser("ann@example.com"), e.browser("bob@example.com")
	for i := range 3 {
		// The first is queued; the next wait for its reply (409): they count too.
		r := e.req(ann, "POST", "/chat/", "application/json", `{"message": "list leads"}`)
		if r.status != http.StatusAccepted && r.status != http.StatusConflict {
			t.Fatalf("message %d: got %d %s, want 202 or 409", i+1, r.status, r.body)
		}
	}
	r := e.req(ann, "POST", "/chat/", "application/json", `{"message": "list leads"}`)
	wantTooMany(t, "ann's fourth message", r)
	if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, "too many messages") {
		t.Errorf("ann's fourth message: got %q, want it to say too many messages", msg)
	}
	panel := e.postForm(ann, "/chat/panel/messages", url.Values{"message": {"hello"}}, "HX-Request", "true")
	wantTooMany(t, "ann's message from the panel", panel)
	if panel.header.Get("HX-Retarget") != "#chat-error" {
		t.Errorf("panel's 429: HX-Retarget got %q, want #chat-error", panel.header.Get("HX-Retarget"))
	}
	wantStatus(t, "bob's first message", e.req(bob, "POST", "/chat/", "application/json", `{"message": "list leads"}`), http.StatusAccepted)
}

func TestAPIRateLimitPerToken(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, func(s *handlers.Server) { s.Security.Limits.APIPerToken = handlers.Rate{N: 5, Per: time.Hour} })
	ann := e.user("ann@example.com", store.RoleMember)
	tokA, tokB := handlers.TokenForTest(t, e.st, ann, "a"), handlers.TokenForTest(t, e.st, ann, "b")
	for i := range 5 {
		wantStatus(t, "request "+strconv.Itoa(i+1), e.bearer(nil, tokA, "GET", "/leads/", ""), http.StatusOK)
	}
	r := e.bearer(nil, tokA, "GET", "/leads/", "")
	wantTooMany(t, "the sixth request with token a", r)
	if msg, _ := r.json(t)["error"].(string); !strings.Contains(msg, "too many requests") {
		t.Errorf("429 body: got %q, want it to say too many requests", msg)
	}
	wantStatus(t, "token b of the same user", e.bearer(nil, tokB, "GET", "/leads/", ""), http.StatusOK)
	wantStatus(t, "the same user's browser", e.get(e.browser("ann@example.com"), "/leads/"), http.StatusOK)
}

// wantSecurityHeaders checks the headers every response carries.
func wantSecurityHeaders(t *testing.T, what string, r response, cache string) {
	t.Helper()
	csp := r.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: Content-Security-Policy %q lacks %q", what, csp, d)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("%s: Content-Security-Policy %q allows something unsafe, want nothing inline", what, csp)
	}
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY", "Cache-Control": cache,
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s: %s got %q, want %q", what, name, got, want)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleMember)
	c := e.browser("ann@example.com")
	token := handlers.TokenForTest(t, e.st, ann, "h")
	for _, tc := range []struct {
		what  string
		r     response
		cache string
	}{
		{"page", e.get(c, "/"), "no-store"},
		{"fragment", e.get(c, "/board/cards?status=Interest&after=-1", "HX-Request", "true"), "no-store"},
		{"JSON", e.bearer(nil, token, "GET", "/leads/", ""), "no-store"},
		{"static", e.get(nil, static.URL("app.css")), "public, max-age=31536000, immutable"},
		{"sign-in page", e.get(nil, "/signin"), "no-store"},
		{"JSON error", e.bearer(nil, token, "GET", "/leads/not-a-lead/", ""), "no-store"},
		{"error page", e.get(c, "/board/leads/00000000-0000-0000-0000-000000000001"), "no-store"},
		{"401", e.get(nil, "/leads/"), "no-store"},
		{"404 of no route", e.get(nil, "/no/such/page"), "no-store"},
		{"405", e.req(nil, "PATCH", "/healthz", "", ""), "no-store"},
		{"static 404", e.get(nil, "/static/nothing.css"), "no-store"},
	} {
		wantSecurityHeaders(t, tc.what, tc.r, tc.cache)
	}
	if got := e.get(nil, "/healthz").header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("Strict-Transport-Security over plain HTTP: got %q, want none", got)
	}
	https := newAuthEnv(t, func(s *handlers.Server) { s.Security.HTTPS = true })
	if got := https.get(nil, "/healthz").header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Errorf("Strict-Transport-Security when served over HTTPS: got %q, want max-age", got)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	const app = "https://app.example.com"
	e := newAuthEnv(t, func(s *handlers.Server) { s.Security.AllowedOrigins = []string{app} })
	e.user("ann@example.com", store.RoleMember)
	c := e.browser("ann@example.com")

	pre := e.req(nil, "OPTIONS", "/leads/", "", "", "Origin", app, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != app ||
		pre.header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight from the allowed origin: got %d %v, want 204 allowing it", pre.status, pre.header)
	}
	other := e.req(nil, "OPTIONS", "/leads/", "", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if got := other.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from another origin: Access-Control-Allow-Origin got %q, want none", got)
	}
	// A credentialed call from the allowed origin changes things; from another, not.
	ok := e.req(c, "POST", "/leads/", "application/json", `{"name": "From the app"}`, "Origin", app, "Sec-Fetch-Site", "same-site")
	if ok.status != http.StatusCreated || ok.header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("POST from the allowed origin with a session: got %d, ACAO %q; want 201 and ACAO %s", ok.status, ok.header.Get("Access-Control-Allow-Origin"), app)
	}
	bad := e.req(c, "POST", "/leads/", "application/json", `{"name": "From elsewhere"}`, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if bad.status != http.StatusForbidden || bad.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from another origin with a session: got %d, ACAO %q; want 403 and none", bad.status, bad.header.Get("Access-Control-Allow-Origin"))
	}

	// Off by default: no CORS header for anyone.
	off := newAuthEnv(t)
	r := off.req(nil, "OPTIONS", "/leads/", "", "", "Origin", app, "Access-Control-Request-Method", "GET")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS off: Access-Control-Allow-Origin got %q, want none", got)
	}
}
