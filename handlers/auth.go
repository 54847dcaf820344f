package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// Accounts and access. Every route but sign-in, setup, /healthz, /readyz,
// /test/ and the static files needs a signed-in user: a browser session (scs,
// kept in PostgreSQL, checked against user_sessions on every request) or, for
// any route, Authorization: Bearer <personal API token>. Routes are grouped in
// routes.go by what an unauthenticated request gets: the JSON API answers 401
// JSON, pages redirect to sign-in (htmx: HX-Redirect). Cookie-authenticated
// state changes are refused cross-origin (http.CrossOriginProtection); bearer
// calls carry no ambient credential, so they are not affected.

// Security configures accounts and protection. The zero value is the default:
// CORS off, the connection's address as the client's, the default rate limits.
type Security struct {
	// AllowedOrigins are the origins ("https://app.example.com") that CORS lets
	// call the app from a browser, with credentials. Empty: CORS is off.
	AllowedOrigins []string
	// ClientIPHeader names the header a trusted reverse proxy sets to the
	// client's address ("X-Real-IP"); empty: the connection's address. Only set
	// it behind a proxy that overwrites the header, or clients choose their own.
	ClientIPHeader string
	// HTTPS says the app is served over HTTPS: responses carry
	// Strict-Transport-Security.
	HTTPS bool
	// Limits are the rate limits; zero fields take the defaults.
	Limits Limits
	// Hosts are the host names requests may carry in Host: BASE_URL's, or
	// localhost, 127.0.0.1 and ::1 when it is unset (cmd/crm). Others get 400
	// (hosts.go). Empty: any Host.
	Hosts []string
}

// Rate is N events per Per: a burst of N, refilled evenly over Per. N < 0 turns
// the limit off; the zero Rate takes the default.
type Rate struct {
	N   int
	Per time.Duration
}

// Limits are the rate limits.
type Limits struct {
	// SignInPerAddress bounds sign-in attempts from one client address, whatever
	// the account.
	SignInPerAddress Rate
	// SignInPerAccount bounds sign-in attempts at one account from one client
	// address: someone guessing a password from one place does not lock the
	// owner out from another. A successful sign-in starts it over.
	SignInPerAccount Rate
	// ChatPerUser bounds the chat messages of one user.
	ChatPerUser Rate
	// APIPerToken bounds the requests made with one API token.
	APIPerToken Rate
}

// DefaultLimits are the rate limits a zero Limits field takes.
var DefaultLimits = Limits{
	SignInPerAddress: Rate{N: 20, Per: 10 * time.Minute},
	SignInPerAccount: Rate{N: 5, Per: 15 * time.Minute},
	ChatPerUser:      Rate{N: 20, Per: time.Minute},
	APIPerToken:      Rate{N: 600, Per: time.Minute},
}

func (l Limits) withDefaults() Limits {
	pick := func(r, def Rate) Rate {
		if r.N == 0 || (r.N > 0 && r.Per <= 0) {
			return def
		}
		return r
	}
	return Limits{
		SignInPerAddress: pick(l.SignInPerAddress, DefaultLimits.SignInPerAddress),
		SignInPerAccount: pick(l.SignInPerAccount, DefaultLimits.SignInPerAccount),
		ChatPerUser:      pick(l.ChatPerUser, DefaultLimits.ChatPerUser),
		APIPerToken:      pick(l.APIPerToken, DefaultLimits.APIPerToken),
	}
}

// security is the state Routes makes for one Server: the rate limiters, the
// cross-origin protection and whether an account exists yet.
type security struct {
	signInAddr    *limiter
	signInAccount *limiter
	chat          *limiter
	api           *limiter
	cop           *http.CrossOriginProtection
	origins       map[string]bool
	// haveUsers turns true once an account is seen and stays so (accounts are
	// deactivated, never deleted), so that setup stops being offered without
	// asking the database on every request.
	haveUsers atomic.Bool
	// hashSlots bounds the password hashes computed at once (19 MiB each).
	hashSlots chan struct{}
}

// newSecurity makes the state of cfg; the rate limits are kept in rdb (nil:
// in memory). An origin that is not a bare
// scheme://host[:port] is skipped and logged (config validation refuses it first).
func newSecurity(cfg Security, log *slog.Logger, rdb redis.UniversalClient) *security {
	lim := cfg.Limits.withDefaults()
	sec := &security{
		signInAddr:    newLimiter(lim.SignInPerAddress, "signin_address", rdb, log),
		signInAccount: newLimiter(lim.SignInPerAccount, "signin_account", rdb, log),
		chat:          newLimiter(lim.ChatPerUser, "chat", rdb, log),
		api:           newLimiter(lim.APIPerToken, "api", rdb, log),
		cop:           http.NewCrossOriginProtection(),
		origins:       map[string]bool{},
		hashSlots:     make(chan struct{}, 4),
	}
	for _, o := range cfg.AllowedOrigins {
		if err := sec.cop.AddTrustedOrigin(o); err != nil {
			log.Error("allowed origin skipped", "origin", o, "err", err)
			continue
		}
		sec.origins[o] = true
	}
	return sec
}

// sessionKeyID is the session value holding the user_sessions id.
const sessionKeyID = "sid"

// principal is who a request is made by.
type principal struct {
	User store.User
	// Token is the API token used, nil for a browser session.
	Token *store.APIToken
	// SessionID is the browser session's user_sessions id.
	SessionID uuid.UUID
}

type principalKey struct{}

// currentPrincipal returns who the request is made by, if anyone.
func currentPrincipal(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// currentUser returns the signed-in user of the request.
func currentUser(r *http.Request) (store.User, bool) {
	p, ok := currentPrincipal(r.Context())
	return p.User, ok
}

// withPrincipal puts p in ctx, with the store's actor and the views' viewer.
func withPrincipal(ctx context.Context, p principal) context.Context {
	ctx = context.WithValue(ctx, principalKey{}, p)
	if p.Token != nil {
		ctx = store.WithActor(ctx, store.TokenActor(p.User, p.Token.Name))
	} else {
		ctx = store.WithActor(ctx, store.UserActor(p.User))
	}
	return views.WithViewer(ctx, views.Viewer{Name: p.User.Name, Email: p.User.Email, Admin: p.User.IsAdmin()})
}

// routeKind says how a group of routes answers a request it refuses.
type routeKind int

const (
	kindAPI   routeKind = iota // JSON
	kindPage                   // HTML pages and htmx fragments
	kindPanel                  // the assistant panel's fragments (errors go to its own region)
)

// apiAuth guards the JSON API: a session or a bearer token, else 401 JSON.
func (s *Server) apiAuth(next http.Handler) http.Handler {
	return s.authenticate(kindAPI, s.requireSignIn(kindAPI, next))
}

// pageAuth guards pages and fragments: a session (or a bearer token), else a
// redirect to sign-in, or to setup while no account exists.
func (s *Server) pageAuth(next http.Handler) http.Handler {
	return s.authenticate(kindPage, s.requireSignIn(kindPage, next))
}

// panelAuth guards the assistant panel's fragments like pages; failures show
// in the panel's own message region.
func (s *Server) panelAuth(next http.Handler) http.Handler {
	return s.authenticate(kindPanel, s.requireSignIn(kindPanel, next))
}

// publicPage serves the sign-in and setup pages: the session is loaded (a
// sign-in writes it) and cross-origin posts are refused, but nobody needs to
// be signed in.
func (s *Server) publicPage(next http.Handler) http.Handler {
	return s.crossOrigin(kindPage, s.withSession(kindPage, s.identifySession(kindPage, next)))
}

// authenticate finds who the request is made by: the bearer token when there
// is an Authorization header, the session otherwise.
func (s *Server) authenticate(kind routeKind, next http.Handler) http.Handler {
	cookie := s.crossOrigin(kind, s.withSession(kind, s.identifySession(kind, next)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			cookie.ServeHTTP(w, r)
			return
		}
		tok, ok := bearerToken(r)
		if !ok {
			s.refuseToken(w, r, "the Authorization header must be Bearer <token>")
			return
		}
		tu, err := s.Store.TokenUser(r.Context(), tok)
		if errors.Is(err, store.ErrNotFound) {
			s.refuseToken(w, r, "the API token is not valid: unknown, revoked, or its user deactivated")
			return
		}
		if err != nil {
			s.fail(kind, w, r, fmt.Errorf("check api token: %w", err))
			return
		}
		if tu.Token.Scope != store.ScopeAPI {
			s.logRefusal(r, "metrics token used beyond /metrics")
			writeJSON(w, http.StatusForbidden, errorBody{Error: "this token only reads /metrics"})
			return
		}
		if ok, wait := s.sec.api.allow(r.Context(), tu.Token.ID.String()); !ok {
			s.Log.WarnContext(r.Context(), "rate limited", "limit", "api_per_token", "token_id", tu.Token.ID,
				"user_id", tu.User.ID, "request_id", RequestID(r.Context()))
			tooMany(w, wait)
			writeJSON(w, http.StatusTooManyRequests, errorBody{Error: "too many requests with this API token; retry after " + retryText(wait)})
			return
		}
		if tu.Token.LastUsedAt == nil || time.Since(*tu.Token.LastUsedAt) >= time.Minute {
			s.Log.InfoContext(r.Context(), "api token used", "token_id", tu.Token.ID, "token_name", tu.Token.Name,
				"user_id", tu.User.ID, "address", s.clientAddr(r), "request_id", RequestID(r.Context()))
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), principal{User: tu.User, Token: &tu.Token})))
	})
}

// refuseToken answers a request whose bearer token is refused.
func (s *Server) refuseToken(w http.ResponseWriter, r *http.Request, msg string) {
	s.Log.WarnContext(r.Context(), "api token refused", "address", s.clientAddr(r), "path", r.URL.Path,
		"request_id", RequestID(r.Context()))
	w.Header().Set("WWW-Authenticate", `Bearer realm="crm", error="invalid_token"`)
	writeJSON(w, http.StatusUnauthorized, errorBody{Error: msg})
}

type kindKey struct{}

// withSession loads and saves the browser session around next. A failure to
// load or save it is answered by sessionError in the shape of kind.
func (s *Server) withSession(kind routeKind, next http.Handler) http.Handler {
	if s.Sessions == nil {
		return next
	}
	inner := s.Sessions.LoadAndSave(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), kindKey{}, kind)))
	})
}

// sessionError is the sessions' ErrorFunc (set by Routes): the session store
// failed, which is the server's fault, answered like any other.
func (s *Server) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	kind, _ := r.Context().Value(kindKey{}).(routeKind)
	s.fail(kind, w, r, fmt.Errorf("session: %w", err))
}

// fail answers err through the error adapter of kind: JSON for the API, a
// page or an htmx message otherwise.
func (s *Server) fail(kind routeKind, w http.ResponseWriter, r *http.Request, err error) {
	fn := func(http.ResponseWriter, *http.Request) error { return err }
	switch kind {
	case kindAPI:
		s.api("not found", fn).ServeHTTP(w, r)
	case kindPanel:
		s.chatHTML(fn).ServeHTTP(w, r)
	default:
		s.html(fn).ServeHTTP(w, r)
	}
}

// identifySession signs the request in when its session names a session that
// has not ended (see store.SessionUser).
func (s *Server) identifySession(kind routeKind, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Sessions == nil {
			next.ServeHTTP(w, r)
			return
		}
		sid, err := uuid.Parse(s.Sessions.GetString(r.Context(), sessionKeyID))
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		u, err := s.Store.SessionUser(r.Context(), sid)
		switch {
		case errors.Is(err, store.ErrNotFound):
			next.ServeHTTP(w, r) // signed out, expired, or ended by a password change
		case err != nil:
			s.fail(kind, w, r, fmt.Errorf("check session: %w", err))
		default:
			next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), principal{User: u, SessionID: sid})))
		}
	})
}

// requireSignIn refuses requests nobody is signed in for.
func (s *Server) requireSignIn(kind routeKind, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := currentPrincipal(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		if kind == kindAPI {
			w.Header().Set("WWW-Authenticate", `Bearer realm="crm"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "sign in, or send Authorization: Bearer <API token>"})
			return
		}
		target := views.SetupPath
		if s.accountsExist(r.Context()) {
			target = views.SignInURL(returnPath(r))
		}
		if r.Header.Get("HX-Request") == "true" {
			// htmx would swap a redirected sign-in page into the target; send the
			// whole window there instead.
			w.Header().Set("HX-Redirect", target)
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// returnPath is where to come back to after signing in: the page asked for
// (for htmx, the page the request came from), when it is a path of this site.
func returnPath(r *http.Request) string {
	if r.Header.Get("HX-Request") == "true" {
		u, err := url.Parse(r.Header.Get("HX-Current-URL"))
		if err != nil {
			return ""
		}
		return safeNext(u.RequestURI())
	}
	if r.Method != http.MethodGet {
		return ""
	}
	return safeNext(r.URL.RequestURI())
}

// safeNext returns p when it is a path of this site, or "". Browsers clean a
// Location up before they follow it (the WHATWG URL parser drops tabs and
// newlines anywhere and C0 controls and spaces at the ends, and reads a
// backslash as a slash), so "/\t/evil.example" is "//evil.example" to them. So
// p may hold no control character, space or backslash at all, and must then be
// a path that does not start with "//".
func safeNext(p string) string {
	if len(p) > 2000 || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return ""
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '\\' || r == utf8.RuneError || unicode.IsSpace(r) {
			return ""
		}
	}
	return p
}

// accountsExist says whether any account exists; once one does, it stays true
// without asking the database again.
func (s *Server) accountsExist(ctx context.Context) bool {
	if s.sec.haveUsers.Load() {
		return true
	}
	n, err := s.Store.CountUsers(ctx)
	if err != nil || n > 0 {
		// When the database cannot say, send people to sign in: setup refuses
		// anyway once an account exists.
		s.sec.haveUsers.Store(err == nil)
		return true
	}
	return false
}

// adminOnly refuses members with 403.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := currentUser(r); ok && u.IsAdmin() {
			next.ServeHTTP(w, r)
			return
		}
		s.logRefusal(r, "admin only")
		s.html(func(http.ResponseWriter, *http.Request) error {
			return errStatus(http.StatusForbidden, "only an admin can do this")
		}).ServeHTTP(w, r)
	})
}

// sessionOnly refuses requests made with an API token (403): managing tokens
// is for a signed-in browser, so a leaked token cannot make more tokens and
// revoking it ends the access.
func (s *Server) sessionOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := currentPrincipal(r.Context()); ok && p.Token == nil {
			next.ServeHTTP(w, r)
			return
		}
		s.logRefusal(r, "api token used for account or token management")
		s.html(func(http.ResponseWriter, *http.Request) error {
			return errStatus(http.StatusForbidden, "accounts and API tokens are managed from a signed-in browser (the settings and admin pages) or with the crm command line, not with an API token")
		}).ServeHTTP(w, r)
	})
}

// logRefusal logs a permission refusal.
func (s *Server) logRefusal(r *http.Request, why string) {
	u, _ := currentUser(r)
	s.Log.WarnContext(r.Context(), "permission refused", "why", why, "user_id", u.ID, "method", r.Method,
		"path", r.URL.Path, "request_id", RequestID(r.Context()))
}

// crossOrigin refuses cross-origin state changes (POST, PUT, PATCH, DELETE) by
// browsers, telling them by Sec-Fetch-Site or Origin; origins of
// ALLOWED_ORIGINS are trusted. kind chooses the shape of the refusal.
func (s *Server) crossOrigin(kind routeKind, next http.Handler) http.Handler {
	deny := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.logRefusal(r, "cross-origin request")
		s.fail(kind, w, r, errStatus(http.StatusForbidden, "cross-origin request refused: the request did not come from this site"))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.sec.cop.Check(r); err != nil {
			deny.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientAddr is the client's address for rate limits and logs: the
// connection's, or ClientIPHeader's when configured. IPv6 addresses count per
// /64, the block one client usually holds.
func (s *Server) clientAddr(r *http.Request) string {
	raw := ""
	if h := s.Security.ClientIPHeader; h != "" {
		raw = strings.TrimSpace(strings.Split(r.Header.Get(h), ",")[0])
	}
	if raw == "" {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		raw = host
	}
	ip, err := netip.ParseAddr(raw)
	if err != nil {
		return raw
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// tooMany sets Retry-After for a 429.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
}

func retrySeconds(wait time.Duration) int {
	return max(1, int((wait+time.Second-1)/time.Second))
}

// retryText says a wait for people: "12 seconds", "3 minutes".
func retryText(wait time.Duration) string {
	n := retrySeconds(wait)
	switch {
	case n == 1:
		return "1 second"
	case n < 120:
		return strconv.Itoa(n) + " seconds"
	default:
		return strconv.Itoa((n+59)/60) + " minutes"
	}
}

// errTooMany is a 429 for the error adapters; the handler sets Retry-After.
func errTooMany(w http.ResponseWriter, wait time.Duration, what string) error {
	tooMany(w, wait)
	return errStatus(http.StatusTooManyRequests, what+"; try again in "+retryText(wait))
}

// chatLimited bounds the chat messages of each user (ChatPerUser).
func (s *Server) chatLimited(fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if u, ok := currentUser(r); ok {
			if ok, wait := s.sec.chat.allow(r.Context(), u.ID.String()); !ok {
				s.Log.WarnContext(r.Context(), "rate limited", "limit", "chat_per_user", "user_id", u.ID,
					"request_id", RequestID(r.Context()))
				return errTooMany(w, wait, "too many messages to the assistant")
			}
		}
		return fn(w, r)
	}
}

// chatReply returns the assistant reply id when it is in one of the signed-in
// user's conversations; another user's reply is not found.
func (s *Server) chatReply(r *http.Request, id uuid.UUID) (store.ChatMessage, error) {
	u, ok := currentUser(r)
	if !ok {
		return store.ChatMessage{}, store.ErrNotFound
	}
	return s.Store.GetChatReplyOf(r.Context(), id, u.ID)
}
