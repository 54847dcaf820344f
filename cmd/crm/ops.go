package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/handlers"
	"github.com/crmteam/crm/store"
)

// newMetrics returns the process's own metrics registry (never Prometheus's
// global one) with the Go runtime, the process and the connection pool on it,
// and the application's metrics.
func newMetrics(pool *pgxpool.Pool) (*prometheus.Registry, *handlers.Metrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		handlers.NewPoolCollector(pool.Stat),
	)
	return reg, handlers.NewMetrics(reg)
}

// redisLogger routes go-redis's own messages (failed dials while Redis is
// down) into the structured log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "redis")
}

// redisCheck is the readiness probe of Redis.
func redisCheck(rdb redis.UniversalClient) handlers.Check {
	return handlers.Check{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }}
}

// llmCheckTTL is how long a probe of the model's API is reused, so that
// frequent readiness probes do not turn into a stream of API calls.
const llmCheckTTL = 30 * time.Second

// llmCheck is the readiness probe of the model's API (assistant.ProbeLLM),
// its answer reused for llmCheckTTL.
func llmCheck(cfg config) handlers.Check {
	client := &http.Client{Timeout: 5 * time.Second}
	var (
		mu      sync.Mutex
		last    error
		checked time.Time
	)
	return handlers.Check{Name: "llm", Optional: true, Ping: func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !checked.IsZero() && time.Since(checked) < llmCheckTTL {
			return last
		}
		last, checked = assistant.ProbeLLM(ctx, client, cfg.OpenAIBaseURL, cfg.OpenAIKey), time.Now()
		return last
	}}
}

// startOpsListener serves /metrics, /healthz and /readyz on cfg.MetricsAddr when
// it is set, and returns the function that stops it.
func startOpsListener(ctx context.Context, cfg config, log *slog.Logger, srv *handlers.Server) (func(context.Context), error) {
	if cfg.MetricsAddr == "" {
		return func(context.Context) {}, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	hs := &http.Server{
		Handler:           srv.OpsRoutes(),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func(ctx context.Context) { _ = hs.Shutdown(ctx) }, nil
}

// worker is the `worker` command: the job worker, with its metrics and health
// on METRICS_ADDR when set.
func worker(ctx context.Context, cfg config, log *slog.Logger, st *store.Store, reg *prometheus.Registry, metrics *handlers.Metrics) error {
	rdb, err := newRedisClient(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	reg.MustRegister(handlers.NewQueueCollector(asynq.NewInspectorFromRedisClient(rdb)))
	stopOps, err := startOpsListener(ctx, cfg, log, &handlers.Server{
		Store: st, Log: log, Version: version, Metrics: metrics, OpsAllow: cfg.MetricsAllow,
		Checks: []handlers.Check{{Name: "postgres", Ping: st.Ping}, redisCheck(rdb)},
	})
	if err != nil {
		return err
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			log.Info("worker shutting down", "grace", cfg.ShutdownGrace.String())
		case <-stopped:
		}
	}()
	// The worker's writes (the assistant's turns) wake every server's event
	// hub; in crm serve the hub does this itself. It runs until the worker has
	// finished its last job.
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	go handlers.PublishWrites(pubCtx, st, rdb, log)
	err = runWorker(ctx, cfg, log, st, metrics)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	stopOps(shutCtx)
	return err
}
