//go:build faults

package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmteam/crm/store/storetest"
)

// The model's API misbehaves: it hangs, answers 500 or 429, sends a body that
// is not JSON, or sends malformed tool calls. Through the real binary and its
// worker: calls are retried a bounded number of times, the person reads a
// clear message, nothing is written, and /metrics counts every call by outcome.
func TestFaultLLM(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewDB(t)
	var mu sync.Mutex
	calls := map[string]int{} // by scenario
	llm := startFakeLLM(t, func(w http.ResponseWriter, r *http.Request, req chatRequest) {
		scenario := req.lastUser()
		mu.Lock()
		calls[scenario]++
		n := calls[scenario]
		mu.Unlock()
		switch scenario {
		case "hang":
			<-r.Context().Done()
		case "server error":
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"error":{"message":"internal failure","type":"server_error"}}`)
		case "rate limit":
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"slow down","type":"rate_limit_error"}}`)
		case "not json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id": "chatcmpl-1", "choices": [ {"message": `)
		case "malformed tool calls":
			switch n {
			case 1: // arguments that are not JSON
				writeCompletion(w, "", []map[string]any{toolCall("c1", "create_lead", `{"name": "Broken`)}, 50, 5)
			case 2: // a tool that does not exist, and a create without its name
				writeCompletion(w, "", []map[string]any{
					toolCall("c2", "drop_all_leads", `{}`),
					toolCall("c3", "create_lead", `{"company":"No Name Inc"}`),
				}, 60, 6)
			default:
				writeCompletion(w, "I could not add that lead.", nil, 70, 7)
			}
		case "tool calls forever":
			writeCompletion(w, "", []map[string]any{toolCall("c4", "create_lead", `{"name": `)}, 10, 1)
		default:
			writeCompletion(w, "Nothing to do.", nil, 10, 2)
		}
	})
	env := crmEnv(dbURL, storetest.NewRedisURL(t))
	env["OPENAI_TIMEOUT"] = "1s"
	for k, v := range llm.env() {
		env[k] = v
	}
	srv := startCRM(t, "serve", "serve", env) // with its worker
	srv.waitReady("/readyz")
	base := srv.base
	api := apiClient(t, dbURL, "llm-api")
	before, _ := checkColumns(t, api.board(base))

	rz := api.expect(200, "GET", base+"/readyz", "").json(t)
	llmUp := false
	for _, c := range rz["checks"].([]any) {
		c := c.(map[string]any)
		llmUp = llmUp || (c["name"] == "llm" && c["state"] == "up")
	}
	if !llmUp {
		t.Errorf("/readyz: got %v, want an llm check that is up", rz["checks"])
	}

	tests := []struct {
		message   string
		wantState string
		wantText  string // in the error (FAILURE) or the reply (SUCCESS)
		wantCalls int
	}{
		{"hang", "FAILURE", "did not answer in time", 4},
		{"server error", "FAILURE", "having problems (HTTP 500)", 4},
		{"rate limit", "FAILURE", "rate-limiting", 4},
		{"not json", "FAILURE", "could not read", 1},
		{"malformed tool calls", "SUCCESS", "I could not add that lead.", 3},
		{"tool calls forever", "FAILURE", "more than 6 steps", 6},
	}
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Go(func() {
			c := apiClient(t, dbURL, "llm-"+strings.ReplaceAll(tt.message, " ", "-"))
			task := c.sendChat(base, tt.message)
			state, errMsg, res := c.waitChat(base, task, 2*time.Minute)
			text := errMsg
			if res != nil {
				text, _ = res["ai_message"].(string)
				if ops, _ := res["operations"].([]any); len(ops) != 0 {
					t.Errorf("%s: operations got %v, want none", tt.message, ops)
				}
			}
			if state != tt.wantState || !strings.Contains(text, tt.wantText) {
				t.Errorf("%s: got %s %q, want %s saying %q", tt.message, state, text, tt.wantState, tt.wantText)
			}
			if tt.wantState == "FAILURE" && !strings.Contains(text, "Nothing was changed") {
				t.Errorf("%s: message %q does not say that nothing was changed", tt.message, text)
			}
			mu.Lock()
			got := calls[tt.message]
			mu.Unlock()
			if got != tt.wantCalls {
				t.Errorf("%s: calls to the model got %d, want %d", tt.message, got, tt.wantCalls)
			}
		})
	}
	wg.Wait()

	after, names := checkColumns(t, api.board(base))
	if after != before {
		t.Errorf("leads after the faulty turns: got %d, want %d (nothing written): %v", after, before, names)
	}
	for outcome, want := range map[string]float64{
		"timeout": 4, "server_error": 4, "rate_limited": 4, "bad_response": 1, "ok": 3 + 6,
	} {
		if got := srv.metric("crm_llm_calls_total", map[string]string{"model": "fake-model", "outcome": outcome}); got != want {
			t.Errorf("crm_llm_calls_total{outcome=%q}: got %v, want %v", outcome, got, want)
		}
	}
	for kind, want := range map[string]float64{"prompt": 50 + 60 + 70 + 6*10, "completion": 5 + 6 + 7 + 6*1} {
		if got := srv.metric("crm_llm_tokens_total", map[string]string{"model": "fake-model", "kind": kind}); got != want {
			t.Errorf("crm_llm_tokens_total{kind=%q}: got %v, want %v", kind, got, want)
		}
	}
	if got := srv.metric("crm_jobs_processed_total", map[string]string{"type": "chat:reply", "result": "ok"}); got != float64(len(tests)) {
		t.Errorf("chat jobs run: got %v, want %d (a turn that failed cleanly is a job done)", got, len(tests))
	}
	// The retries are logged with the job they belong to.
	retries := srv.logsWith("llm call failed; retrying")
	if len(retries) != 9 {
		t.Errorf("\"llm call failed; retrying\" lines: got %d, want 9 (3 retries each for hang, 500 and 429)", len(retries))
	}
	for _, e := range retries {
		if e["job_id"] == nil {
			t.Errorf("retry log line without job_id: %v", e)
		}
	}
}
