package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolCollector exports the PostgreSQL connection pool's statistics, read from
// pgxpool at each scrape.
type PoolCollector struct {
	stat func() *pgxpool.Stat

	acquired, idle, constructing, total, max  *prometheus.Desc
	acquires, emptyAcquires, canceledAcquires *prometheus.Desc
	acquireSeconds, emptyAcquireWaitSeconds   *prometheus.Desc
	newConns, lifetimeDestroys, idleDestroys  *prometheus.Desc
}

// NewPoolCollector returns a collector over stat, usually pool.Stat.
func NewPoolCollector(stat func() *pgxpool.Stat) *PoolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("crm_db_pool_"+name, help, nil, nil)
	}
	return &PoolCollector{
		stat:                    stat,
		acquired:                d("acquired_conns", "Connections in use."),
		idle:                    d("idle_conns", "Idle connections."),
		constructing:            d("constructing_conns", "Connections being opened."),
		total:                   d("total_conns", "Open connections (acquired, idle and being opened)."),
		max:                     d("max_conns", "Most connections the pool opens."),
		acquires:                d("acquires_total", "Connections handed out."),
		emptyAcquires:           d("empty_acquires_total", "Acquires that had to wait for a connection (the pool was empty)."),
		canceledAcquires:        d("canceled_acquires_total", "Acquires given up (the request ended first)."),
		acquireSeconds:          d("acquire_seconds_total", "Time spent getting connections."),
		emptyAcquireWaitSeconds: d("empty_acquire_wait_seconds_total", "Time spent waiting for a connection when the pool was empty."),
		newConns:                d("new_conns_total", "Connections opened."),
		lifetimeDestroys:        d("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."),
		idleDestroys:            d("max_idle_destroys_total", "Connections closed for being idle too long."),
	}
}

// Describe sends the descriptions of the pool's metrics.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.constructing, c.total, c.max,
		c.acquires, c.emptyAcquires, c.canceledAcquires, c.acquireSeconds, c.emptyAcquireWaitSeconds,
		c.newConns, c.lifetimeDestroys, c.idleDestroys} {
		ch <- d
	}
}

// Collect reads the pool's statistics.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	n := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	g(c.acquired, float64(s.AcquiredConns()))
	g(c.idle, float64(s.IdleConns()))
	g(c.constructing, float64(s.ConstructingConns()))
	g(c.total, float64(s.TotalConns()))
	g(c.max, float64(s.MaxConns()))
	n(c.acquires, float64(s.AcquireCount()))
	n(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	n(c.canceledAcquires, float64(s.CanceledAcquireCount()))
	n(c.acquireSeconds, s.AcquireDuration().Seconds())
	n(c.emptyAcquireWaitSeconds, s.EmptyAcquireWaitTime().Seconds())
	n(c.newConns, float64(s.NewConnsCount()))
	n(c.lifetimeDestroys, float64(s.MaxLifetimeDestroyCount()))
	n(c.idleDestroys, float64(s.MaxIdleDestroyCount()))
}

// QueueInspector is what the queue collector and the readiness check read from
// Redis; *asynq.Inspector has it.
type QueueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
	Servers() ([]*asynq.ServerInfo, error)
}

// queueScrapeTimeout bounds how long a scrape waits for Redis: a scrape must
// answer (with crm_queue_up 0) while Redis is down.
const queueScrapeTimeout = 2 * time.Second

// QueueCollector exports the job queues' sizes and counts, and the workers
// alive, read from Redis at each scrape. The numbers are the whole system's:
// every process that serves them reports the same.
type QueueCollector struct {
	insp QueueInspector

	// busy holds one token: at most one inspection runs, so a Redis that hangs
	// cannot pile up goroutines scrape after scrape.
	busy chan struct{}

	up, tasks, latency, paused, processed, failed, workers, workerSlots *prometheus.Desc
}

// NewQueueCollector returns a collector over insp.
func NewQueueCollector(insp QueueInspector) *QueueCollector {
	c := &QueueCollector{
		insp: insp,
		busy: make(chan struct{}, 1),
		up:   prometheus.NewDesc("crm_queue_up", "1 when Redis answered the queue inspection of this scrape, else 0.", nil, nil),
		tasks: prometheus.NewDesc("crm_queue_tasks", "Tasks in a queue by state (pending, active, scheduled, retry, archived, completed, aggregating).",
			[]string{"queue", "state"}, nil),
		latency:     prometheus.NewDesc("crm_queue_latency_seconds", "Age of the oldest pending task of a queue.", []string{"queue"}, nil),
		paused:      prometheus.NewDesc("crm_queue_paused", "1 when a queue is paused.", []string{"queue"}, nil),
		processed:   prometheus.NewDesc("crm_queue_processed_total", "Tasks processed from a queue by all workers, failed ones included (kept in Redis).", []string{"queue"}, nil),
		failed:      prometheus.NewDesc("crm_queue_failed_total", "Tasks of a queue whose run failed, by all workers (kept in Redis).", []string{"queue"}, nil),
		workers:     prometheus.NewDesc("crm_workers", "Worker processes whose heartbeat Redis has (seen in the last few seconds).", nil, nil),
		workerSlots: prometheus.NewDesc("crm_worker_slots", "Jobs the live workers can run at once, and run now (busy).", []string{"use"}, nil),
	}
	c.busy <- struct{}{}
	return c
}

// Describe sends the descriptions of the queue metrics.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.tasks, c.latency, c.paused, c.processed, c.failed, c.workers, c.workerSlots} {
		ch <- d
	}
}

type queueSnapshot struct {
	queues  []*asynq.QueueInfo
	servers []*asynq.ServerInfo
}

// Collect inspects the queues, giving up after queueScrapeTimeout.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	snap, err := c.inspect(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, q := range snap.queues {
		for state, n := range map[string]int{
			"pending": q.Pending, "active": q.Active, "scheduled": q.Scheduled, "retry": q.Retry,
			"archived": q.Archived, "completed": q.Completed, "aggregating": q.Aggregating,
		} {
			ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(n), q.Queue, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, q.Latency.Seconds(), q.Queue)
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, boolFloat(q.Paused), q.Queue)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(q.ProcessedTotal), q.Queue)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(q.FailedTotal), q.Queue)
	}
	slots, busy := 0, 0
	for _, s := range snap.servers {
		slots += s.Concurrency
		busy += len(s.ActiveWorkers)
	}
	ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(len(snap.servers)))
	ch <- prometheus.MustNewConstMetric(c.workerSlots, prometheus.GaugeValue, float64(slots), "total")
	ch <- prometheus.MustNewConstMetric(c.workerSlots, prometheus.GaugeValue, float64(busy), "busy")
}

func (c *QueueCollector) inspect(ctx context.Context) (queueSnapshot, error) {
	select {
	case <-c.busy:
	case <-ctx.Done():
		return queueSnapshot{}, ctx.Err()
	}
	return callWithContext(ctx, func() (queueSnapshot, error) {
		defer func() { c.busy <- struct{}{} }()
		var snap queueSnapshot
		names, err := c.insp.Queues()
		if err != nil {
			return snap, err
		}
		for _, name := range names {
			info, err := c.insp.GetQueueInfo(name)
			if err != nil {
				return snap, err
			}
			snap.queues = append(snap.queues, info)
		}
		snap.servers, err = c.insp.Servers()
		return snap, err
	})
}

// callWithContext runs fn, which takes no context (asynq's Inspector), and
// returns its result, or ctx's error once ctx ends first; fn then finishes in
// the background.
func callWithContext[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// WorkerCheck is a readiness probe that succeeds when Redis holds the heartbeat
// of at least one worker taking jobs: asynq workers beat every 5 seconds and
// their record expires after 10, so a worker seen is one seen within the last
// 10 seconds.
func WorkerCheck(insp QueueInspector) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		servers, err := callWithContext(ctx, insp.Servers)
		if err != nil {
			return err
		}
		for _, s := range servers {
			if s.Status == "active" {
				return nil
			}
		}
		if len(servers) > 0 {
			return errors.New("workers are stopping; none is taking jobs")
		}
		return errors.New("no worker seen in the last 10 seconds")
	}
}
