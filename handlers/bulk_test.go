package handlers_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// apiServerPool is apiServer with the pool of its database, for tests that
// set up what the API cannot.
func apiServerPool(t *testing.T) (*httptest.Server, *pgxpool.Pool) {
	t.Helper()
	st, pool := storetest.NewStore(t)
	srv := &handlers.Server{
		Store:    st,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: handlers.Security{Limits: handlers.Limits{APIPerToken: handlers.Rate{N: -1}}},
	}
	u := handlers.UserForTest(t, st, "bulk@example.com", store.RoleMember)
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "bulk tests")))
	t.Cleanup(ts.Close)
	return ts, pool
}

// leadHistoryText is the lead's history, one "action field: old → new" per
// change, newest first.
func leadHistoryText(t *testing.T, st *store.Store, id string) string {
	t.Helper()
	evs, err := st.LeadHistory(context.Background(), uuid.MustParse(id), 50)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, ev := range evs {
		for _, c := range ev.Changes {
			fmt.Fprintf(&b, "%s by %s %s: %s → %s\n", ev.Action, ev.ActorName, c.Field, c.Old, c.New)
		}
		if len(ev.Changes) == 0 {
			fmt.Fprintf(&b, "%s by %s\n", ev.Action, ev.ActorName)
		}
	}
	return b.String()
}

func TestBulkActions(t *testing.T) {
	ts, st := apiServer(t)
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"Ann", "Bob", "Cleo", "Dan"} {
		ids = append(ids, createLead(t, ts, `{"name":"`+n+`"}`)["id"].(string))
	}
	names := func(stage string) string {
		t.Helper()
		b, err := st.ListBoard(ctx, store.BoardQuery{Status: stage})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range b.Columns[0].Leads {
			out = append(out, l.Name)
		}
		return strings.Join(out, ",")
	}

	// Move Bob and Dan: one operation, then one undo puts them back in place.
	res := doJSON(t, ts, http.MethodPost, "/leads/bulk/", fmt.Sprintf(`{"ids":[%q,%q],"action":"move","status":"negotiation"}`, ids[1], ids[3]))
	if res.status != http.StatusOK {
		t.Fatalf("move: %d %s", res.status, res.body)
	}
	if got, want := names("Negotiation"), "Bob,Dan"; got != want {
		t.Errorf("Negotiation after the move: got %q, want %q", got, want)
	}
	undo := res.json(t)["undo"].(string)
	res = doJSON(t, ts, http.MethodPost, undo, "")
	if res.status != http.StatusOK || res.json(t)["restored"] != 2.0 {
		t.Fatalf("undo: %d %s", res.status, res.body)
	}
	if got, want := names("Interest"), "Ann,Bob,Cleo,Dan"; got != want {
		t.Errorf("Interest after the undo: got %q, want %q", got, want)
	}
	// A second undo is a conflict with the action's state, as for an import:
	// 409 and the API's error shape, no fields.
	if res = doJSON(t, ts, http.MethodPost, undo, ""); res.status != http.StatusConflict || string(res.body) != `{"error":"this bulk action was undone already"}`+"\n" {
		t.Errorf("second undo: got %d %q, want 409 {\"error\":\"this bulk action was undone already\"}", res.status, res.body)
	}

	// Delete to the trash; a lead restored meanwhile is kept, the others come back.
	res = doJSON(t, ts, http.MethodPost, "/leads/bulk/", fmt.Sprintf(`{"ids":[%q,%q,%q],"action":"delete"}`, ids[0], ids[1], ids[2]))
	if res.status != http.StatusOK || names("Interest") != "Dan" {
		t.Fatalf("delete: %d %s; board %q", res.status, res.body, names("Interest"))
	}
	undo = res.json(t)["undo"].(string)
	id1 := uuid.MustParse(ids[1])
	if _, err := st.RestoreLead(ctx, id1); err != nil {
		t.Fatal(err)
	}
	res = doJSON(t, ts, http.MethodPost, undo, "")
	rep := res.json(t)
	if res.status != http.StatusOK || rep["restored"] != 2.0 || len(rep["kept"].([]any)) != 1 || !strings.Contains(rep["message"].(string), "changed by someone since") {
		t.Errorf("undo of the delete: %d %s", res.status, res.body)
	}
	if got, want := names("Interest"), "Ann,Cleo,Dan,Bob"; got != want {
		t.Errorf("Interest after undoing the delete: got %q, want %q", got, want)
	}

	// Assign by email, undo gives the leads back to nobody.
	handlers.UserForTest(t, st, "bea@example.com", store.RoleMember)
	res = doJSON(t, ts, http.MethodPost, "/leads/bulk/", fmt.Sprintf(`{"ids":[%q],"action":"assign","owner":"bea@example.com"}`, ids[0]))
	if res.status != http.StatusOK {
		t.Fatalf("assign: %d %s", res.status, res.body)
	}
	hist := leadHistoryText(t, st, ids[0])
	if !strings.Contains(hist, "owner: api@example.com → bea@example.com") {
		t.Errorf("history after assign: %s", hist)
	}

	// All or nothing: a stale version fails the whole action with 412 naming it.
	lead := doJSON(t, ts, http.MethodGet, "/leads/"+ids[2], "").json(t)
	body := fmt.Sprintf(`{"ids":[%q,%q],"action":"move","status":"Closed won","versions":{%q:%d,%q:1}}`,
		ids[2], ids[3], ids[2], int64(lead["version"].(float64)), ids[3])
	res = doJSON(t, ts, http.MethodPost, "/leads/bulk/", body)
	if res.status != http.StatusPreconditionFailed || !strings.Contains(string(res.body), ids[3]) || strings.Contains(string(res.body), ids[2]) {
		t.Errorf("stale: %d %s", res.status, res.body)
	}
	if names("Closed won") != "" {
		t.Errorf("a refused bulk move moved %q", names("Closed won"))
	}

	// Bad input: a clear 4xx and nothing changes.
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"ids":[],"action":"delete"}`, 400, "at least one"},
		{fmt.Sprintf(`{"ids":[%q],"action":"paint"}`, ids[0]), 400, "move, assign or delete"},
		{fmt.Sprintf(`{"ids":[%q],"action":"move","status":"Nowhere"}`, ids[0]), 400, "must be one of"},
		{fmt.Sprintf(`{"ids":[%q,%q],"action":"delete"}`, ids[0], "8f9a3c61-0000-4000-8000-000000000000"), 404, "8f9a3c61-0000-4000-8000-000000000000 not found"},
		{`{"ids":["nope"],"action":"delete"}`, 400, "not one"},
		{fmt.Sprintf(`{"ids":[%q],"action":"assign","owner":"nobody@example.com"}`, ids[0]), 400, "active user"},
		{fmt.Sprintf(`{"ids":[%q],"action":"delete","colour":"red"}`, ids[0]), 400, "unknown field"},
	} {
		res := doJSON(t, ts, http.MethodPost, "/leads/bulk/", tc.body)
		if res.status != tc.code || !strings.Contains(string(res.body), tc.want) {
			t.Errorf("%s: got %d %s, want %d with %q", tc.body, res.status, res.body, tc.code, tc.want)
		}
	}
	if got, want := names("Interest"), "Ann,Cleo,Dan,Bob"; got != want {
		t.Errorf("Interest after refused actions: got %q, want %q", got, want)
	}
}

func TestBulkMoveIntoLostNeedsReason(t *testing.T) {
	ts, pool := apiServerPool(t)
	id := createLead(t, ts, `{"name":"Ann"}`)["id"].(string)
	if _, err := pool.Exec(context.Background(), "UPDATE pipeline_settings SET lost_reason_required = true"); err != nil {
		t.Fatal(err)
	}
	res := doJSON(t, ts, http.MethodPost, "/leads/bulk/", fmt.Sprintf(`{"ids":[%q],"action":"move","status":"Closed lost"}`, id))
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "lost_reason") {
		t.Fatalf("without a reason: %d %s", res.status, res.body)
	}
	res = doJSON(t, ts, http.MethodPost, "/leads/bulk/", fmt.Sprintf(`{"ids":[%q],"action":"move","status":"Closed lost","lost_reason":"Price"}`, id))
	if res.status != http.StatusOK {
		t.Fatalf("with a reason: %d %s", res.status, res.body)
	}
	var reason, status string
	if err := pool.QueryRow(context.Background(), "SELECT lost_reason, status FROM leads WHERE id = $1", id).Scan(&reason, &status); err != nil {
		t.Fatal(err)
	}
	if reason != "Price" || status != "Closed lost" {
		t.Errorf("got %q in %q, want Price in Closed lost", reason, status)
	}
}
