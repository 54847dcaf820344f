package handlers

import (
	"net"
	"net/http"
	"strings"
)

// checkHost refuses (400) a request whose Host is not one of Security.Hosts,
// so that a web page whose DNS name was rebound to this server's address (DNS
// rebinding: the browser then takes the server for the page's own origin)
// gets nothing from it. /healthz and /readyz answer whatever the Host: load
// balancers probe by address. Without Hosts every Host is accepted.
func (s *Server) checkHost(next http.Handler) http.Handler {
	if len(s.Security.Hosts) == 0 {
		return next
	}
	allowed := map[string]bool{}
	for _, h := range s.Security.Hosts {
		allowed[hostName(h)] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed[hostName(r.Host)] || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		s.Log.WarnContext(r.Context(), "unknown host refused", "host", r.Host, "path", r.URL.Path,
			"address", s.clientAddr(r), "request_id", RequestID(r.Context()))
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "unknown host: this server answers for " + strings.Join(s.Security.Hosts, ", ") + " (BASE_URL)"})
	})
}

// hostName is the host of a Host header or a host[:port], lower-cased, without
// the port, IPv6 brackets or a final dot.
func hostName(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}
