package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// BenchmarkEvents measures the live parts of the real binary: the memory of 500
// idle event streams and how long one change takes to reach all of them; how
// soon the offline assistant's reply is visible in the panel after sending
// (target under 300 ms); and how soon a model's reply is visible after its job
// ends (target within 100 ms). Run it with `make bench`.
func BenchmarkEvents(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "crm")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for range b.N {
		benchStreams(b, bin)
		benchChatReplies(b, bin)
	}
}

// startServe starts `crm serve` with env added and returns its base URL and pid.
func startServe(b *testing.B, bin string, env ...string) (string, int) {
	addr := freeAddr(b)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), "LISTEN_ADDR="+addr, "LOG_LEVEL=error", "RATE_LIMIT_API=off", "RATE_LIMIT_CHAT=off"), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	base := "http://" + addr
	waitReady(b, base)
	return base, cmd.Process.Pid
}

// benchTokens makes users users with one API token each.
func benchTokens(b *testing.B, dbURL string, users int) []string {
	ctx := context.Background()
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool)
	var tokens []string
	for i := range users {
		u, err := st.CreateUser(ctx, store.NewUser{Email: fmt.Sprintf("bench%d@example.com", i), Name: fmt.Sprintf("Bench %d", i),
			Password: "correct horse battery staple", Role: store.RoleMember})
		if err != nil {
			b.Fatal(err)
		}
		_, tok, err := st.CreateAPIToken(ctx, u.ID, "bench")
		if err != nil {
			b.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	return tokens
}

func currentRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			fmt.Sscan(strings.Fields(line)[1], &kb)
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS in /proc status")
	return 0
}

func benchStreams(b *testing.B, bin string) {
	const streams = 500
	dbURL := storetest.NewDB(b)
	// The cap is 8 streams per user on a server: 63 users hold 500.
	tokens := benchTokens(b, dbURL, (streams+7)/8)
	base, pid := startServe(b, bin, "DATABASE_URL="+dbURL, "REDIS_URL="+storetest.NewRedisURL(b), "WORKER=false")
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: streams}}

	// Warm up: a stream opened and closed, a change, so that what is measured
	// next is the streams alone.
	open := func(tok string) (*http.Response, *bufio.Reader) {
		req, _ := http.NewRequest("GET", base+"/events/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if res.StatusCode != 200 {
			b.Fatalf("GET /events/: got %d, want 200", res.StatusCode)
		}
		br := bufio.NewReader(res.Body)
		if _, err := br.ReadString('\n'); err != nil { // the stream's first line
			b.Fatal(err)
		}
		return res, br
	}
	createLead := func(name string) time.Time {
		req, _ := http.NewRequest("POST", base+"/leads/", strings.NewReader(`{"name":"`+name+`"}`))
		req.Header.Set("Authorization", "Bearer "+tokens[0])
		req.Header.Set("Content-Type", "application/json")
		t0 := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 201 {
			b.Fatalf("create lead: %v %v", res, err)
		}
		res.Body.Close()
		return t0
	}
	res, _ := open(tokens[0])
	res.Body.Close()
	createLead("Warm-up")
	time.Sleep(time.Second)
	before := currentRSS(b, pid)

	readers := make([]*bufio.Reader, streams)
	bodies := make([]io.Closer, streams)
	for i := range streams {
		res, br := open(tokens[i/8])
		readers[i], bodies[i] = br, res.Body
	}
	defer func() {
		for _, c := range bodies {
			c.Close()
		}
	}()
	time.Sleep(2 * time.Second)
	after := currentRSS(b, pid)
	perStream := float64(after-before) / streams

	// One change, to every stream.
	arrived := make([]time.Duration, streams)
	var wg sync.WaitGroup
	var t0 time.Time
	start := make(chan struct{})
	for i, br := range readers {
		wg.Go(func() {
			<-start
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					b.Error(err)
					return
				}
				if strings.HasPrefix(line, "event: lead.created") {
					arrived[i] = time.Since(t0)
					return
				}
			}
		})
	}
	t0 = time.Now()
	close(start)
	createLead("To everyone")
	wg.Wait()
	slices.Sort(arrived)

	b.ReportMetric(perStream/1024, "stream_KB")
	b.ReportMetric(ms(arrived[streams/2]), "fanout_500_p50_ms")
	b.ReportMetric(ms(arrived[streams-1]), "fanout_500_max_ms")
	fmt.Printf("\nevent streams\n")
	fmt.Printf("  %d idle streams      server RSS %.1f MB -> %.1f MB: %.1f KB per stream\n", streams, float64(before)/(1<<20), float64(after)/(1<<20), perStream/1024)
	fmt.Printf("  one change to all    p50 %.1f ms, last %.1f ms after the POST was sent\n", ms(arrived[streams/2]), ms(arrived[streams-1]))
}

// replyURL finds the pending reply's long poll in the panel's answer to a send.
var replyURL = regexp.MustCompile(`hx-get="(/chat/panel/replies/[^"]+)"`)

// panelTurn sends message through the assistant panel as htmx does and waits
// for the final reply with the pending reply's long poll; it returns the time
// from sending to the final reply.
func panelTurn(b *testing.B, base, token, message string) time.Duration {
	do := func(method, u, body string) (string, error) {
		req, _ := http.NewRequest(method, base+u, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("HX-Request", "true")
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		out, err := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			return "", fmt.Errorf("%s %s: got %d %s", method, u, res.StatusCode, out)
		}
		return string(out), err
	}
	t0 := time.Now()
	sent, err := do("POST", "/chat/panel/messages", url.Values{"message": {message}}.Encode())
	if err != nil {
		b.Fatal(err)
	}
	for {
		m := replyURL.FindStringSubmatch(sent)
		if m == nil {
			return time.Since(t0) // final: no poll left
		}
		if sent, err = do("GET", strings.ReplaceAll(m[1], "&amp;", "&"), ""); err != nil {
			b.Fatal(err)
		}
	}
}

func benchChatReplies(b *testing.B, bin string) {
	const turns = 20
	dbURL := storetest.NewDB(b)
	tokens := benchTokens(b, dbURL, 1)

	// Offline: the built-in assistant, the worker inside serve.
	base, _ := startServe(b, bin, "DATABASE_URL="+dbURL, "REDIS_URL="+storetest.NewRedisURL(b))
	panelTurn(b, base, tokens[0], "how many leads are there") // warm-up: first connections, first job
	offline := make([]time.Duration, turns)
	for i := range offline {
		offline[i] = panelTurn(b, base, tokens[0], "how many leads are there")
	}
	slices.Sort(offline)

	// A model that answers at once; the reply is visible when the job ends, a
	// little after the model's answer: measured from the answer.
	var mu sync.Mutex
	var answered time.Time
	llm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-bench", "object": "chat.completion", "created": time.Now().Unix(), "model": "bench",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
		})
		mu.Lock()
		answered = time.Now()
		mu.Unlock()
	}))
	defer llm.Close()
	modelBase, _ := startServe(b, bin, "DATABASE_URL="+dbURL, "REDIS_URL="+storetest.NewRedisURL(b),
		"OPENAI_API_KEY=bench", "OPENAI_BASE_URL="+llm.URL+"/v1")
	panelTurn(b, modelBase, tokens[0], "hello") // warm-up
	model := make([]time.Duration, turns)
	for i := range model {
		panelTurn(b, modelBase, tokens[0], "hello")
		mu.Lock()
		model[i] = time.Since(answered)
		mu.Unlock()
	}
	slices.Sort(model)

	b.ReportMetric(ms(offline[turns/2]), "offline_reply_p50_ms")
	b.ReportMetric(ms(offline[turns-1]), "offline_reply_max_ms")
	b.ReportMetric(ms(model[turns/2]), "model_reply_after_job_p50_ms")
	b.ReportMetric(ms(model[turns-1]), "model_reply_after_job_max_ms")
	fmt.Printf("\nchat replies (%d turns each)\n", turns)
	fmt.Printf("  offline reply visible  p50 %.1f ms, max %.1f ms after sending (target < 300 ms)\n", ms(offline[turns/2]), ms(offline[turns-1]))
	fmt.Printf("  model reply visible    p50 %.1f ms, max %.1f ms after the model answered (target < 100 ms after the job ends)\n", ms(model[turns/2]), ms(model[turns-1]))
}
