package assistant_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
)

// TestTurnDoesNotOverwriteLaterChange: the model reads Jane Doe and plans a new
// value; while it writes its answer, Ann changes the value. The turn's commit
// must not write its plan over Ann's change: nothing is changed, and the reply
// says who changed the lead and what it is now.
func TestTurnDoesNotOverwriteLaterChange(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	ann, err := p.st.CreateUser(context.Background(), store.NewUser{Email: "ann@example.com", Name: "Ann Lee", Password: "correct horse battery staple", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	asAnn := store.WithActor(context.Background(), store.UserActor(ann))
	var janeID string
	f := newFakeLLM(t,
		toolCalls(call{"search_leads", `{"query": "jane doe"}`}),
		dynamic(func(req llmRequest) []call {
			janeID = leadIDFrom(t, req, "Jane Doe")
			return []call{{"update_lead_data", fmt.Sprintf(`{"lead": %q, "changes": {"value": "5000"}}`, janeID)}}
		}),
		func(w http.ResponseWriter, r *http.Request, req llmRequest) {
			// The tool has read Jane Doe and planned the change; Ann saves hers now.
			jane := leadNamed(t, p.st, "Jane Doe")
			v := store.Money(99_000_00)
			if _, err := p.st.UpdateLead(asAnn, jane.ID, store.LeadInput{Value: &v}); err != nil {
				t.Errorf("Ann's change: %v", err)
			}
			answer("Set Jane Doe's value to $5,000.")(w, r, req)
		},
	)
	h := p.harness(t, f.llm())
	reply := h.say("set Jane Doe's value to 5000")
	if reply.State != store.StateFailure {
		t.Errorf("state: got %s (%q), want FAILURE: the plan is older than Ann's change", reply.State, reply.Content)
	}
	contains(t, "reply", reply.Content, "Nothing was changed", "Ann Lee changed Jane Doe", "$99,000")
	if got := leadNamed(t, p.st, "Jane Doe"); got.Value != 99_000_00 {
		t.Errorf("Jane Doe's value: got %v, want Ann's 99000 kept", got.Value)
	}

	// Without a change in between, the same turn writes.
	f2 := newFakeLLM(t,
		toolCalls(call{"update_lead_data", fmt.Sprintf(`{"lead": %q, "changes": {"value": "5000"}}`, janeID)}),
		answer("Set."),
	)
	if reply := p.harness(t, f2.llm()).say("set Jane Doe's value to 5000"); reply.State != store.StateSuccess {
		t.Errorf("state: got %s (%q), want SUCCESS", reply.State, reply.Content)
	}
	if got := leadNamed(t, p.st, "Jane Doe"); got.Value != 5_000_00 {
		t.Errorf("Jane Doe's value: got %v, want 5000", got.Value)
	}
}

// leadNamed returns the lead called name.
func leadNamed(t *testing.T, st *store.Store, name string) store.Lead {
	t.Helper()
	matches, err := st.MatchLeads(context.Background(), name, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		if strings.EqualFold(m.Lead.Name, name) {
			return m.Lead
		}
	}
	t.Fatalf("no lead named %s", name)
	return store.Lead{}
}
