package handlers

import (
	"net/http"
	"strings"
)

// contentSecurityPolicy allows scripts, styles, images and requests from this
// site only, no inline script or style (the board has none: every script is a
// file, htmx is configured without eval and without its indicator styles),
// no plugins, no <base> tricks, forms posting only here, and no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// dashboardPolicy is the policy of the job queue dashboard (asynqmon, served to
// admins and allowed addresses only): its prebuilt UI needs inline scripts and
// styles and Google's fonts. Framing stays forbidden.
const dashboardPolicy = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; " +
	"font-src 'self' https://fonts.gstatic.com; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// securityHeaders puts the security headers on every response, errors and
// static files included, before anything else writes. Responses are not to be
// stored (Cache-Control: no-store: pages and the API carry lead data) unless a
// handler says otherwise, as the static files' handler does for the files.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if strings.HasPrefix(r.URL.Path, QueueDashboardPath) {
			h.Set("Content-Security-Policy", dashboardPolicy)
		} else {
			h.Set("Content-Security-Policy", contentSecurityPolicy)
		}
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if s.Security.HTTPS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.Set("Cache-Control", "no-store") // the static files' handler sets its own
		next.ServeHTTP(w, r)
	})
}

// limitBody bounds every request body to maxBodyBytes, whatever the route
// (the JSON and form decoders bound theirs too, with a clear 413), but for
// the files uploaded to import (maxImportBody).
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			limit := int64(maxBodyBytes)
			if isImportUpload(r) {
				limit = maxImportBody // a file to import (imports.go)
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// corsAllowHeaders are the request headers a browser on an allowed origin may
// send: JSON bodies, tokens, and htmx's own.
const corsAllowHeaders = "Authorization, Content-Type, X-Request-ID, HX-Request, HX-Current-URL, HX-Target, HX-Trigger"

// cors lets the origins of ALLOWED_ORIGINS (and only those) call the app from a
// browser, with credentials, and answers their preflight requests. With no
// allowed origin it does nothing: browsers then keep other sites' scripts from
// reading any response.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || len(s.sec.origins) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if !s.sec.origins[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Expose-Headers", "Link, Location, Retry-After, X-Request-ID")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
