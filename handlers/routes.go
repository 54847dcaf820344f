package handlers

import (
	"net/http"
	"runtime"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/crmteam/crm/static"
	"github.com/crmteam/crm/views"
)

// Routes returns the HTTP handler with every route of the application. Routes
// are grouped by who may call them (see auth.go): public, operators, the JSON
// API (a session or a bearer token; 401 JSON otherwise), pages and fragments (a
// session; a redirect to sign-in otherwise), and admins. handlers/auth_routes_test.go
// walks this table and fails for a route it does not know, so a new route's
// protection is always decided and tested.
func (s *Server) Routes() http.Handler {
	s.sec = newSecurity(s.Security, s.Log, s.Redis)
	s.boardReads = make(chan struct{}, runtime.NumCPU())
	s.boardVer = &versionReader{read: s.Store.BoardVersion}
	s.boardCache = &boardCache{}
	if s.Sessions != nil {
		// A failing session store is answered by the error adapters, with the
		// request id, in the shape the route speaks (JSON or HTML).
		s.Sessions.ErrorFunc = s.sessionError
	}
	r := chi.NewRouter()
	r.Use(s.instrument, s.recoverer, withRequestID, s.accessLog)
	// Only the configured host names (DNS rebinding); health answers any.
	r.Use(s.checkHost)
	// Security headers on every response, errors and static files included;
	// every body bounded.
	r.Use(s.securityHeaders, limitBody)
	// Paths work with and without the trailing slash, as the original API's did.
	r.Use(middleware.StripSlashes)
	// HEAD is answered by the GET handler of the path (headers only).
	r.Use(middleware.GetHead)
	r.Use(middleware.Compress(5, "application/json", "text/html", "text/css", "text/javascript", "application/javascript", "image/svg+xml"))
	// CORS for ALLOWED_ORIGINS (off by default), before anything that needs
	// credentials: a preflight carries none.
	r.Use(s.cors)

	// Paths nobody serves: JSON for API clients, a page with the way back for
	// browsers (wantsJSON decides).
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.refuse(w, r, errStatus(http.StatusNotFound, "not found"),
			errStatus(http.StatusNotFound, "There is no page at this address. Check the link, or go back to the board."))
	})
	r.MethodNotAllowed(s.methodNotAllowed(r))

	// Public: health, the original backend's test endpoint, static files.
	r.Get("/healthz", s.handleHealthz)
	r.Get("/readyz", s.handleReadyz)
	r.Get("/test", s.handleTest)
	r.Handle("/static/*", static.Handler())

	// Operators: Prometheus metrics for metrics tokens, the job queue dashboard
	// for admins (metrics_access.go).
	if s.Metrics != nil {
		r.With(s.metricsOnly).Get("/metrics", s.Metrics.Handler().ServeHTTP)
	}
	if s.QueueDashboard != nil {
		r.Handle(QueueDashboardPath, s.queueDashboard())
		r.Handle(QueueDashboardPath+"/*", s.queueDashboard())
	}

	// Sign-in and the one-time setup: for people who are not signed in yet.
	r.Group(func(r chi.Router) {
		r.Use(s.publicPage)
		r.Get(views.SignInPath, s.html(s.handleSignInForm))
		r.Post(views.SignInPath, s.html(s.handleSignIn))
		r.Get(views.SetupPath, s.html(s.handleSetupForm))
		r.Post(views.SetupPath, s.html(s.handleSetup))
	})

	// JSON API: a session or a bearer token. Conversations with the assistant
	// belong to the user, keyed by the browser session or the token (chatSession).
	r.Group(func(r chi.Router) {
		r.Use(s.apiAuth)
		r.Get("/leads", s.api(leadNotFound, s.handleLeadList))
		r.Get("/leads/export.csv", s.api(leadNotFound, s.handleExportCSV))
		r.Get("/leads/export.jsonl", s.api(leadNotFound, s.handleExportJSONL))
		r.Post("/leads/bulk", s.api(leadNotFound, s.handleBulk))
		r.Post("/leads/bulk/{id}/undo", s.api(bulkNotFound, s.handleBulkUndo))
		r.Post("/leads", s.api(leadNotFound, s.handleLeadCreate))
		r.Get("/leads/{id}", s.api(leadNotFound, s.handleLeadGet))
		r.Put("/leads/{id}", s.api(leadNotFound, s.handleLeadUpdate))
		r.Patch("/leads/{id}", s.api(leadNotFound, s.handleLeadUpdate))
		r.Delete("/leads/{id}", s.api(leadNotFound, s.handleLeadDelete))
		r.Put("/leads/{id}/status", s.api(leadNotFound, s.handleLeadMove))
		r.Post("/leads/{id}/restore", s.api(trashNotFound, s.handleLeadRestore))
		r.Get("/events", s.api("not found", s.handleEvents))

		// CSV import (imports.go).
		r.Get(views.ImportsPath, s.api(importNotFound, s.handleImportList))
		r.Post(views.ImportsPath, s.api(importNotFound, s.handleImportCreate))
		r.Post(views.ImportsPath+"/preview", s.api(importNotFound, s.handleImportPreview))
		r.Get(views.ImportsPath+"/{id}", s.api(importNotFound, s.handleImportGet))
		r.Get(views.ImportsPath+"/{id}/failed.csv", s.api(importNotFound, s.handleImportFailed))
		r.Post(views.ImportsPath+"/{id}/undo", s.api(importNotFound, s.handleImportUndo))

		r.With(s.chatSession).Get("/chat/status/{task_id}", s.api(taskNotFound, s.handleChatStatus))
		r.With(s.chatSession).Post("/chat", s.api(taskNotFound, s.chatLimited(s.handleChatSend)))
		r.With(s.chatSession).Post("/chat/clear", s.api(taskNotFound, s.handleChatClear))
	})

	// Stages: the JSON API and the admins' settings page (stages.go).
	s.stageRoutes(r)

	// The analytics page, and its numbers as JSON for API clients (analytics.go).
	r.With(s.negotiatedAuth).Get(views.AnalyticsPath, s.negotiated(s.handleAnalytics()))

	// The assistant panel's fragments: like pages, with failures shown in the panel.
	r.Group(func(r chi.Router) {
		r.Use(s.panelAuth, s.chatSession)
		r.Get("/chat/panel", s.chatHTML(s.handleChatPanel))
		r.Get("/chat/panel/replies/{id}", s.chatHTML(s.handleChatPanelReply))
		r.Post("/chat/panel/messages", s.chatHTML(s.chatLimited(s.handleChatPanelSend)))
		r.Post("/chat/panel/clear", s.chatHTML(s.handleChatPanelClear))
	})

	// Pages and htmx fragments: a session (or a bearer token).
	r.Group(func(r chi.Router) {
		r.Use(s.pageAuth)
		r.Get("/", s.html(s.handleBoard))
		r.Get("/board/cards", s.html(s.handleBoardCards))
		r.Get(views.LiveColumnsPath, s.html(s.handleBoardColumns))
		r.Get("/board/leads/new", s.html(s.handleLeadNewForm))
		r.Get("/board/leads/{id}", s.html(s.handleLeadDetail))
		r.Get("/board/leads/{id}/delete", s.html(s.handleLeadDeleteConfirm))
		r.Post("/board/leads", s.html(s.handleLeadCreateForm))
		r.Post("/board/leads/{id}", s.html(s.handleLeadUpdateForm))
		r.Post("/board/leads/{id}/move", s.html(s.handleBoardMove))
		r.Post("/board/leads/{id}/delete", s.html(s.handleLeadDeleteForm))
		r.Post("/board/leads/{id}/restore", s.html(s.handleLeadRestoreForm))
		r.Post(views.DemoPath, s.html(s.handleDemoLoad))
		r.Post(views.BulkPath, s.html(s.handleBoardBulk))
		r.Post(views.BulkPath+"/{id}/undo", s.html(s.handleBoardBulkUndo))

		r.Post(views.SignOutPath, s.html(s.handleSignOut))
		r.Get(views.SettingsPath, s.html(s.handleSettings))
		r.With(s.sessionOnly).Post(views.TokensPath, s.html(s.handleTokenCreate))
		r.With(s.sessionOnly).Post(views.TokensPath+"/{id}/revoke", s.html(s.handleTokenRevoke))
		r.Post(views.PasswordPath, s.html(s.handlePasswordChange))

		r.Get(views.ImportPath, s.html(s.handleImportPage))

		r.Get(views.TrashPath, s.html(s.handleTrash))
		r.Get(views.TrashPath+"/{id}", s.html(s.handleTrashedLead))
		r.Post(views.TrashPath+"/{id}/restore", s.html(s.handleTrashRestoreForm))

		// Admins: accounts and everyone's tokens. Every change here needs a
		// signed-in browser session, never an API token: otherwise a leaked
		// admin token could make an account (or reset a password) that outlives
		// revoking the token. Scripts manage accounts with `crm user`.
		r.Group(func(r chi.Router) {
			r.Use(s.adminOnly)
			r.Get(views.AdminPath, s.html(s.handleAdmin))
			r.Group(func(r chi.Router) {
				r.Use(s.sessionOnly)
				r.Post(views.AdminPath, s.html(s.handleAdminAddUser))
				r.Post(views.AdminPath+"/{id}/deactivate", s.html(s.handleAdminSetActive(false)))
				r.Post(views.AdminPath+"/{id}/activate", s.html(s.handleAdminSetActive(true)))
				r.Post(views.AdminPath+"/{id}/password", s.html(s.handleAdminSetPassword))
				r.Post(views.AdminPath+"/{id}/reassign", s.html(s.handleAdminReassign))
				r.Post(views.AdminPath+"/{id}/tokens/{token_id}/revoke", s.html(s.handleAdminRevokeToken))
			})
		})
	})

	s.webhookRoutes(r)

	return r
}

// methodNotAllowed answers 405 with an Allow header listing the methods the path
// does take.
func (s *Server) methodNotAllowed(mux *chi.Mux) http.HandlerFunc {
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	return func(w http.ResponseWriter, r *http.Request) {
		var allowed []string
		path := strings.TrimSuffix(r.URL.Path, "/")
		if path == "" {
			path = "/"
		}
		for _, m := range methods {
			if mux.Match(chi.NewRouteContext(), m, path) {
				allowed = append(allowed, m)
				if m == http.MethodGet {
					allowed = append(allowed, http.MethodHead)
				}
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		msg := "method " + r.Method + " is not allowed here; allowed: " + strings.Join(allowed, ", ")
		s.refuse(w, r, errStatus(http.StatusMethodNotAllowed, msg),
			errStatus(http.StatusMethodNotAllowed, "This address cannot be used that way. Go back to the board and try again."))
	}
}
