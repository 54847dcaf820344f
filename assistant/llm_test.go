package assistant_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
)

// The LLM path, against a fake OpenAI-compatible server: what the model asks
// for, what reaches the database, and what the person reads.

func TestLLMSearchThenUpdate(t *testing.T) {
	t.Parallel()
	var janeID string
	f := newFakeLLM(t,
		toolCalls(call{"search_leads", `{"query": "jane doe"}`}),
		dynamic(func(req llmRequest) []call {
			janeID = leadIDFrom(t, req, "Jane Doe")
			return []call{{"update_lead_status", fmt.Sprintf(`{"lead": %q, "status": "meeting"}`, janeID)}}
		}),
		answer("Moved Jane Doe (Example Corp) from Interest to Meeting booked."),
	)
	h := newHarness(t, f.llm())
	before := snapshot(t, h.st)
	reply := h.say("Jane Doe had a great call, book her in for a meeting")
	if reply.State != store.StateSuccess {
		t.Fatalf("state: got %s (%s), want SUCCESS", reply.State, reply.Error)
	}
	expect(t, h.st, before, moved("Jane Doe", "Meeting booked"))
	if reply.Content != "Moved Jane Doe (Example Corp) from Interest to Meeting booked." {
		t.Errorf("reply: got %q, want the model's answer", reply.Content)
	}
	if len(reply.Operations) != 1 || reply.Operations[0].Action != "update_lead_status" || reply.Operations[0].LeadID.String() != janeID {
		t.Errorf("operations: got %s, want one update_lead_status of Jane Doe", describeOps(reply.Operations))
	}
	if reply.PromptTokens != 300 || reply.CompletionTokens != 30 {
		t.Errorf("tokens: got %d prompt + %d completion, want 300 + 30 (three calls)", reply.PromptTokens, reply.CompletionTokens)
	}
	reqs := f.requestsSeen()
	if len(reqs) != 3 {
		t.Fatalf("requests: got %d, want 3", len(reqs))
	}
	first := reqs[0]
	if first.Model != "fake-model" {
		t.Errorf("model: got %q, want fake-model", first.Model)
	}
	for _, name := range []string{"search_leads", "update_lead_status", "update_lead_data", "create_lead", "delete_lead"} {
		if !hasTool(first.Tools, name) {
			t.Errorf("tools of the request: %s missing", name)
		}
	}
	if got := joinRoles(first.Messages); got != "system,user" {
		t.Errorf("roles of the first request: got %s, want system,user", got)
	}
	if got := joinRoles(reqs[2].Messages); got != "system,user,assistant,tool,assistant,tool" {
		t.Errorf("roles of the third request: got %s, want system,user,assistant,tool,assistant,tool", got)
	}
	// The model finds leads through the tools; no lead is in the prompt.
	for _, leak := range []string{"jane@example.com", "Bob Martin", "Kenji"} {
		if strings.Contains(string(first.Raw), leak) {
			t.Errorf("first request contains %q, want no lead data in the prompt", leak)
		}
	}
}

func TestLLMParallelToolCalls(t *testing.T) {
	t.Parallel()
	f := newFakeLLM(t,
		toolCalls(
			call{"update_lead_status", `{"lead": "Jane Doe", "status": "closed win"}`},
			call{"update_lead_status", `{"lead": "bob.martin@acme.test", "status": "lost"}`},
			call{"update_lead_data", `{"lead": "Priya Raman", "changes": {"value": "55k", "phone": "+44 20 0000 0000"}}`},
			call{"create_lead", `{"name": "Nina Kraus", "company": "Kraus AG", "value": 12000, "status": "proposal"}`},
		),
		answer("Done: four changes."),
	)
	h := newHarness(t, f.llm())
	before := snapshot(t, h.st)
	reply := h.say("close Jane as won, Bob lost, Priya is 55k now with phone +44 20 0000 0000, and add Nina Kraus")
	expect(t, h.st, before,
		moved("Jane Doe", "Closed won"),
		moved("Bob Martin", "Closed lost"),
		set("Priya Raman", func(l *leadState) { l.Value = "55000.00"; l.Phone = "+44 20 0000 0000" }),
		created("Nina Kraus", leadState{Company: "Kraus AG", Value: "12000.00", Status: "Proposal sent"}),
	)
	if len(reply.Operations) != 4 {
		t.Errorf("operations: got %s, want 4", describeOps(reply.Operations))
	}
	if !reply.LeadsChanged {
		t.Errorf("leads_changed: got false, want true")
	}
}

func TestLLMCreateThenMoveInOneTurn(t *testing.T) {
	t.Parallel()
	f := newFakeLLM(t,
		toolCalls(call{"create_lead", `{"name": "Ola Nordmann", "email": "ola@nordmann.test"}`}),
		toolCalls(call{"update_lead_status", `{"lead": "Ola Nordmann", "status": "negotiation"}`}),
		answer("Added Ola Nordmann and moved him to Negotiation."),
	)
	h := newHarness(t, f.llm())
	before := snapshot(t, h.st)
	h.say("add Ola Nordmann (ola@nordmann.test) and put him straight into negotiation")
	expect(t, h.st, before, created("Ola Nordmann", leadState{Email: "ola@nordmann.test", Status: "Negotiation"}))
}

func TestLLMRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		steps   []step
		state   string
		changes []change
		// reply is in the reply (SUCCESS) or its error (FAILURE).
		reply    string
		requests int
	}{
		{
			name: "429 then success",
			steps: []step{fail(http.StatusTooManyRequests, 0),
				toolCalls(call{"update_lead_status", `{"lead": "Kenji Watanabe", "status": "negotiation"}`}),
				answer("Moved Kenji.")},
			state: store.StateSuccess, changes: []change{moved("Kenji Watanabe", "Negotiation")}, reply: "Moved Kenji.", requests: 3,
		},
		{
			name: "429 with Retry-After twice, then success",
			steps: []step{fail(http.StatusTooManyRequests, 1), fail(http.StatusTooManyRequests, 1),
				toolCalls(call{"create_lead", `{"name": "Rita Moreno"}`}), answer("Added Rita.")},
			state: store.StateSuccess, changes: []change{created("Rita Moreno", leadState{})}, reply: "Added Rita.", requests: 4,
		},
		{
			name:  "500s until the retries run out",
			steps: repeat(4, fail(http.StatusInternalServerError, -1)),
			state: store.StateFailure, reply: "HTTP 500", requests: 4,
		},
		{
			name: "500s after a planned change: nothing is half-done",
			steps: append([]step{toolCalls(call{"update_lead_status", `{"lead": "Kenji Watanabe", "status": "negotiation"}`})},
				repeat(4, fail(http.StatusBadGateway, -1))...),
			state: store.StateFailure, reply: "Nothing was changed", requests: 5,
		},
		{
			name:  "rate limit that does not end",
			steps: repeat(4, fail(http.StatusTooManyRequests, 0)),
			state: store.StateFailure, reply: "rate-limiting", requests: 4,
		},
		{
			name: "503 then success",
			steps: []step{fail(http.StatusServiceUnavailable, 0),
				toolCalls(call{"update_lead_data", `{"lead": "Grace Kim", "changes": {"source": "Event"}}`}), answer("Updated.")},
			state: store.StateSuccess, changes: []change{set("Grace Kim", func(l *leadState) { l.Source = "Event" })}, reply: "Updated.", requests: 3,
		},
		{
			name: "a timeout, then success",
			steps: []step{hang(),
				toolCalls(call{"update_lead_status", `{"lead": "Sofia Rossi", "status": "lost"}`}), answer("Sofia is lost.")},
			state: store.StateSuccess, changes: []change{moved("Sofia Rossi", "Closed lost")}, reply: "Sofia is lost.", requests: 3,
		},
		{
			name: "timeouts until the retries run out, after a planned change",
			steps: append([]step{toolCalls(call{"update_lead_status", `{"lead": "Sofia Rossi", "status": "lost"}`})},
				repeat(4, hang())...),
			state: store.StateFailure, reply: "did not answer in time", requests: 5,
		},
		{
			name:  "401 is not retried",
			steps: []step{fail(http.StatusUnauthorized, -1)},
			state: store.StateFailure, reply: "OPENAI_API_KEY", requests: 1,
		},
		{
			name:  "400 is not retried",
			steps: []step{fail(http.StatusBadRequest, -1)},
			state: store.StateFailure, reply: "rejected the request", requests: 1,
		},
		{
			name:  "an answer that is not a completion",
			steps: []step{garbage()},
			state: store.StateFailure, reply: "could not read", requests: 1,
		},
	}
	p := newPipeline(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.reset(t)
			f := newFakeLLM(t, tt.steps...)
			h := p.harness(t, f.llm())
			before := snapshot(t, h.st)
			reply := h.say("please set Grace Kim's source to Event, mark Sofia Rossi lost, move Kenji Watanabe to negotiation")
			if reply.State != tt.state {
				t.Errorf("state: got %s (%q), want %s", reply.State, reply.Error, tt.state)
			}
			expect(t, h.st, before, tt.changes...)
			got := reply.Content
			if tt.state == store.StateFailure {
				got = reply.Error
				if reply.LeadsChanged || len(reply.Operations) != 0 {
					t.Errorf("failed reply: got leads_changed %v and operations %s, want none", reply.LeadsChanged, describeOps(reply.Operations))
				}
			}
			contains(t, "reply", got, tt.reply)
			if n := len(f.requestsSeen()); n != tt.requests {
				t.Errorf("requests: got %d, want %d", n, tt.requests)
			}
			if n := f.left(); n != 0 {
				t.Errorf("script: %d steps unused, want 0", n)
			}
		})
	}
}

func TestLLMBadToolCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// first is the model's first answer; the test checks the tool result
		// the model gets back for it.
		first      call
		toolResult string
		// then is what the model does next.
		then    []step
		changes []change
	}{
		{name: "malformed arguments", first: call{"update_lead_status", `{"lead": "Jane Doe", "status": `},
			toolResult: "not valid", then: []step{answer("Sorry, I could not do that.")}},
		{name: "arguments that are not an object", first: call{"update_lead_status", `["Jane Doe", "won"]`},
			toolResult: "not valid", then: []step{answer("Sorry.")}},
		{name: "unknown argument", first: call{"create_lead", `{"name": "Al", "title": "CEO"}`},
			toolResult: `unknown field \"title\"`, then: []step{answer("Sorry.")}},
		{name: "unknown tool", first: call{"drop_all_leads", `{}`},
			toolResult: `There is no tool \"drop_all_leads\"`, then: []step{answer("I can't do that.")}},
		{name: "unknown field to change", first: call{"update_lead_data", `{"lead": "Jane Doe", "changes": {"shoe_size": "42"}}`},
			toolResult: "is not a field", then: []step{answer("Sorry.")}},
		{name: "bad value", first: call{"update_lead_data", `{"lead": "Jane Doe", "changes": {"value": "a lot"}}`},
			toolResult: "not an amount", then: []step{answer("Sorry.")}},
		{name: "a new lead's name on two lines", first: call{"create_lead", `{"name": "Al\nBundy"}`},
			toolResult: "name must be one line", then: []step{answer("Sorry.")}},
		{name: "a company on two lines", first: call{"update_lead_data", `{"lead": "Jane Doe", "changes": {"company": "Acme\r\nInc"}}`},
			toolResult: "company must be one line", then: []step{answer("Sorry.")}},
		{name: "unknown stage", first: call{"update_lead_status", `{"lead": "Jane Doe", "status": "Contract signed"}`},
			toolResult: "There is no stage", then: []step{answer("Which stage?")}},
		{name: "ambiguous lead", first: call{"update_lead_status", `{"lead": "jane", "status": "won"}`},
			toolResult: "Several leads match", then: []step{answer("Which Jane: Jane Doe or Jane Smith?")}},
		{name: "no such lead", first: call{"delete_lead", `{"lead": "Zebulon Pike"}`},
			toolResult: "couldn't find", then: []step{answer("No such lead.")}},
		{name: "malformed arguments, then corrected", first: call{"update_lead_status", `{lead: Jane Doe}`},
			toolResult: "not valid",
			then: []step{toolCalls(call{"update_lead_status", `{"lead": "Jane Doe", "status": "Negotiation"}`}),
				answer("Moved Jane Doe to Negotiation.")},
			changes: []change{moved("Jane Doe", "Negotiation")}},
	}
	p := newPipeline(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.reset(t)
			var seen string
			check := func(w http.ResponseWriter, r *http.Request, req llmRequest) {
				seen = req.Messages[len(req.Messages)-1].Content
				tt.then[0](w, r, req)
			}
			f := newFakeLLM(t, append([]step{toolCalls(tt.first), check}, tt.then[1:]...)...)
			h := p.harness(t, f.llm())
			before := snapshot(t, h.st)
			reply := h.say("move Jane Doe to negotiation")
			if reply.State != store.StateSuccess {
				t.Errorf("state: got %s (%s), want SUCCESS", reply.State, reply.Error)
			}
			contains(t, "tool result", seen, tt.toolResult)
			contains(t, "tool result", seen, `"ok":false`)
			expect(t, h.st, before, tt.changes...)
		})
	}
}

func TestLLMStepCap(t *testing.T) {
	t.Parallel()
	steps := []step{toolCalls(call{"update_lead_status", `{"lead": "Jane Doe", "status": "won"}`})}
	steps = append(steps, repeat(5, toolCalls(call{"search_leads", `{"query": "jane"}`}))...)
	f := newFakeLLM(t, steps...)
	h := newHarness(t, f.llm())
	before := snapshot(t, h.st)
	reply := h.say("keep looking")
	if reply.State != store.StateFailure {
		t.Errorf("state: got %s, want FAILURE", reply.State)
	}
	contains(t, "error", reply.Error, "more than 6 steps", "Nothing was changed")
	expect(t, h.st, before)
	if n := len(f.requestsSeen()); n != 6 {
		t.Errorf("requests: got %d, want 6 (the cap)", n)
	}
}

// TestLLMCostDoesNotGrow checks that the requests of a turn stay a few KB and
// about the same size with 13 leads or 2,013.
func TestLLMCostDoesNotGrow(t *testing.T) {
	t.Parallel()
	script := func() []step {
		return []step{
			toolCalls(call{"search_leads", `{"query": "jane"}`}),
			toolCalls(call{"update_lead_status", `{"lead": "Jane Doe", "status": "meeting"}`}),
			answer("Moved Jane Doe (Example Corp) from Interest to Meeting booked."),
		}
	}
	maxBytes := func(f *fakeLLM) int {
		m := 0
		for _, r := range f.requestsSeen() {
			m = max(m, len(r.Raw))
		}
		return m
	}
	small := newFakeLLM(t, script()...)
	hs := newHarness(t, small.llm())
	hs.say("move jane doe to meeting")

	p := newPipeline(t)
	// 2,000 more leads, 200 of them Janes: a pipeline 150 times larger.
	if _, err := p.pool.Exec(context.Background(), `
		INSERT INTO leads (name, company, email, notes, status, card_order)
		SELECT CASE WHEN i % 10 = 0 THEN 'Jane Extra ' || i ELSE 'Lead ' || i END, 'Company ' || i,
		       'lead' || i || '@example.test', repeat('Long notes about this lead. ', 20), 'Negotiation', 100 + i
		FROM generate_series(1, 2000) AS i`); err != nil {
		t.Fatalf("seed 2000 leads: %v", err)
	}
	large := newFakeLLM(t, script()...)
	hl := p.harness(t, large.llm())
	reply := hl.say("move jane doe to meeting")
	if reply.State != store.StateSuccess {
		t.Fatalf("state: got %s (%s), want SUCCESS", reply.State, reply.Error)
	}
	s, l := maxBytes(small), maxBytes(large)
	t.Logf("largest request: %d bytes at 13 leads, %d at 2,013", s, l)
	if s > 8<<10 || l > 8<<10 {
		t.Errorf("largest request: got %d bytes at 13 leads and %d at 2,013, want both under 8 KiB", s, l)
	}
	if l > s+2<<10 {
		t.Errorf("largest request: got %d bytes at 2,013 leads, want within 2 KiB of the %d at 13 leads", l, s)
	}
}

func TestLLMHistoryBounded(t *testing.T) {
	t.Parallel()
	f := newFakeLLM(t, repeat(15, answer("Noted."))...)
	h := newHarness(t, f.llm())
	for i := range 15 {
		h.say(fmt.Sprintf("message number %d", i))
	}
	reqs := f.requestsSeen()
	last := reqs[len(reqs)-1]
	// system + 20 earlier messages (the default) + the new one.
	if got := len(last.Messages); got != 22 {
		t.Errorf("messages in the 15th request: got %d (%s), want 22", got, joinRoles(last.Messages))
	}
	if got := last.Messages[1].Content; got != "message number 4" {
		t.Errorf("oldest message sent: got %q, want %q", got, "message number 4")
	}
	if got := last.Messages[len(last.Messages)-1].Content; got != "message number 14" {
		t.Errorf("newest message sent: got %q, want %q", got, "message number 14")
	}
}
