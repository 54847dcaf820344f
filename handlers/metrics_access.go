package handlers

import (
	"errors"
	"net"
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5"

	"github.com/crmteam/crm/store"
)

// Who reads the operator endpoints. /metrics on the public listener answers
// only a bearer token of the metrics scope (crm token create --scope metrics),
// which can do nothing else; on the METRICS_ADDR listener it also answers the
// networks in Server.OpsAllow (METRICS_ALLOW_CIDRS, loopback by default), for a
// Prometheus on a private network without a token. The queue dashboard, which
// can pause and delete jobs, is for signed-in admins (a session or an admin's
// API token) on the public listener only.

// metricsToken checks the request's bearer token for the metrics scope. It
// answers 0 when the token may read /metrics, 401 when there is no valid token
// and 403 for a valid token of another scope.
func (s *Server) metricsToken(r *http.Request) int {
	tok, ok := bearerToken(r)
	if !ok || s.Store == nil {
		return http.StatusUnauthorized
	}
	tu, err := s.Store.TokenUser(r.Context(), tok)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusUnauthorized
	case err != nil:
		s.Log.ErrorContext(r.Context(), "check metrics token", "err", err, "request_id", RequestID(r.Context()))
		return http.StatusServiceUnavailable
	case tu.Token.Scope != store.ScopeMetrics:
		return http.StatusForbidden
	}
	return 0
}

// metricsOnly guards /metrics on the public listener: a metrics token only.
func (s *Server) metricsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden: /metrics needs a metrics token (crm token create --scope metrics), or scrape METRICS_ADDR"})
			return
		}
		switch code := s.metricsToken(r); code {
		case 0:
			next.ServeHTTP(w, r)
		case http.StatusUnauthorized:
			s.refuseToken(w, r, "the API token is not valid: unknown, revoked, or its user deactivated")
		default:
			writeJSON(w, code, errorBody{Error: "forbidden: /metrics needs a token of the metrics scope (crm token create --scope metrics)"})
		}
	})
}

// opsOnly guards /metrics on the METRICS_ADDR listener: the allowed networks or
// a metrics token. A browser's request made by a web page (Sec-Fetch-Site
// other than none: a page that rebound its DNS name to this address) is
// refused whatever its address; a person typing the URL and Prometheus are not.
func (s *Server) opsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "none" {
			writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden: not for web pages"})
			return
		}
		if s.fromAllowedAddr(r) || (r.Header.Get("Authorization") != "" && s.metricsToken(r) == 0) {
			next.ServeHTTP(w, r)
			return
		}
		writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden: only the addresses in METRICS_ALLOW_CIDRS and metrics tokens may read this"})
	})
}

// fromAllowedAddr reports whether the request's peer address is in OpsAllow. A
// request that came through a proxy (it carries X-Forwarded-For, Forwarded or
// X-Real-IP) is never allowed by address: behind a reverse proxy on the same
// host every visitor's peer address is loopback.
func (s *Server) fromAllowedAddr(r *http.Request) bool {
	h := r.Header
	if h.Get("X-Forwarded-For") != "" || h.Get("Forwarded") != "" || h.Get("X-Real-IP") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range s.OpsAllow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// instrument counts and times requests when metrics are on.
func (s *Server) instrument(next http.Handler) http.Handler {
	if s.Metrics == nil {
		return next
	}
	return s.Metrics.InstrumentHTTP(next)
}

// OpsRoutes is the HTTP handler of a worker's METRICS_ADDR listener (and of
// serve's, when set): /metrics, /healthz and /readyz only.
func (s *Server) OpsRoutes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, withRequestID)
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	if s.Metrics != nil {
		r.With(s.opsOnly).Get("/metrics", s.Metrics.Handler().ServeHTTP)
	}
	return r
}
