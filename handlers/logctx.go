package handlers

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"github.com/hibiken/asynq"
)

// Log attribute keys the context handler adds.
const (
	logKeyRequestID = "request_id"
	logKeyJobID     = "job_id"
	logKeyJobType   = "job_type"
)

type jobCtxKey struct{}

// jobInfo is the background job a context belongs to.
type jobInfo struct {
	id, typ string
}

// jobFromContext returns the job ctx belongs to, if any.
func jobFromContext(ctx context.Context) (jobInfo, bool) {
	j, ok := ctx.Value(jobCtxKey{}).(jobInfo)
	return j, ok
}

// ContextLogHandler wraps a slog.Handler so that every line logged with a
// request's or a job's context carries its id: request_id for HTTP requests
// (the X-Request-ID the response echoes), job_id and job_type for background
// jobs. A key the caller already gave, on the line or through Logger.With, is
// not repeated.
type ContextLogHandler struct {
	inner slog.Handler
	// given holds the keys among ours that were added with WithAttrs.
	given map[string]bool
}

// NewContextLogHandler returns h with the request and job ids of the context
// added to each record.
func NewContextLogHandler(h slog.Handler) *ContextLogHandler {
	return &ContextLogHandler{inner: h}
}

// Enabled reports whether the wrapped handler handles level.
func (h *ContextLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle adds the context's ids that the record lacks, then hands it on.
func (h *ContextLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.inner.Handle(ctx, r)
	}
	var add []slog.Attr
	addMissing := func(key, value string) {
		if value == "" || h.given[key] || recordHas(r, key) {
			return
		}
		add = append(add, slog.String(key, value))
	}
	addMissing(logKeyRequestID, RequestID(ctx))
	if j, ok := jobFromContext(ctx); ok {
		addMissing(logKeyJobID, j.id)
		addMissing(logKeyJobType, j.typ)
	}
	r.AddAttrs(add...)
	return h.inner.Handle(ctx, r)
}

func recordHas(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

// WithAttrs returns a handler whose records carry attrs.
func (h *ContextLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	given := h.given
	for _, a := range attrs {
		switch a.Key {
		case logKeyRequestID, logKeyJobID, logKeyJobType:
			if !given[a.Key] {
				given = maps.Clone(given)
				if given == nil {
					given = map[string]bool{}
				}
				given[a.Key] = true
			}
		}
	}
	return &ContextLogHandler{inner: h.inner.WithAttrs(attrs), given: given}
}

// WithGroup returns a handler that puts later attributes in group name.
func (h *ContextLogHandler) WithGroup(name string) slog.Handler {
	return &ContextLogHandler{inner: h.inner.WithGroup(name), given: h.given}
}

// JobLogger is asynq middleware that gives each job's context its id and type,
// so that every line logged with that context names the job, and logs one line
// per job with its outcome and duration.
func JobLogger(log *slog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			ctx = context.WithValue(ctx, jobCtxKey{}, jobInfo{id: id, typ: t.Type()})
			retried, _ := asynq.GetRetryCount(ctx)
			start := time.Now()
			err := next.ProcessTask(ctx, t)
			ms := float64(time.Since(start).Microseconds()) / 1000
			if err != nil {
				log.WarnContext(ctx, "job failed", "retried", retried, "duration_ms", ms, "err", err)
			} else {
				log.InfoContext(ctx, "job done", "retried", retried, "duration_ms", ms)
			}
			return err
		})
	}
}
