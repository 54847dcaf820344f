package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// stageServer serves the real stack to an API client with a token of an
// account of role.
func stageServer(t *testing.T, role string) (*httptest.Server, *store.Store) {
	t.Helper()
	st, _ := storetest.NewStore(t)
	srv := &handlers.Server{
		Store:    st,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: handlers.Security{Limits: handlers.Limits{APIPerToken: handlers.Rate{N: -1}}},
	}
	u := handlers.UserForTest(t, st, role+"@example.com", role)
	ts := httptest.NewServer(handlers.WithBearer(srv.Routes(), handlers.TokenForTest(t, st, u, "stage tests")))
	t.Cleanup(ts.Close)
	return ts, st
}

// stageList is GET /stages/.
func stageList(t *testing.T, ts *httptest.Server) []store.Stage {
	t.Helper()
	r := doJSON(t, ts, "GET", "/stages/", "")
	if r.status != http.StatusOK {
		t.Fatalf("GET /stages/: got %d %s, want 200", r.status, r.body)
	}
	var out []store.Stage
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func stageNamed(t *testing.T, stages []store.Stage, name string) store.Stage {
	t.Helper()
	for _, st := range stages {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no stage %q in %v", name, stages)
	return store.Stage{}
}

func stageNames(stages []store.Stage) []string {
	out := make([]string, len(stages))
	for i, st := range stages {
		out[i] = st.Name
	}
	return out
}

// boardKeys are the keys of GET /leads/ in the order the JSON has them.
func boardKeys(t *testing.T, ts *httptest.Server) []string {
	t.Helper()
	r := doJSON(t, ts, "GET", "/leads/", "")
	dec := json.NewDecoder(bytes.NewReader(r.body))
	var keys []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				keys = append(keys, v)
				// Skip the column's value.
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return keys
}

func TestStageAPI(t *testing.T) {
	t.Parallel()
	ts, _ := stageServer(t, store.RoleAdmin)

	stages := stageList(t, ts)
	if got, want := stageNames(stages), []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}; !slices.Equal(got, want) {
		t.Fatalf("stages: got %v, want %v", got, want)
	}
	if st := stageNamed(t, stages, "Proposal sent"); st.Probability != 50 || st.RotDays == nil || *st.RotDays != 14 || st.Kind != store.StageOpen {
		t.Errorf("Proposal sent: got %+v, want open, 50%%, rotting after 14 days", st)
	}
	jane := createLead(t, ts, `{"name": "Jane Doe", "status": "Interest"}`)
	bob := createLead(t, ts, `{"name": "Bob Roe", "status": "Negotiation"}`)
	ned := createLead(t, ts, `{"name": "Ned Poe", "status": "Negotiation"}`)
	gone := createLead(t, ts, `{"name": "Gone Doe", "status": "Negotiation"}`)
	if r := doJSON(t, ts, "DELETE", "/leads/"+gone["id"].(string)+"/", ""); r.status != http.StatusOK && r.status != http.StatusNoContent {
		t.Fatalf("delete: got %d %s", r.status, r.body)
	}

	// Add: an open stage goes before the first outcome.
	r := doJSON(t, ts, "POST", "/stages/", `{"name": " Qualified ", "probability": 30, "rot_days": 10}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: got %d %s, want 201", r.status, r.body)
	}
	q := r.json(t)
	if q["name"] != "Qualified" || q["kind"] != "open" || q["position"] != 4.0 || q["probability"] != 30.0 || q["rot_days"] != 10.0 {
		t.Errorf("created: got %v, want Qualified, open, position 4, 30%%, 10 days", q)
	}
	qid := strconv.Itoa(int(q["id"].(float64)))

	// Rename: the leads follow, their history keeps the name they had.
	interest := stageNamed(t, stages, "Interest")
	r = doJSON(t, ts, "PATCH", "/stages/"+strconv.Itoa(interest.ID)+"/", `{"name": "New lead", "rot_days": null}`)
	if r.status != http.StatusOK || r.json(t)["name"] != "New lead" || r.json(t)["rot_days"] != nil {
		t.Fatalf("rename: got %d %s, want 200 New lead never rotting", r.status, r.body)
	}
	if got := doJSON(t, ts, "GET", "/leads/"+jane["id"].(string)+"/", "").json(t)["status"]; got != "New lead" {
		t.Errorf("Jane after the rename: got status %v, want New lead", got)
	}

	// Reorder: Qualified first. GET /leads/ follows the configured order.
	r = doJSON(t, ts, "PATCH", "/stages/"+qid+"/", `{"position": 0}`)
	if r.status != http.StatusOK || r.json(t)["position"] != 0.0 {
		t.Fatalf("reorder: got %d %s, want 200 at position 0", r.status, r.body)
	}
	want := []string{"Qualified", "New lead", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}
	if got := stageNames(stageList(t, ts)); !slices.Equal(got, want) {
		t.Errorf("stages after the reorder: got %v, want %v", got, want)
	}
	if got := boardKeys(t, ts); !slices.Equal(got, want) {
		t.Errorf("GET /leads/ keys: got %v, want %v", got, want)
	}

	// Delete Negotiation, its leads to the end of New lead in their order; its
	// trashed lead is restored there.
	neg := stageNamed(t, stages, "Negotiation")
	r = doJSON(t, ts, "DELETE", fmt.Sprintf("/stages/%d/?move_to=%d", neg.ID, interest.ID), "")
	if r.status != http.StatusOK || r.json(t)["moved_leads"] != 2.0 {
		t.Fatalf("delete: got %d %s, want 200 with 2 leads moved", r.status, r.body)
	}
	for i, l := range []map[string]any{jane, bob, ned} {
		got := doJSON(t, ts, "GET", "/leads/"+l["id"].(string)+"/", "").json(t)
		if got["status"] != "New lead" || got["card_order"] != float64(i) {
			t.Errorf("%s after the delete: got %v at %v, want New lead at %d", l["name"], got["status"], got["card_order"], i)
		}
	}
	r = doJSON(t, ts, "POST", "/leads/"+gone["id"].(string)+"/restore/", "")
	if r.status != http.StatusOK || r.json(t)["status"] != "New lead" {
		t.Errorf("restore of a lead trashed from the deleted stage: got %d %s, want it in New lead", r.status, r.body)
	}
	if slices.Contains(stageNames(stageList(t, ts)), "Negotiation") {
		t.Error("Negotiation is still a stage after its delete")
	}
}

func TestStageAPIBadInput(t *testing.T) {
	t.Parallel()
	ts, st := stageServer(t, store.RoleAdmin)
	createLead(t, ts, `{"name": "Jane Doe", "status": "Closed lost"}`)
	stages := stageList(t, ts)
	interest, won, lost := stageNamed(t, stages, "Interest"), stageNamed(t, stages, "Closed won"), stageNamed(t, stages, "Closed lost")
	id := func(st store.Stage) string { return strconv.Itoa(st.ID) }

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"duplicate name", "POST", "/stages/", `{"name": "Interest"}`, 409, "name"},
		{"duplicate name in another case", "POST", "/stages/", `{"name": "  closed WON "}`, 409, "name"},
		{"rename onto another", "PATCH", "/stages/" + id(interest) + "/", `{"name": "negotiation"}`, 409, "name"},
		{"no name", "POST", "/stages/", `{"kind": "open"}`, 400, "name"},
		{"empty name", "POST", "/stages/", `{"name": "   "}`, 400, "name"},
		{"name too long", "POST", "/stages/", `{"name": "` + strings.Repeat("x", 61) + `"}`, 400, "name"},
		{"name not text", "POST", "/stages/", `{"name": 5}`, 400, "name"},
		{"kind invalid", "POST", "/stages/", `{"name": "Maybe", "kind": "pending"}`, 400, "kind"},
		{"probability above 100", "POST", "/stages/", `{"name": "Maybe", "probability": 101}`, 400, "probability"},
		{"probability negative", "PATCH", "/stages/" + id(interest) + "/", `{"probability": -1}`, 400, "probability"},
		{"probability not a number", "PATCH", "/stages/" + id(interest) + "/", `{"probability": "high"}`, 400, "probability"},
		{"rot_days zero", "PATCH", "/stages/" + id(interest) + "/", `{"rot_days": 0}`, 400, "rot_days"},
		{"position negative", "PATCH", "/stages/" + id(interest) + "/", `{"position": -2}`, 400, "position"},
		{"unknown field", "PATCH", "/stages/" + id(interest) + "/", `{"colour": "red"}`, 400, "colour"},
		{"id written", "PATCH", "/stages/" + id(interest) + "/", `{"id": 9}`, 400, "id"},
		{"last won stage made open", "PATCH", "/stages/" + id(won) + "/", `{"kind": "open"}`, 409, "kind"},
		{"delete without move_to", "DELETE", "/stages/" + id(interest) + "/", "", 400, "move_to"},
		{"move_to not a number", "DELETE", "/stages/" + id(interest) + "/?move_to=first", "", 400, "move_to"},
		{"move_to itself", "DELETE", "/stages/" + id(interest) + "/?move_to=" + id(interest), "", 400, "move_to"},
		{"move_to unknown", "DELETE", "/stages/" + id(interest) + "/?move_to=999", "", 400, "move_to"},
		{"delete the last lost stage", "DELETE", "/stages/" + id(lost) + "/?move_to=" + id(interest), "", 409, "id"},
		{"unknown stage", "PATCH", "/stages/999/", `{"name": "X"}`, 404, ""},
		{"stage id not a number", "DELETE", "/stages/abc/?move_to=1", "", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := boardState(t, ts)
			stagesBefore := string(doJSON(t, ts, "GET", "/stages/", "").body)
			r := doJSON(t, ts, tc.method, tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
			body := r.json(t)
			if body["error"] == nil || body["error"] == "" {
				t.Errorf("body %s: want an error message", r.body)
			}
			if tc.field != "" {
				fields, _ := body["fields"].(map[string]any)
				if fields[tc.field] == nil {
					t.Errorf("fields %v: want one about %s", body["fields"], tc.field)
				}
			}
			if after := boardState(t, ts); after != before {
				t.Errorf("the board changed: got %s, want %s", after, before)
			}
			if after := string(doJSON(t, ts, "GET", "/stages/", "").body); after != stagesBefore {
				t.Errorf("the stages changed: got %v, want %v", after, stagesBefore)
			}
		})
	}

	// The last open stage cannot go either.
	ctx := context.Background()
	for _, s := range stageList(t, ts)[1:] {
		if s.Kind == store.StageOpen {
			if _, _, err := st.DeleteStage(ctx, s.ID, interest.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := doJSON(t, ts, "DELETE", "/stages/"+id(interest)+"/?move_to="+id(won), "")
	if r.status != http.StatusConflict || !strings.Contains(string(r.body), "open") {
		t.Errorf("deleting the last open stage: got %d %s, want 409 naming open", r.status, r.body)
	}
}

func TestStageAPIMembersOnlyRead(t *testing.T) {
	t.Parallel()
	ts, _ := stageServer(t, store.RoleMember)
	stages := stageList(t, ts)
	if len(stages) != 6 {
		t.Fatalf("a member's GET /stages/: got %d stages, want 6", len(stages))
	}
	id := strconv.Itoa(stages[0].ID)
	for _, req := range [][3]string{
		{"POST", "/stages/", `{"name": "Mine"}`},
		{"PATCH", "/stages/" + id + "/", `{"name": "Mine"}`},
		{"DELETE", "/stages/" + id + "/?move_to=" + strconv.Itoa(stages[1].ID), ""},
	} {
		if r := doJSON(t, ts, req[0], req[1], req[2]); r.status != http.StatusForbidden || r.json(t)["error"] == nil {
			t.Errorf("%s %s as a member: got %d %s, want 403 with a JSON error", req[0], req[1], r.status, r.body)
		}
	}
	if got := stageNames(stageList(t, ts)); !slices.Equal(got, stageNames(stages)) {
		t.Errorf("stages after a member's tries: got %v, want unchanged", got)
	}
}

// TestStageEventsReachTheStream: every stage change is an event on the live
// stream, in the shape of lead events, with the pipeline after it.
func TestStageEventsReachTheStream(t *testing.T) {
	t.Parallel()
	e := newEventEnv(t, true)
	s := openStream(t, e.ts.URL)
	admin := handlers.UserForTest(t, e.st, "root@example.com", store.RoleAdmin)
	ctx := store.WithActor(context.Background(), store.UserActor(admin))

	created, err := e.st.CreateStage(ctx, store.StageInput{Name: ptr("Qualified")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpdateStage(ctx, created.ID, store.StageInput{Name: ptr("Vetted")}); err != nil {
		t.Fatal(err)
	}
	stages, err := e.st.Stages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{created.ID}
	for _, st := range stages {
		if st.ID != created.ID {
			ids = append(ids, st.ID)
		}
	}
	if _, err := e.st.ReorderStages(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.st.DeleteStage(ctx, created.ID, stages[0].ID); err != nil {
		t.Fatal(err)
	}

	for _, want := range []struct {
		typ, stage string
		n          int
	}{
		{store.StageCreated, "Qualified", 7}, {store.StageUpdated, "Vetted", 7},
		{store.StageReordered, "", 7}, {store.StageDeleted, "Vetted", 6},
	} {
		ev := s.next(t).decode(t)
		got := ""
		if ev.Stage != nil {
			got = ev.Stage.Name
		}
		if ev.Type != want.typ || got != want.stage || len(ev.Stages) != want.n {
			t.Errorf("got %s of %q with %d stages, want %s of %q with %d", ev.Type, got, len(ev.Stages), want.typ, want.stage, want.n)
		}
		if ev.Actor.Kind != store.ActorUser || ev.Actor.Name != admin.Name || ev.At.IsZero() || ev.ID == 0 {
			t.Errorf("event envelope: got id %d at %v by %+v, want an id, a time and the admin", ev.ID, ev.At, ev.Actor)
		}
		if want.typ == store.StageReordered && ev.Stages[0].Name != "Vetted" {
			t.Errorf("reordered: first stage %q, want Vetted", ev.Stages[0].Name)
		}
	}
}

func ptr[T any](v T) *T { return &v }
