package handlers_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/static"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// Access classes of routes.
const (
	public = "public" // no sign-in
	ops    = "ops"    // metrics tokens only (403 otherwise, sessions included)
	api    = "api"    // a session or a bearer token; 401 JSON otherwise
	page   = "page"   // a session; a redirect to sign-in otherwise
	admin  = "admin"  // a page for admins; 403 for members
	// adminAPI is the JSON API for admins: 401 JSON signed out, 403 for members.
	adminAPI = "adminAPI"
)

// Who may use a route besides whoever is signed in.
const (
	team  = "team"  // shared by every signed-in user: the pipeline is the team's
	owned = "owned" // one user's: another user's id answers not found
	none  = ""      // public or admin routes
)

// routeSpec is what the route table test knows of a route: who may call it,
// and how to build a request that would succeed for the right caller (so a
// refusal is the guard's doing, not a bad request's).
type routeSpec struct {
	access, owner string
	body          string // JSON (API) or a form (pages)
	// wrongStatus is what another user gets on an owned route (404 unless set).
	wrongStatus int
	// readOnly routes change nothing whatever the method: other methods than
	// GET and HEAD answer 405.
	readOnly bool
}

// routeSpecs lists every route of Routes(). TestEveryRouteIsGuarded fails for a
// route missing here, so a new route's protection is always decided.
var routeSpecs = map[string]routeSpec{
	"GET /healthz":                                     {access: public},
	"GET /readyz":                                      {access: public},
	"GET /test":                                        {access: public},
	"* /static/*":                                      {access: public, readOnly: true}, // "*": every method
	"GET /signin":                                      {access: public},
	"POST /signin":                                     {access: public, body: "email=ann%40example.com&password=wrong+password"},
	"GET /setup":                                       {access: public},
	"POST /setup":                                      {access: public, body: "email=x%40example.com&name=X&password=correct+horse+battery"},
	"GET /metrics":                                     {access: ops},
	"* /admin/queues":                                  {access: admin},
	"* /admin/queues/*":                                {access: admin},
	"GET /leads":                                       {access: api, owner: team},
	"POST /leads":                                      {access: api, owner: team, body: `{"name": "Refused"}`},
	"GET /leads/{id}":                                  {access: api, owner: team},
	"PUT /leads/{id}":                                  {access: api, owner: team, body: `{"company": "Refused"}`},
	"PATCH /leads/{id}":                                {access: api, owner: team, body: `{"company": "Refused"}`},
	"DELETE /leads/{id}":                               {access: api, owner: team},
	"PUT /leads/{id}/status":                           {access: api, owner: team, body: `{"status": "Closed won"}`},
	"POST /leads/{id}/restore":                         {access: api, owner: team},
	"GET /events":                                      {access: api, owner: team},
	"GET /leads/export.csv":                            {access: api, owner: team},
	"GET /leads/export.jsonl":                          {access: api, owner: team},
	"POST /leads/bulk":                                 {access: api, owner: team, body: `{"ids": [], "action": "delete"}`},
	"POST /leads/bulk/{id}/undo":                       {access: api, owner: team},
	"GET /imports":                                     {access: api, owner: team},
	"GET /import":                                      {access: page, owner: team},
	"POST /imports":                                    {access: api, owner: team, body: "name\nRefused\n"},
	"POST /imports/preview":                            {access: api, owner: team, body: "name\nRefused\n"},
	"GET /imports/{id}":                                {access: api, owner: team},
	"GET /imports/{id}/failed.csv":                     {access: api, owner: team},
	"POST /imports/{id}/undo":                          {access: api, owner: team},
	"GET /stages":                                      {access: api, owner: team},
	"POST /stages":                                     {access: adminAPI, body: `{"name": "Refused"}`},
	"PATCH /stages/{id}":                               {access: adminAPI, body: `{"name": "Refused"}`},
	"DELETE /stages/{id}":                              {access: adminAPI},
	"GET /admin/pipeline":                              {access: admin},
	"POST /admin/pipeline/stages":                      {access: admin, body: "name=Refused"},
	"POST /admin/pipeline/stages/order":                {access: admin, body: "order=1"},
	"POST /admin/pipeline/stages/{id}":                 {access: admin, body: "name=Refused"},
	"POST /admin/pipeline/stages/{id}/move":            {access: admin, body: "position=3"},
	"POST /admin/pipeline/stages/{id}/delete":          {access: admin, body: "move_to=1"},
	"POST /admin/pipeline/settings":                    {access: admin, body: "lost_reason_required=1"},
	"POST /admin/pipeline/reasons":                     {access: admin, body: "name=Refused"},
	"POST /admin/pipeline/reasons/{id}":                {access: admin, body: "name=Refused&active=true"},
	"GET /analytics":                                   {access: api, owner: team}, // JSON for API clients, the page for browsers
	"GET /chat/status/{task_id}":                       {access: api, owner: owned},
	"POST /chat":                                       {access: api, owner: owned, body: `{"message": "delete Jane Doe"}`},
	"POST /chat/clear":                                 {access: api, owner: owned},
	"GET /chat/panel":                                  {access: page, owner: owned},
	"GET /chat/panel/replies/{id}":                     {access: page, owner: owned, wrongStatus: http.StatusOK}, // a reply not one's own answers nothing, as a gone one
	"POST /chat/panel/messages":                        {access: page, owner: owned, body: "message=delete+Jane+Doe"},
	"POST /chat/panel/clear":                           {access: page, owner: owned},
	"GET /":                                            {access: page, owner: team},
	"GET /board/cards":                                 {access: page, owner: team},
	"GET /board/columns":                               {access: page, owner: team},
	"GET /board/leads/new":                             {access: page, owner: team},
	"GET /board/leads/{id}":                            {access: page, owner: team},
	"GET /board/leads/{id}/delete":                     {access: page, owner: team},
	"POST /board/leads":                                {access: page, owner: team, body: "name=Refused"},
	"POST /board/leads/{id}":                           {access: page, owner: team, body: "name=Refused"},
	"POST /board/leads/{id}/move":                      {access: page, owner: team, body: "status=Closed+won&order=0"},
	"POST /board/leads/{id}/delete":                    {access: page, owner: team},
	"POST /board/leads/{id}/restore":                   {access: page, owner: team},
	"POST /board/demo":                                 {access: page, owner: team},
	"POST /board/bulk":                                 {access: page, owner: team},
	"POST /board/bulk/{id}/undo":                       {access: page, owner: team},
	"POST /signout":                                    {access: page, owner: owned},
	"GET /settings":                                    {access: page, owner: owned},
	"POST /settings/tokens":                            {access: page, owner: owned, body: "name=refused"},
	"POST /settings/tokens/{id}/revoke":                {access: page, owner: owned},
	"POST /settings/password":                          {access: page, owner: owned, body: "current=correct+horse+battery+staple&password=another+long+passphrase"},
	"GET /trash":                                       {access: page, owner: team},
	"GET /trash/{id}":                                  {access: page, owner: team},
	"POST /trash/{id}/restore":                         {access: page, owner: team},
	"GET /admin/users":                                 {access: admin},
	"POST /admin/users":                                {access: admin, body: "email=new%40example.com&name=New&password=correct+horse+battery&role=admin"},
	"POST /admin/users/{id}/deactivate":                {access: admin},
	"POST /admin/users/{id}/activate":                  {access: admin},
	"POST /admin/users/{id}/password":                  {access: admin, body: "password=a+password+set+by+mallory"},
	"POST /admin/users/{id}/reassign":                  {access: admin, body: "to=00000000-0000-0000-0000-000000000001"},
	"POST /admin/users/{id}/tokens/{token_id}/revoke":  {access: admin},
	"GET /webhooks":                                    {access: adminAPI},
	"POST /webhooks":                                   {access: adminAPI, body: `{"url": "https://example.com/hook", "events": ["*"]}`},
	"GET /webhooks/{id}":                               {access: adminAPI},
	"PATCH /webhooks/{id}":                             {access: adminAPI, body: `{"description": "refused"}`},
	"DELETE /webhooks/{id}":                            {access: adminAPI},
	"GET /webhooks/{id}/deliveries":                    {access: adminAPI},
	"POST /webhooks/{id}/deliveries/{delivery}/resend": {access: adminAPI},
	"GET /admin/webhooks":                              {access: admin},
	"POST /admin/webhooks":                             {access: admin, body: "url=https%3A%2F%2Fexample.com%2Fhook&events=*"},
	"GET /admin/webhooks/{id}":                         {access: admin},
	"POST /admin/webhooks/{id}/{action}":               {access: admin},
	"POST /admin/webhooks/{id}/deliveries/{delivery}/resend": {access: admin},
}

// specOf returns the spec of "METHOD pattern", or of "* pattern".
func specOf(key string) (routeSpec, bool) {
	if spec, ok := routeSpecs[key]; ok {
		return spec, true
	}
	_, pattern, _ := strings.Cut(key, " ")
	spec, ok := routeSpecs["* "+pattern]
	return spec, ok
}

// exotic methods are walked and must be in the table, but not sent.
var exotic = []string{http.MethodConnect, http.MethodTrace, http.MethodOptions, http.MethodHead, "QUERY"}

// routeFixture is the data the requests of the route table test name.
type routeFixture struct {
	lead, trashed, task, rootToken, memberID, memberToken string
	webhook, delivery, imp                                string
}

func (f routeFixture) path(pattern string) string {
	p := pattern
	switch {
	case strings.HasPrefix(p, "/leads/{id}/restore"), strings.HasPrefix(p, "/trash/{id}"):
		p = strings.ReplaceAll(p, "{id}", f.trashed)
	case strings.HasPrefix(p, "/chat/"):
		p = strings.ReplaceAll(strings.ReplaceAll(p, "{task_id}", f.task), "{id}", f.task)
	case strings.HasPrefix(p, "/settings/tokens/"):
		p = strings.ReplaceAll(p, "{id}", f.rootToken)
	case strings.HasPrefix(p, "/admin/users/"):
		p = strings.ReplaceAll(strings.ReplaceAll(p, "{token_id}", f.memberToken), "{id}", f.memberID)
	case strings.HasPrefix(p, "/webhooks/"), strings.HasPrefix(p, "/admin/webhooks/"):
		p = strings.NewReplacer("{id}", f.webhook, "{delivery}", f.delivery, "{action}", "disable").Replace(p)
	case strings.HasPrefix(p, "/imports/{id}"):
		p = strings.ReplaceAll(p, "{id}", f.imp)
	case p == "/static/*":
		p = static.URL("app.css")
	}
	p = strings.ReplaceAll(p, "{id}", f.lead)
	if p == "/board/cards" {
		p += "?status=Interest&after=-1"
	}
	return p
}

// walkRoutes lists "METHOD pattern" of every route of the router.
func walkRoutes(t *testing.T, h http.Handler) []string {
	t.Helper()
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("Routes() is a %T, want a chi router to walk", h)
	}
	var out []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestEveryRouteIsGuarded walks the route table and, for every route, checks
// who is refused: nobody signed in (401 JSON for the API, a redirect to
// sign-in for pages, 403 for the operator endpoints), a bad or revoked API
// token, a deactivated user's session, a member on admin routes (403), another
// user on routes of one user's data (not found), and, for state changes, a
// cross-origin browser request with a valid session (403). After every refused
// request nothing has changed in the database.
func TestEveryRouteIsGuarded(t *testing.T) {
	t.Parallel()
	redisOpt, err := asynq.ParseRedisURI(storetest.NewRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	dashboard := handlers.NewQueueDashboard(redisOpt)
	t.Cleanup(func() { dashboard.Close() })
	e := newAuthEnv(t, func(s *handlers.Server) {
		s.Metrics = handlers.NewMetrics(prometheus.NewRegistry())
		s.QueueDashboard = dashboard
		// A closed hub answers GET /events/ with the stream's start and ends
		// it, as at shutdown, so the request returns.
		s.Events = handlers.NewEventHub(s.Store, nil, discardLog())
		if err := s.Events.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		s.Events.Close()
	})
	ctx := context.Background()
	root := e.user("root@example.com", store.RoleAdmin)
	member := e.user("mem@example.com", store.RoleMember)
	e.user("other@example.com", store.RoleMember)
	gone := e.user("gone@example.com", store.RoleMember)
	if _, err := e.st.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	rootC, memberC, otherC, goneC := e.browser("root@example.com"), e.browser("mem@example.com"), e.browser("other@example.com"), e.browser("gone@example.com")
	goneToken := handlers.TokenForTest(t, e.st, gone, "gone")
	if _, err := e.st.SetUserActive(ctx, gone.ID, false); err != nil {
		t.Fatal(err)
	}
	rootToken, _, err := e.st.CreateAPIToken(ctx, root.ID, "root's")
	if err != nil {
		t.Fatal(err)
	}
	memberToken, _, err := e.st.CreateAPIToken(ctx, member.ID, "member's")
	if err != nil {
		t.Fatal(err)
	}
	board, _ := e.st.ListBoard(ctx, store.BoardQuery{Status: "Interest"})
	lead := board.Columns[0].Leads[0]
	trashed := board.Columns[0].Leads[1]
	if _, err := e.st.DeleteLead(ctx, trashed.ID); err != nil {
		t.Fatal(err)
	}
	hook, _, err := e.st.CreateWebhook(ctx, store.WebhookInput{URL: "https://example.com/hook", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := e.st.CreateImport(ctx, store.ImportUpload{FileName: "fixture.csv", Body: strings.NewReader("name\nX\n")})
	if err != nil {
		t.Fatal(err)
	}
	sent := e.req(rootC, "POST", "/chat/", "application/json", `{"message": "list leads"}`)
	wantStatus(t, "root's chat message", sent, http.StatusAccepted)
	f := routeFixture{
		lead: lead.ID.String(), trashed: trashed.ID.String(), task: sent.json(t)["task_id"].(string),
		rootToken: rootToken.ID.String(), memberID: member.ID.String(), memberToken: memberToken.ID.String(),
		webhook: hook.ID.String(), delivery: "1", imp: imp.ID.String(),
	}

	fingerprint := func() string {
		var s string
		err := e.pool.QueryRow(ctx, `SELECT concat_ws('|',
			(SELECT md5(coalesce(string_agg(l::text, ',' ORDER BY l.id), '')) FROM leads l),
			(SELECT md5(coalesce(string_agg(t.id::text, ',' ORDER BY t.id), '')) FROM trashed_leads t),
			(SELECT count(*) FROM lead_events),
			(SELECT md5(coalesce(string_agg(u.email || u.role || u.active::text || u.password_hash, ',' ORDER BY u.id), '')) FROM users u),
			(SELECT count(*) FROM api_tokens), (SELECT count(*) FROM user_sessions),
			(SELECT count(*) FROM chat_messages), (SELECT count(*) FROM conversations),
			(SELECT md5(coalesce(string_agg(w::text, ',' ORDER BY w.id), '')) FROM webhooks w),
			(SELECT md5(coalesce(string_agg(d::text, ',' ORDER BY d.id), '')) FROM webhook_deliveries d))`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := fingerprint()
	unchanged := func(what string) {
		t.Helper()
		if now := fingerprint(); now != before {
			t.Errorf("%s: the database changed (%s -> %s), want nothing changed", what, before, now)
			before = now
		}
	}

	routes := walkRoutes(t, e.srv.Routes())
	for _, key := range routes {
		if _, ok := specOf(key); !ok {
			t.Errorf("route %s: not in routeSpecs, want its protection decided there", key)
		}
	}
	for key := range routeSpecs {
		m, pattern, _ := strings.Cut(key, " ")
		if !slices.ContainsFunc(routes, func(r string) bool { return r == key || (m == "*" && strings.HasSuffix(r, " "+pattern)) }) {
			t.Errorf("routeSpecs has %s, which is no route any more", key)
		}
	}

	for _, key := range routes {
		spec, ok := specOf(key)
		method, pattern, _ := strings.Cut(key, " ")
		if !ok || slices.Contains(exotic, method) {
			continue
		}
		path := f.path(pattern)
		ct := ""
		if spec.body != "" {
			ct = "application/x-www-form-urlencoded"
			if spec.access == api || spec.access == adminAPI {
				ct = "application/json"
			}
		}
		send := func(c *http.Client, headers ...string) response {
			return e.req(c, method, path, ct, spec.body, headers...)
		}
		changes := method != http.MethodGet && !spec.readOnly

		t.Run(key, func(t *testing.T) {
			// Nobody signed in.
			r := send(nil)
			switch spec.access {
			case api, adminAPI:
				if r.status != http.StatusUnauthorized || r.json(t)["error"] == nil {
					t.Errorf("signed out: got %d %.200s, want 401 with a JSON error", r.status, r.body)
				}
			case page, admin:
				loc := r.header.Get("Location")
				if r.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
					t.Errorf("signed out: got %d to %q, want 303 to /signin", r.status, loc)
				}
				if method == http.MethodGet {
					h := send(nil, "HX-Request", "true")
					if h.status != http.StatusUnauthorized || !strings.HasPrefix(h.header.Get("HX-Redirect"), "/signin") {
						t.Errorf("signed out, htmx: got %d with HX-Redirect %q, want 401 with HX-Redirect to /signin", h.status, h.header.Get("HX-Redirect"))
					}
				}
			case ops:
				if r.status != http.StatusForbidden {
					t.Errorf("signed out: got %d, want 403", r.status)
				}
			case public:
				// Served without the guard: no sign-in redirect, no Bearer challenge.
				if strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") || strings.HasPrefix(r.header.Get("Location"), "/signin?next") || r.status >= 500 {
					t.Errorf("signed out: got %d to %q, want it served without sign-in", r.status, r.header.Get("Location"))
				}
			}
			if spec.access != public {
				unchanged("signed out")

				// A token that is not one, and a deactivated user's token and session.
				for _, tok := range []string{"crm_not-a-token", goneToken} {
					if r := e.req(nil, method, path, ct, spec.body, "Authorization", "Bearer "+tok); r.status != http.StatusUnauthorized {
						t.Errorf("bad token: got %d, want 401", r.status)
					}
				}
				r := send(goneC)
				signedOut := r.status == http.StatusUnauthorized || (r.status == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), "/signin"))
				if spec.access == ops {
					signedOut = r.status == http.StatusForbidden
				}
				if !signedOut {
					t.Errorf("deactivated user's session: got %d, want it treated as signed out", r.status)
				}
				unchanged("bad tokens and a deactivated user")
			}

			// The wrong user.
			switch {
			case spec.access == admin || spec.access == ops || spec.access == adminAPI:
				if r := send(memberC); r.status != http.StatusForbidden {
					t.Errorf("member: got %d, want 403", r.status)
				}
				unchanged("a member on an admin route")
			case spec.owner == owned && strings.Contains(pattern, "{"):
				want := spec.wrongStatus
				if want == 0 {
					want = http.StatusNotFound
				}
				r := send(otherC, "HX-Request", "true")
				if r.status != want || strings.Contains(string(r.body), "list leads") {
					t.Errorf("another user: got %d %.200s, want %d and nothing of root's", r.status, r.body, want)
				}
				unchanged("another user on one user's data")
			}

			if spec.readOnly && method != http.MethodGet {
				if r := send(rootC); r.status != http.StatusMethodNotAllowed {
					t.Errorf("read-only route: got %d, want 405", r.status)
				}
			}

			// A cross-origin browser request with a valid session.
			if changes {
				for _, c := range []*http.Client{rootC, memberC} {
					r := send(c, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
					if r.status != http.StatusForbidden {
						t.Errorf("cross-origin with a session: got %d, want 403", r.status)
					}
					r = send(c, "Origin", "https://evil.example") // an older browser: Origin only
					if r.status != http.StatusForbidden {
						t.Errorf("cross-origin (Origin only) with a session: got %d, want 403", r.status)
					}
				}
				unchanged("cross-origin requests")
			}
		})
	}

	_, metricsSecret, err := e.st.CreateScopedAPIToken(ctx, member.ID, "prometheus", store.ScopeMetrics)
	if err != nil {
		t.Fatal(err)
	}
	// The right caller gets through each GET route (the guards are not simply
	// closed), and a bearer call is not subject to the cross-origin check.
	for _, key := range routes {
		spec, _ := specOf(key)
		method, pattern, _ := strings.Cut(key, " ")
		if method != http.MethodGet || spec.access == public {
			continue
		}
		r := e.req(rootC, method, f.path(pattern), "", "", "HX-Request", "true")
		if spec.access == ops {
			if r.status != http.StatusForbidden {
				t.Errorf("%s as an admin's session: got %d, want 403 (metrics tokens only)", key, r.status)
			}
			if r := e.req(nil, method, f.path(pattern), "", "", "Authorization", "Bearer "+metricsSecret); r.status != http.StatusOK {
				t.Errorf("%s with a metrics token: got %d, want 200", key, r.status)
			}
			continue
		}
		if r.status != http.StatusOK {
			t.Errorf("%s as root: got %d %.200s, want 200", key, r.status, r.body)
		}
	}
	rootSecret := handlers.TokenForTest(t, e.st, root, "cross-origin script")
	r := e.req(nil, "POST", "/leads/", "application/json", `{"name": "From elsewhere"}`,
		"Authorization", "Bearer "+rootSecret, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
	wantStatus(t, "bearer call from another origin", r, http.StatusCreated)
}
