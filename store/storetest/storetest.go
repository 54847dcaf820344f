// Package storetest gives tests a PostgreSQL database of their own on the real
// server, and a Redis database of their own on a redis-server the test process
// starts for itself, so tests can run in parallel without seeing each other's
// rows and never write to the machine's Redis. A test that cannot reach a server
// skips, unless REQUIRE_TEST_DB=1 (set by CI), where it fails.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/migrations"
	"github.com/crmteam/crm/store"
)

// AdminURL is the server the test databases are made on: TEST_DATABASE_URL, or the
// local PostgreSQL.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("REQUIRE_TEST_DB") == "1" {
		t.Fatalf("%s is required (REQUIRE_TEST_DB=1) but unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable, skipping: %v", what, err)
}

// NewDB creates a fresh, migrated database for the test and returns its URL. The
// database is cloned from a migrated template (made once per migration set) and
// dropped when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	defer admin.Close(ctx)

	tmpl, err := ensureTemplate(ctx, admin)
	if err != nil {
		t.Fatalf("test database template: %v", err)
	}
	name := "crm_t_" + randomHex(8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+tmpl); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return dropWithTest(t, name)
}

// dropWithTest drops database name when the test ends and returns its URL.
func dropWithTest(t testing.TB, name string) string {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("parse admin url: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewStore returns a Store over a fresh database, and its pool.
func NewStore(t testing.TB) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	dbURL := NewDB(t)
	pool, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool), pool
}

// ensureTemplate makes the template database for the current migrations once,
// under an advisory lock so parallel test binaries do not race.
func ensureTemplate(ctx context.Context, admin *pgx.Conn) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	tmpl := "crm_tmpl_" + sum[:12]
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock(4242)") //nolint:errcheck
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return tmpl, nil
	}
	building := tmpl + "_build"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	u, err := url.Parse(AdminURL())
	if err != nil {
		return "", err
	}
	u.Path = "/" + building
	pool, err := store.Open(ctx, u.String())
	if err != nil {
		return "", err
	}
	err = store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pool.Close()
	if err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+tmpl); err != nil {
		return "", err
	}
	return tmpl, nil
}

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// The tests' Redis is a redis-server of this test process's own, started on a
// free loopback port the first time a test asks for one, without persistence,
// and killed with the process (Pdeathsig). Tests never write to the machine's
// Redis: on a user's machine it holds data. Its 16 numbered databases are leased
// to the process's tests one each, emptied before and after.
type privateRedis struct {
	once sync.Once
	addr string
	err  error

	mu     sync.Mutex
	leased [16]bool
	free   *sync.Cond
}

var testRedis privateRedis // one per test binary; tests only

func (r *privateRedis) start() {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.err = fmt.Errorf("redis-server not installed: %w", err)
		return
	}
	r.free = sync.NewCond(&r.mu)
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			r.err = err
			return
		}
		dir, err := os.MkdirTemp("", "crm-test-redis-")
		if err != nil {
			r.err = err
			return
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", dir, "--logfile", "")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			r.err = fmt.Errorf("start redis-server: %w", err)
			return
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); _ = os.RemoveAll(dir); close(exited) }()
		addr := "127.0.0.1:" + strconv.Itoa(port)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		deadline := time.Now().Add(15 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err = rdb.Ping(ctx).Err()
			cancel()
			if err == nil {
				break
			}
			select {
			case <-exited: // the port was taken meanwhile: try another
			case <-time.After(50 * time.Millisecond):
				if time.Now().Before(deadline) {
					continue
				}
			}
			break
		}
		rdb.Close()
		if err == nil {
			r.addr = addr
			return
		}
		_ = cmd.Process.Kill()
		r.err = fmt.Errorf("private redis-server on %s: %w", addr, err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RedisAddr returns host:port of the test process's private redis-server,
// starting it on first use.
func RedisAddr(t testing.TB) string {
	t.Helper()
	testRedis.once.Do(testRedis.start)
	if testRedis.err != nil {
		unavailable(t, "Redis", testRedis.err)
	}
	return testRedis.addr
}

// NewRedisURL returns the URL of a Redis database that the test holds alone, on
// the test process's private redis-server, emptied before and after the test.
// It waits while all 16 databases are leased.
func NewRedisURL(t testing.TB) string {
	t.Helper()
	addr := RedisAddr(t)
	r := &testRedis
	r.mu.Lock()
	db := -1
	for db < 0 {
		for n := range r.leased {
			if !r.leased[n] {
				db = n
				r.leased[n] = true
				break
			}
		}
		if db < 0 {
			r.free.Wait()
		}
	}
	r.mu.Unlock()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: db})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush private redis database %d: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rdb.FlushDB(ctx)
		rdb.Close()
		r.mu.Lock()
		r.leased[db] = false
		r.free.Signal()
		r.mu.Unlock()
	})
	return fmt.Sprintf("redis://%s/%d", addr, db)
}
