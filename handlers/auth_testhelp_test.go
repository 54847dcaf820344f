package handlers

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/v2"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
)

// Test helpers for signing in, shared by every test of the package: the tests
// in package handlers use them directly, those in handlers_test through these
// exported names (this file is compiled into the test binary only).

// TestPassword is the password of the accounts the tests make.
const TestPassword = "correct horse battery staple"

// SessionsForTest returns browser sessions kept in the test database, set up as
// cmd/crm sets them up.
func SessionsForTest(pool *pgxpool.Pool) *scs.SessionManager {
	sm := scs.New()
	sm.Store = pgxstore.NewWithCleanupInterval(pool, 0)
	sm.Lifetime = 24 * time.Hour
	sm.Cookie.Name = "crm_session"
	sm.Cookie.Path = "/"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	return sm
}

// UserForTest makes an account with TestPassword; role is store.RoleAdmin or
// store.RoleMember.
func UserForTest(t testing.TB, st *store.Store, email, role string) store.User {
	t.Helper()
	name, _, _ := strings.Cut(email, "@")
	u, err := st.CreateUser(context.Background(), store.NewUser{Email: email, Name: strings.ToUpper(name[:1]) + name[1:], Password: TestPassword, Role: role})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// TokenForTest makes an API token for u and returns its secret.
func TokenForTest(t testing.TB, st *store.Store, u store.User, name string) string {
	t.Helper()
	_, secret, err := st.CreateAPIToken(context.Background(), u.ID, name)
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	return secret
}

// SignInCookie signs email in through POST /signin of h and returns the
// session cookie it sets.
func SignInCookie(t testing.TB, h http.Handler, email string) *http.Cookie {
	t.Helper()
	form := url.Values{"email": {email}, "password": {TestPassword}}
	req := httptest.NewRequest(http.MethodPost, "/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign in %s: got %d, want 303; body:\n%.1000s", email, rec.Code, rec.Body.String())
	}
	for _, c := range rec.Result().Cookies() {
		if c.Value != "" { // the session's, whatever the test named it
			return c
		}
	}
	t.Fatalf("sign in %s: got no session cookie, want one", email)
	return nil
}

// WithCookie returns h with cookie added to every request that has no cookie
// and no Authorization header: a browser that signed in. Requests still go
// through the real sign-in check.
func WithCookie(h http.Handler, cookie *http.Cookie) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") == "" && r.Header.Get("Authorization") == "" {
			r.AddCookie(cookie)
		}
		h.ServeHTTP(w, r)
	})
}

// WithBearer returns h with Authorization: Bearer token added to every request
// that has no cookie and no Authorization header: an API client. Requests
// still go through the real token check.
func WithBearer(h http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") == "" && r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		h.ServeHTTP(w, r)
	})
}

// SignedInClient signs email in at the server at baseURL and returns a client
// with its own cookie jar holding the session (a browser), which does not
// follow redirects.
func SignedInClient(t testing.TB, baseURL, email string) *http.Client {
	t.Helper()
	c := NewBrowserClient(t)
	SignInClient(t, c, baseURL, email)
	return c
}

// NewBrowserClient is a client with a cookie jar of its own that does not
// follow redirects.
func NewBrowserClient(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// SignInClient signs email in with the client c.
func SignInClient(t testing.TB, c *http.Client, baseURL, email string) {
	t.Helper()
	res, err := c.PostForm(baseURL+"/signin", url.Values{"email": {email}, "password": {TestPassword}})
	if err != nil {
		t.Fatalf("sign in %s: %v", email, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: got %d, want 303; body:\n%.1000s", email, res.StatusCode, b)
	}
}

// signIn makes an account with email in st, signs it in through h and gives
// the tab's browser the session cookie for the server at url, as if the person
// had signed in there.
func (tb *tab) signIn(h http.Handler, url string, st *store.Store, email string) {
	tb.t.Helper()
	UserForTest(tb.t, st, email, store.RoleMember)
	c := SignInCookie(tb.t, h, email)
	httpOnly := true
	tb.do("set the session cookie", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.SetCookie, network.SetCookieParams{
			Name: c.Name, Value: c.Value, URL: url, Path: "/", HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax})
		return err
	}))
}
