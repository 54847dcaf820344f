package handlers

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/crmteam/crm/static"
)

// Routes returns the HTTP handler with every route of the application.
func (s *Server) Routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.instrument, s.recoverer, withRequestID, s.accessLog)
	// Paths work with and without the trailing slash, as the original API's did.
	r.Use(middleware.StripSlashes)
	r.Use(middleware.Compress(5, "application/json", "text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml"))

	r.NotFound(s.api("not found", func(w http.ResponseWriter, r *http.Request) error {
		return errStatus(http.StatusNotFound, "not found")
	}))
	r.MethodNotAllowed(s.methodNotAllowed(r))

	// Health and the original backend's test endpoint.
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	r.Get("/test", s.handleTest)

	// Operators: Prometheus metrics and the job queue dashboard, for admins and
	// the addresses in METRICS_ALLOW_CIDRS (metrics_access.go).
	if s.Metrics != nil {
		r.With(s.opsOnly).Get("/metrics", s.Metrics.Handler().ServeHTTP)
	}
	if s.QueueDashboard != nil {
		r.Handle(QueueDashboardPath, s.queueDashboard())
		r.Handle(QueueDashboardPath+"/*", s.queueDashboard())
	}

	// JSON API: leads.
	r.Get("/leads", s.api(leadNotFound, s.handleLeadList))
	r.Post("/leads", s.api(leadNotFound, s.handleLeadCreate))
	r.Get("/leads/{id}", s.api(leadNotFound, s.handleLeadGet))
	r.Put("/leads/{id}", s.api(leadNotFound, s.handleLeadUpdate))
	r.Patch("/leads/{id}", s.api(leadNotFound, s.handleLeadUpdate))
	r.Delete("/leads/{id}", s.api(leadNotFound, s.handleLeadDelete))
	r.Put("/leads/{id}/status", s.api(leadNotFound, s.handleLeadMove))

	// Board: HTML pages, htmx fragments and static files. Form posts refuse
	// cross-origin browser requests (Sec-Fetch-Site / Origin), as there is no
	// session to carry a CSRF token.
	r.Get("/", s.html(s.handleBoard))
	r.Get("/board/cards", s.html(s.handleBoardCards))
	r.Get("/board/leads/new", s.html(s.handleLeadNewForm))
	r.Get("/board/leads/{id}", s.html(s.handleLeadDetail))
	r.Get("/board/leads/{id}/delete", s.html(s.handleLeadDeleteConfirm))
	r.Group(func(r chi.Router) {
		r.Use(http.NewCrossOriginProtection().Handler)
		r.Post("/board/leads", s.html(s.handleLeadCreateForm))
		r.Post("/board/leads/{id}", s.html(s.handleLeadUpdateForm))
		r.Post("/board/leads/{id}/move", s.html(s.handleBoardMove))
		r.Post("/board/leads/{id}/delete", s.html(s.handleLeadDeleteForm))
	})
	r.Handle("/static/*", static.Handler())

	// Assistant: JSON chat API and the chat panel. Conversations belong to the
	// browser session or the bearer token (chatSession); posts refuse cross-origin
	// browser requests.
	r.Group(func(r chi.Router) {
		r.Use(s.chatSession)
		r.Get("/chat/status/{task_id}", s.api(taskNotFound, s.handleChatStatus))
		r.Get("/chat/panel", s.chatHTML(s.handleChatPanel))
		r.Get("/chat/panel/replies/{id}", s.chatHTML(s.handleChatPanelReply))
		r.Group(func(r chi.Router) {
			r.Use(http.NewCrossOriginProtection().Handler)
			r.Post("/chat", s.api(taskNotFound, s.handleChatSend))
			r.Post("/chat/clear", s.api(taskNotFound, s.handleChatClear))
			r.Post("/chat/panel/messages", s.chatHTML(s.handleChatPanelSend))
			r.Post("/chat/panel/clear", s.chatHTML(s.handleChatPanelClear))
		})
	})

	return r
}

// methodNotAllowed answers 405 with an Allow header listing the methods the path
// does take.
func (s *Server) methodNotAllowed(mux *chi.Mux) http.HandlerFunc {
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		path := strings.TrimSuffix(r.URL.Path, "/")
		for _, m := range methods {
			if mux.Match(chi.NewRouteContext(), m, path) {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: "method " + r.Method + " is not allowed here; allowed: " + strings.Join(allowed, ", ")})
	}
}
