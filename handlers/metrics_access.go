package handlers

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/go-chi/chi/v5"
)

// The operator endpoints (/metrics and the queue dashboard) are open to admins
// and to the networks in Server.OpsAllow (METRICS_ALLOW_CIDRS, loopback by
// default), so that Prometheus on the same host or a private network can scrape
// without a login.

// isAdmin reports whether the request comes from a signed-in admin (a session
// or an API token of an admin; see optionalAuth).
func (s *Server) isAdmin(r *http.Request) bool {
	u, ok := currentUser(r)
	return ok && u.IsAdmin()
}

// opsOnly lets through admins and requests from an allowed address; others get
// 403.
func (s *Server) opsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.fromAllowedAddr(r) || s.isAdmin(r) {
			next.ServeHTTP(w, r)
			return
		}
		writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden: only admins and the addresses in METRICS_ALLOW_CIDRS may see this"})
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
