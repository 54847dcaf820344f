// Package storetest gives tests a PostgreSQL database and a Redis database of
// their own, on the real servers, so tests can run in parallel without seeing each
// other's rows. A test that cannot reach a server skips, unless REQUIRE_TEST_DB=1
// (set by CI), where it fails.
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
	"net/url"
	"os"
	"strconv"
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

// RedisURL is the Redis server tests use: TEST_REDIS_URL, or the local Redis.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
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

// NewRedisURL returns the URL of a Redis database that the test holds alone,
// emptied before and after it. Redis has 16 numbered databases; 0 is left to a
// running app, and tests lease 1-15 through a lock key in database 0, so tests in
// parallel packages never share one. It waits while all 15 are leased.
func NewRedisURL(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(RedisURL())
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lockClient := redis.NewClient(opt)
	defer lockClient.Close()
	if err := lockClient.Ping(ctx).Err(); err != nil {
		unavailable(t, "Redis", err)
	}
	token := randomHex(8)
	db := 0
	for db == 0 {
		for n := 1; n <= 15; n++ {
			ok, err := lockClient.SetNX(ctx, "crm-test-lease:"+strconv.Itoa(n), token, 10*time.Minute).Result()
			if err != nil {
				t.Fatalf("lease redis database: %v", err)
			}
			if ok {
				db = n
				break
			}
		}
		if db == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("no free redis test database within 2 minutes")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	u.Path = "/" + strconv.Itoa(db)
	dbOpt := *opt
	dbOpt.DB = db
	rdb := redis.NewClient(&dbOpt)
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush redis database %d: %v", db, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		rdb.FlushDB(ctx)
		rdb.Close()
		release := redis.NewClient(opt)
		defer release.Close()
		// Release only our own lease.
		if v, _ := release.Get(ctx, "crm-test-lease:"+strconv.Itoa(db)).Result(); v == token {
			release.Del(ctx, "crm-test-lease:"+strconv.Itoa(db))
		}
	})
	return u.String()
}
