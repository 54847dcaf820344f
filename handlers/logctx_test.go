package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// logLines decodes the JSON lines in buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestContextLogHandlerAddsIDs(t *testing.T) {
	reqCtx := context.WithValue(context.Background(), requestIDKey, "req-1")
	jobCtx := context.WithValue(context.Background(), jobCtxKey{}, jobInfo{id: "job-7", typ: "chat:reply"})
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want map[string]any // keys that must have these values
		none []string       // keys that must be absent
	}{
		{"request line", func(l *slog.Logger) { l.InfoContext(reqCtx, "hello", "n", 1) },
			map[string]any{"request_id": "req-1", "n": 1.0}, []string{"job_id"}},
		{"job line", func(l *slog.Logger) { l.WarnContext(jobCtx, "hello") },
			map[string]any{"job_id": "job-7", "job_type": "chat:reply"}, []string{"request_id"}},
		{"no context", func(l *slog.Logger) { l.Info("hello") },
			map[string]any{"msg": "hello"}, []string{"request_id", "job_id"}},
		{"request id given on the line wins", func(l *slog.Logger) { l.InfoContext(reqCtx, "hello", "request_id", "mine") },
			map[string]any{"request_id": "mine"}, nil},
		{"through With", func(l *slog.Logger) { l.With("component", "x").InfoContext(reqCtx, "hello") },
			map[string]any{"request_id": "req-1", "component": "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(slog.New(NewContextLogHandler(slog.NewJSONHandler(&buf, nil))))
			lines := logLines(t, &buf)
			if len(lines) != 1 {
				t.Fatalf("got %d lines, want 1: %s", len(lines), buf.String())
			}
			for k, want := range tt.want {
				if got := lines[0][k]; got != want {
					t.Errorf("%s: got %v, want %v (line %s)", k, got, want, buf.String())
				}
			}
			for _, k := range tt.none {
				if v, ok := lines[0][k]; ok {
					t.Errorf("%s: got %v, want no such key", k, v)
				}
			}
		})
	}
}

// A key given through With is not repeated on each line: the text format would
// show it twice.
func TestContextLogHandlerNoDuplicateKeys(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewContextLogHandler(slog.NewTextHandler(&buf, nil)))
	ctx := context.WithValue(context.Background(), requestIDKey, "req-1")
	log.With("request_id", "req-1").InfoContext(ctx, "a")
	log.InfoContext(ctx, "b", "request_id", "req-1")
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if n := strings.Count(line, "request_id="); n != 1 {
			t.Errorf("got request_id %d times in %q, want once", n, line)
		}
	}
}
