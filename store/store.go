package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/queries"
)

// Store reads and writes the CRM's data in PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	q    *queries.Queries
	// writeSlots admits write transactions a few at a time. A writer that waits
	// inside PostgreSQL for a column's exclusive lock holds a connection and, when
	// it already holds another column's lock, makes every writer of that column
	// wait too: with many such writers at once the waits chain into convoys
	// (measured when every write locked its columns exclusively, 16 movers on 2
	// cores: 16 at once ~26 moves/s, 3 at once ~130/s). Moves now lock their
	// columns shared (store/leads.go), and with 1,000 leads 3 slots gave 557
	// moves/s, 8 gave 746/s and 16 gave 837/s: the limit is a bound on pile-ups,
	// eight writers per core. Waiting here instead costs nothing.
	writeSlots chan struct{}
	// written signals committed writes (EventsWritten).
	written chan struct{}
	// imports holds the imports that progressed (ImportsProgressed).
	imports *importSignals
}

// New returns a Store over pool.
func New(pool *pgxpool.Pool) *Store {
	n := 8 * runtime.NumCPU()
	return &Store{pool: pool, q: queries.New(pool), writeSlots: make(chan struct{}, n), written: make(chan struct{}, 1), imports: newImportSignals()}
}

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Open connects to the database at url and checks the connection.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	// pgx's default pool (4 connections on 2 cores) lets a few requests waiting on
	// a column's lock starve every other request of a connection. Unless the URL
	// sets pool_max_conns, allow 4 per core, at least 10.
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(10, 4*runtime.NumCPU()))
	}
	// Keep idle connections bounded and recycle them, so a restarted database is
	// reconnected to without intervention.
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// inTx runs fn in one transaction, committing when fn returns nil; see retry
// for when it runs again. fn must not start another inTx: it would wait for a
// write slot while holding one.
func (s *Store) inTx(ctx context.Context, fn func(q *queries.Queries) error) error {
	return s.retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return fn(s.q.WithTx(tx))
		})
	})
}

// retry runs write, a transaction or one statement, in a write slot. A write
// that found its lead moved under it (errStale), or that failed in a way running
// it again can cure (isRetryable), has been rolled back, releasing its locks, and
// runs again after a short random pause, a bounded number of times.
func (s *Store) retry(ctx context.Context, write func() error) error {
	select {
	case s.writeSlots <- struct{}{}:
		defer func() { <-s.writeSlots }()
	case <-ctx.Done():
		return translate(ctx.Err())
	}
	const attempts = 8
	var err error
	for attempt := range attempts {
		if attempt > 0 {
			pause := time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond)))
			select {
			case <-ctx.Done():
				return translate(ctx.Err())
			case <-time.After(pause):
			}
		}
		err = write()
		if !isRetryable(err) && !errors.Is(err, errStale) {
			break
		}
	}
	if err == nil {
		// Any write may have recorded lead events; telling the event hubs of
		// a write that recorded none costs them one cheap query.
		s.signalWrite()
	}
	return translate(err)
}

// isRetryable says whether err is a failure that running the write again can
// cure: a serialization failure (move_lead raises one when its lead moved under
// it), a deadlock, or two moves that took the same sort key in one column (see
// store/leads.go).
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01" ||
			(pgErr.Code == "23505" && pgErr.ConstraintName == "leads_status_card_order_key")
	}
	return false
}
