package handlers_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
)

// hostileCase is one hostile request: sent with an API token (api) or by a
// signed-in browser (a form), it must be answered wantStatus with a message
// containing wantMsg, and change nothing.
type hostileCase struct {
	name, method, path, contentType, body string
	api                                   bool
	wantStatus                            int
	wantMsg                               string
}

func hostileCases(leadID string) []hostileCase {
	const form = "application/x-www-form-urlencoded"
	const js = "application/json"
	long := func(n int) string { return strings.Repeat("x", n) }
	deep := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	huge := `{"name": "` + strings.Repeat("a", 2<<20) + `"}`
	lead := "/leads/" + leadID + "/"
	return []hostileCase{
		// Malformed and strange JSON.
		{"truncated JSON", "POST", "/leads/", js, `{"name": "x"`, true, 400, "malformed JSON"},
		{"trailing comma", "POST", "/leads/", js, `{"name": "x",}`, true, 400, "malformed JSON"},
		{"two objects", "POST", "/leads/", js, `{"name": "x"}{"name": "y"}`, true, 400, "unexpected data after the object"},
		{"deeply nested JSON", "POST", "/leads/", js, `{"name": "x", "notes": ` + deep + `}`, true, 400, "malformed JSON"},
		{"deeply nested value", "POST", "/leads/", js, `{"name": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, true, 400, "must be a string"},
		{"array body", "POST", "/leads/", js, `[{"name": "x"}]`, true, 400, "must be a JSON object"},
		{"string body", "POST", "/leads/", js, `"name"`, true, 400, "must be a JSON object"},
		{"null body", "POST", "/leads/", js, `null`, true, 400, "must be a JSON object"},
		{"empty body", "POST", "/leads/", js, ``, true, 400, "empty"},
		// Wrong content types and sizes.
		{"text/plain", "POST", "/leads/", "text/plain", `{"name": "x"}`, true, 415, "application/json"},
		{"no content type", "POST", "/leads/", "", `{"name": "x"}`, true, 415, "application/json"},
		{"a form to the API", "POST", "/leads/", form, `name=x`, true, 415, "application/json"},
		{"multipart to the API", "POST", "/leads/", "multipart/form-data; boundary=x", "--x\r\n\r\nname\r\n--x--", true, 415, "application/json"},
		{"body over 1 MiB", "POST", "/leads/", js, huge, true, 413, "larger than 1 MiB"},
		// Fields: lengths, NUL, types, numbers.
		{"name of 201 characters", "POST", "/leads/", js, `{"name": "` + long(201) + `"}`, true, 400, "at most 200"},
		{"notes of 10001 characters", "POST", "/leads/", js, `{"name": "x", "notes": "` + long(10001) + `"}`, true, 400, "at most 10000"},
		{"NUL in a name", "POST", "/leads/", js, `{"name": "a\u0000b"}`, true, 400, "NUL"},
		{"empty name", "POST", "/leads/", js, `{"name": "   "}`, true, 400, "must not be empty"},
		{"name is a number", "POST", "/leads/", js, `{"name": 5}`, true, 400, "must be a string"},
		{"negative value", "POST", "/leads/", js, `{"name": "x", "value": -1}`, true, 400, "must not be negative"},
		{"NaN value", "POST", "/leads/", js, `{"name": "x", "value": "NaN"}`, true, 400, "must be a number"},
		{"infinite value", "POST", "/leads/", js, `{"name": "x", "value": "Infinity"}`, true, 400, "must be a number"},
		{"value past float range", "POST", "/leads/", js, `{"name": "x", "value": 1e309}`, true, 400, "is too large"},
		{"value too large", "POST", "/leads/", js, `{"name": "x", "value": 1e15}`, true, 400, "is too large"},
		{"three decimals", "POST", "/leads/", js, `{"name": "x", "value": 1.234}`, true, 400, "at most two decimals"},
		{"value is a boolean", "POST", "/leads/", js, `{"name": "x", "value": true}`, true, 400, "must be a number"},
		{"unknown field", "POST", "/leads/", js, `{"name": "x", "is_admin": true}`, true, 400, "unknown field"},
		{"read-only id", "POST", "/leads/", js, `{"name": "x", "id": "00000000-0000-0000-0000-000000000001"}`, true, 400, "set by the server"},
		{"not an email", "POST", "/leads/", js, `{"name": "x", "email": "not-an-email"}`, true, 400, "must be an email address"},
		{"header injection in email", "POST", "/leads/", js, `{"name": "x", "email": "a@b.com\r\nBcc: c@d.com"}`, true, 400, "must be one line"},
		{"SQL in a stage", "POST", "/leads/", js, `{"name": "x", "status": "Interest'; DROP TABLE leads; --"}`, true, 400, "must be one of"},
		{"SQL in an update", "PATCH", lead, js, `{"status": "' OR 1=1 --"}`, true, 400, "must be one of"},
		{"card_order as a string", "PUT", lead + "status/", js, `{"status": "Interest", "card_order": "0"}`, true, 400, "must be an integer"},
		{"card_order with a fraction", "PUT", lead + "status/", js, `{"status": "Interest", "card_order": 1.5}`, true, 400, "must be an integer"},
		{"move without a stage", "PUT", lead + "status/", js, `{"card_order": 0}`, true, 400, "is required"},
		// Ids and query strings.
		{"invalid UUID", "GET", "/leads/not-a-uuid/", "", "", true, 404, "Lead not found"},
		{"SQL as an id", "DELETE", "/leads/" + url.PathEscape("1' OR '1'='1") + "/", "", "", true, 404, "Lead not found"},
		{"restore a lead not in the trash", "POST", lead + "restore/", "", "", true, 404, "not found in the trash"},
		{"negative limit", "GET", "/leads/?limit=-1", "", "", true, 400, "limit"},
		{"limit past the maximum", "GET", "/leads/?limit=1000000", "", "", true, 400, "limit"},
		{"forged cursor", "GET", "/leads/?status=Interest&cursor=" + url.QueryEscape("' OR 1=1"), "", "", true, 400, "cursor"},
		{"NUL in the search", "GET", "/leads/?q=%00", "", "", true, 400, "NUL"},
		{"search of 201 characters", "GET", "/leads/?q=" + long(201), "", "", true, 400, "at most 200"},
		{"empty chat message", "POST", "/chat/", js, `{"message": "  "}`, true, 400, "required"},
		{"overlong chat message", "POST", "/chat/", js, `{"message": "` + long(store.MaxChatMessageLen+1) + `"}`, true, 400, "at most"},
		{"NUL in a chat message", "POST", "/chat/", js, `{"message": "hi\u0000"}`, true, 400, "NUL"},
		{"chat message is an object", "POST", "/chat/", js, `{"message": {"text": "hi"}}`, true, 400, "must be a string"},
		// Forms of the board, the panel and the settings.
		{"form: empty name", "POST", "/board/leads", form, "name=", false, 422, "Enter a name"},
		{"form: name of 201 characters", "POST", "/board/leads", form, "name=" + long(201), false, 422, "at most 200"},
		{"form: negative value", "POST", "/board/leads", form, "name=x&value=-5", false, 422, "must not be negative"},
		{"form: NaN value", "POST", "/board/leads", form, "name=x&value=NaN", false, 422, "Enter an amount"},
		{"form: huge exponent", "POST", "/board/leads", form, "name=x&value=1e999", false, 422, "too large"},
		{"form: invalid UTF-8", "POST", "/board/leads", form, "name=%FF%FE", false, 422, "UTF-8"},
		{"form: NUL in a name", "POST", "/board/leads", form, "name=a%00b", false, 422, "NUL"},
		{"form: not an email", "POST", "/board/leads", form, "name=x&email=x", false, 422, "must be an email address"},
		{"form: SQL in a stage", "POST", "/board/leads", form, "name=x&status=" + url.QueryEscape("Interest'; DROP TABLE leads;--"), false, 422, "must be one of"},
		{"form: move to a bad position", "POST", "/board/leads/" + leadID + "/move", form, "status=Interest&order=abc", false, 422, "card position"},
		{"form: over 1 MiB", "POST", "/board/leads", form, "name=" + strings.Repeat("a", 2<<20), false, 413, "larger than 1 MiB"},
		{"form: unreadable", "POST", "/board/leads", form, "name=%zz", false, 400, "could not be read"},
		{"form: invalid UUID", "POST", "/board/leads/not-a-uuid", form, "name=x", false, 404, "no longer exists"},
		{"form: empty chat message", "POST", "/chat/panel/messages", form, "message=", false, 422, "Type a message"},
		{"form: token name of 101 characters", "POST", "/settings/tokens", form, "name=" + long(101), false, 422, "at most 100"},
		{"form: NUL in a token name", "POST", "/settings/tokens", form, "name=a%00b", false, 422, "NUL"},
		{"form: NUL in a sign-in email", "POST", "/signin", form, "email=a%00b%40example.com&password=whatever+it+is", false, 422, "not valid"},
	}
}

// TestHostileInput sends every hostile case and checks it is refused with the
// right status and a message, and changes nothing.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ann := e.user("ann@example.com", store.RoleMember)
	token := handlers.TokenForTest(t, e.st, ann, "hostile")
	browser := e.browser("ann@example.com")
	ctx := context.Background()
	l, err := e.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Target"), Status: ptrTo("Interest")})
	if err != nil {
		t.Fatal(err)
	}
	state := func() string {
		var s string
		if err := e.pool.QueryRow(ctx, `SELECT concat_ws('|',
			(SELECT md5(coalesce(string_agg(l::text, ',' ORDER BY l.id), '')) FROM leads l),
			(SELECT count(*) FROM trashed_leads), (SELECT count(*) FROM lead_events),
			(SELECT count(*) FROM api_tokens), (SELECT count(*) FROM chat_messages), (SELECT count(*) FROM users))`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	cases := hostileCases(l.ID.String())
	if len(cases) < 40 {
		t.Fatalf("hostile cases: got %d, want at least 40", len(cases))
	}
	for _, tc := range cases {
		var r response
		if tc.api {
			r = e.req(nil, tc.method, tc.path, tc.contentType, tc.body, "Authorization", "Bearer "+token)
		} else {
			r = e.req(browser, tc.method, tc.path, tc.contentType, tc.body)
		}
		msg := string(r.body)
		if tc.api {
			var body struct{ Error string }
			if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
				t.Errorf("%s: got body %.200q, want a JSON error", tc.name, r.body)
			}
			msg = body.Error + " " + string(r.body)
		}
		if r.status != tc.wantStatus || !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.wantMsg)) {
			t.Errorf("%s: got %d %.300s, want %d with a message containing %q", tc.name, r.status, r.body, tc.wantStatus, tc.wantMsg)
		}
		if now := state(); now != before {
			t.Errorf("%s: the data changed, want nothing changed", tc.name)
			before = now
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestScriptPayloadsShowEscaped stores script and HTML payloads in a lead and
// checks that the board, the lead's dialog, its history, the trash, the chat
// panel and the JSON all show them as text.
func TestScriptPayloadsShowEscaped(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.startWorker()
	ann := e.user("ann@example.com", store.RoleMember)
	token := handlers.TokenForTest(t, e.st, ann, "xss")
	browser := e.browser("ann@example.com")
	const name = `<script>alert("name")</script>`
	payload := map[string]string{
		"name":    name,
		"company": `<img src=x onerror=alert(1)>`,
		"source":  `javascript:alert(1)`,
		"phone":   `"><svg onload=alert(1)>`,
		"notes":   `</textarea><script>alert("notes")</script><a href="javascript:alert(1)">x</a>`,
	}
	body, _ := json.Marshal(payload)
	created := e.bearer(nil, token, "POST", "/leads/", string(body))
	wantStatus(t, "create the lead", created, http.StatusCreated)
	var lead store.Lead
	_ = json.Unmarshal(created.body, &lead)

	// JSON: the payloads come back as data, with <, > and & escaped.
	got := e.bearer(nil, token, "GET", "/leads/"+lead.ID.String()+"/", "")
	if strings.Contains(string(got.body), "<script>") || !strings.Contains(string(got.body), `\u003cscript\u003e`) {
		t.Errorf("JSON: got %s, want <script> escaped as \\u003cscript\\u003e", got.body)
	}
	var back store.Lead
	_ = json.Unmarshal(got.body, &back)
	if back.Name != name || back.Notes != payload["notes"] {
		t.Errorf("JSON round trip: got %q / %q, want the payloads as stored", back.Name, back.Notes)
	}

	wantInert := func(what string, r response) {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%s: got %d, want 200", what, r.status)
		}
		raw := string(r.body)
		for _, bad := range []string{`<script>alert`, `<img src=x`, `<svg onload`, `href="javascript:`} {
			if strings.Contains(raw, bad) {
				t.Errorf("%s: got the raw payload %q in the HTML, want it escaped", what, bad)
			}
		}
		doc := r.doc(t)
		doc.Find("script").Each(func(_ int, s *goquery.Selection) {
			if _, ok := s.Attr("src"); !ok {
				t.Errorf("%s: got an inline <script> %q, want none", what, s.Text())
			}
		})
		doc.Find("*").Each(func(_ int, s *goquery.Selection) {
			for _, a := range s.Nodes[0].Attr {
				link := a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "formaction" || strings.HasPrefix(a.Key, "hx-")
				if strings.HasPrefix(a.Key, "on") || (link && strings.HasPrefix(strings.TrimSpace(strings.ToLower(a.Val)), "javascript:")) {
					t.Errorf("%s: got <%s %s=%q>, want no handler or javascript: link", what, goquery.NodeName(s), a.Key, a.Val)
				}
			}
		})
		if !strings.Contains(doc.Text(), name) {
			t.Errorf("%s: got no %q in the text, want the name shown as text", what, name)
		}
	}
	wantInert("board", e.get(browser, "/"))
	detail := e.get(browser, "/board/leads/"+lead.ID.String())
	wantInert("lead dialog", detail)
	if n := detail.doc(t).Find("#lead-history [data-action=create]").Length(); n != 1 {
		t.Errorf("lead dialog history: got %d create events, want 1", n)
	}

	// The assistant's panel: the person's message and the assistant's reply.
	e.chat(browser, "show "+name)
	reply := e.chat(browser, "list leads in Interest")
	if text, _ := reply["result"].(map[string]any)["ai_message"].(string); !strings.Contains(text, name) {
		t.Errorf("assistant's reply: got %q, want it to name the lead (as text)", text)
	}
	wantInert("chat panel", e.get(browser, "/chat/panel", "HX-Request", "true"))

	// The trash and the deleted lead's page with its history.
	wantStatus(t, "delete", e.bearer(nil, token, "DELETE", "/leads/"+lead.ID.String()+"/", ""), http.StatusNoContent)
	wantInert("trash", e.get(browser, "/trash"))
	wantInert("trashed lead", e.get(browser, "/trash/"+lead.ID.String()))
}
