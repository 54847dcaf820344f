package assistant_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmteam/crm/assistant"
)

// fakeLLM is an OpenAI-compatible chat completions server for tests: it speaks
// the real wire format (tool_calls with JSON arguments as strings, usage, error
// bodies, Retry-After), so the real go-openai client code runs against it. Each
// request is answered by the next step of its script; a request beyond the
// script fails the test.
type fakeLLM struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	steps    []step
	requests []llmRequest
}

// llmRequest is a request as the fake received it.
type llmRequest struct {
	Raw      []byte
	Model    string           `json:"model"`
	Messages []llmMessage     `json:"messages"`
	Tools    []map[string]any `json:"tools"`
}

type llmMessage struct {
	Role       string `json:"role"`
	Content    string `json:"content"`
	ToolCallID string `json:"tool_call_id"`
	Name       string `json:"name"`
	ToolCalls  []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
}

// lastTool returns the content of the last tool message, decoded.
func (r llmRequest) lastTool(t *testing.T) map[string]any {
	t.Helper()
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "tool" {
			var m map[string]any
			if err := json.Unmarshal([]byte(r.Messages[i].Content), &m); err != nil {
				t.Fatalf("tool message is not JSON: %v: %s", err, r.Messages[i].Content)
			}
			return m
		}
	}
	t.Fatalf("request has no tool message")
	return nil
}

// step answers one request.
type step func(w http.ResponseWriter, r *http.Request, req llmRequest)

func newFakeLLM(t *testing.T, steps ...step) *fakeLLM {
	f := &fakeLLM{t: t, steps: steps}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeLLM) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		f.t.Errorf("fake LLM: got %s %s, want POST /v1/chat/completions", r.Method, r.URL.Path)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer test-key" {
		f.t.Errorf("fake LLM: Authorization got %q, want %q", got, "Bearer test-key")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("fake LLM: read body: %v", err)
		return
	}
	var req llmRequest
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("fake LLM: request is not JSON: %v", err)
	}
	req.Raw = body
	f.mu.Lock()
	f.requests = append(f.requests, req)
	if len(f.steps) == 0 {
		f.mu.Unlock()
		f.t.Errorf("fake LLM: got request %d, want none (the script has ended)", len(f.requests))
		writeError(w, http.StatusInternalServerError, "script ended", "server_error", 0)
		return
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	f.mu.Unlock()
	s(w, r, req)
}

// requestsSeen returns the requests so far.
func (f *fakeLLM) requestsSeen() []llmRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]llmRequest(nil), f.requests...)
}

// left returns how many steps were not used.
func (f *fakeLLM) left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.steps)
}

// llm returns the assistant's LLM pointed at the fake, with a short call
// timeout and short backoff so retries are quick.
func (f *fakeLLM) llm() *assistant.LLM {
	return assistant.NewLLM(assistant.LLMConfig{
		APIKey: "test-key", BaseURL: f.srv.URL + "/v1", Model: "fake-model",
		Timeout: 500 * time.Millisecond, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond,
	}, testLogger(f.t))
}

// call is one tool call of a scripted answer.
type call struct {
	name string
	args string // the JSON arguments, as the model sends them: a string
}

// completionID numbers the completions of every fake (tests run in parallel).
var completionID atomic.Int64

func writeCompletion(w http.ResponseWriter, message map[string]any, finish string) {
	body := map[string]any{
		"id":      fmt.Sprintf("chatcmpl-%d", completionID.Add(1)),
		"object":  "chat.completion",
		"created": 1767225600,
		"model":   "fake-model",
		"choices": []any{map[string]any{"index": 0, "message": message, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// toolCalls answers with tool calls.
func toolCalls(calls ...call) step {
	return func(w http.ResponseWriter, r *http.Request, req llmRequest) {
		tcs := make([]any, len(calls))
		for i, c := range calls {
			tcs[i] = map[string]any{"id": fmt.Sprintf("call_%d", i+1), "type": "function",
				"function": map[string]any{"name": c.name, "arguments": c.args}}
		}
		writeCompletion(w, map[string]any{"role": "assistant", "content": nil, "tool_calls": tcs}, "tool_calls")
	}
}

// dynamic answers with tool calls computed from the request (the results of
// earlier tools).
func dynamic(fn func(req llmRequest) []call) step {
	return func(w http.ResponseWriter, r *http.Request, req llmRequest) {
		toolCalls(fn(req)...)(w, r, req)
	}
}

// answer answers in words.
func answer(text string) step {
	return func(w http.ResponseWriter, r *http.Request, req llmRequest) {
		writeCompletion(w, map[string]any{"role": "assistant", "content": text}, "stop")
	}
}

// fail answers an API error, with Retry-After when retryAfter >= 0.
func fail(status int, retryAfter int) step {
	return func(w http.ResponseWriter, r *http.Request, req llmRequest) {
		typ := "server_error"
		if status == http.StatusTooManyRequests {
			typ = "rate_limit_exceeded"
		}
		writeError(w, status, http.StatusText(status), typ, retryAfter)
	}
}

func writeError(w http.ResponseWriter, status int, msg, typ string, retryAfter int) {
	if retryAfter >= 0 {
		w.Header().Set("Retry-After", fmt.Sprint(retryAfter))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": typ}})
}

// hang never answers: it waits until the client gives up on the request.
func hang() step {
	return func(w http.ResponseWriter, r *http.Request, req llmRequest) {
		<-r.Context().Done()
	}
}

// garbage answers 200 with a body that is not a completion.
func garbage() step {
	return func(w http.ResponseWriter, r *http.Request, req llmRequest) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"choices": [ {"message": `)
	}
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// leadIDFrom returns the id of the lead named name in the last tool result.
func leadIDFrom(t *testing.T, req llmRequest, name string) string {
	t.Helper()
	res := req.lastTool(t)
	for _, key := range []string{"leads", "candidates"} {
		list, _ := res[key].([]any)
		for _, l := range list {
			m, _ := l.(map[string]any)
			if m["name"] == name {
				return m["id"].(string)
			}
		}
	}
	t.Fatalf("last tool result has no lead %q: %v", name, res)
	return ""
}

func hasTool(tools []map[string]any, name string) bool {
	for _, tl := range tools {
		fn, _ := tl["function"].(map[string]any)
		if fn["name"] == name {
			return true
		}
	}
	return false
}

func joinRoles(msgs []llmMessage) string {
	roles := make([]string, len(msgs))
	for i, m := range msgs {
		roles[i] = m.Role
	}
	return strings.Join(roles, ",")
}
