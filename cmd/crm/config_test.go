package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// Credentials in DATABASE_URL, REDIS_URL or OPENAI_BASE_URL never reach an
// error message or the start-up log, whether the value is valid or not.
func TestConfigNeverPrintsCredentials(t *testing.T) {
	for _, env := range []map[string]string{
		{"DATABASE_URL": "host=db.internal user=crm password=s3cret dbname=crm"},
		{"DATABASE_URL": "host=db.internal password='s3cret' port=abc"},
		{"DATABASE_URL": "postgres://crm:s3cret@db.internal:notaport/crm"},
		{"DATABASE_URL": "mysql://crm:s3cret@db.internal/crm"},
		{"REDIS_URL": "redis://:s3cret@redis.internal:6379/x"},
		{"REDIS_URL": "http://:s3cret@redis.internal:6379/0"},
		{"OPENAI_BASE_URL": "ftp://user:s3cret@llm.internal/v1"},
		{"OPENAI_BASE_URL": "https://user:s3cret@llm.internal/v1", "OPENAI_API_KEY": "sk-s3cret"},
		{"OPENAI_BASE_URL": "https://llm.internal/v1?api-key=s3cret", "OPENAI_API_KEY": "sk-s3cret"},
		{"DATABASE_URL": "postgres://crm:s3cret@db.internal/crm?sslmode=require", "REDIS_URL": "rediss://u:s3cret@r.internal/0"},
	} {
		cfg, err := loadConfig(func(k string) string { return env[k] })
		var log bytes.Buffer
		slog.New(slog.NewTextHandler(&log, nil)).Info("starting", cfg.logAttrs()...)
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("loadConfig(%v): got error %q, want the credentials hidden", env, err)
		}
		if strings.Contains(log.String(), "s3cret") {
			t.Errorf("start-up log of %v: got %q, want the credentials hidden", env, log.String())
		}
		if err == nil {
			continue
		}
		// The whole program says the same: crm migrate with the bad value stops
		// before it connects to anything.
		var stderr bytes.Buffer
		rerr := run(context.Background(), []string{"migrate"}, func(k string) string { return env[k] }, strings.NewReader(""), &stderr, &stderr)
		if rerr == nil || strings.Contains(fmt.Sprint(rerr)+stderr.String(), "s3cret") {
			t.Errorf("crm migrate with %v: got %v\n%s\nwant a configuration error without the credentials", env, rerr, stderr.String())
		}
	}
}

// The model's readiness probe never names its URL's credentials, which /readyz
// and the log would otherwise show.
func TestLLMCheckHidesCredentials(t *testing.T) {
	for _, base := range []string{"http://user:s3cret@127.0.0.1:1/v1", "http://127.0.0.1:1/v1?api-key=s3cret"} {
		err := llmCheck(config{OpenAIBaseURL: base, OpenAIKey: "sk-s3cret"}).Ping(context.Background())
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("llm check of %s: got %v, want an error without the credentials", base, err)
		}
	}
}

// A variable set in the environment wins over .env even when it is set empty,
// and GOMEMLIMIT from .env is applied like any other variable.
func TestDotEnvAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	dotEnv := "OPENAI_API_KEY=sk-from-dotenv\nGOMEMLIMIT=123MiB\nLOG_LEVEL=debug\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotEnv), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{"OPENAI_API_KEY": ""} // OPENAI_API_KEY= crm serve
	getenv := withDotEnv(func(k string) (string, bool) { v, ok := environ[k]; return v, ok })
	cfg, err := loadConfig(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.assistantMode(); got != "offline" {
		t.Errorf("OPENAI_API_KEY set empty, .env with a key: got assistant %q, want offline", got)
	}
	if cfg.MemoryLimit != 123<<20 {
		t.Errorf("GOMEMLIMIT=123MiB in .env: got %d, want %d", cfg.MemoryLimit, 123<<20)
	}
	if cfg.LogLevel != slog.LevelDebug {
		t.Errorf("LOG_LEVEL=debug in .env, unset in the environment: got %v, want debug", cfg.LogLevel)
	}
	environ["GOMEMLIMIT"] = "off"
	if cfg, _ := loadConfig(getenv); cfg.MemoryLimit != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT=off in the environment: got %d, want no limit", cfg.MemoryLimit)
	}
	// And run applies it to the runtime (crm migrate, stopped at once by a
	// database that is not there).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	delete(environ, "GOMEMLIMIT")
	environ["DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	var out bytes.Buffer
	if err := run(context.Background(), []string{"migrate"}, getenv, strings.NewReader(""), &out, &out); err == nil {
		t.Fatalf("crm migrate without a database: got no error, want one")
	}
	if got := debug.SetMemoryLimit(-1); got != 123<<20 {
		t.Errorf("after crm migrate with GOMEMLIMIT=123MiB in .env: the runtime's limit is %d, want %d", got, 123<<20)
	}
	for _, tc := range []struct {
		in   string
		want int64
	}{{"80MiB", 80 << 20}, {"1GiB", 1 << 30}, {"1048576", 1 << 20}, {"512KiB", 512 << 10}, {"7B", 7}} {
		if got, err := parseMemoryLimit(tc.in); err != nil || got != tc.want {
			t.Errorf("parseMemoryLimit(%q): got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "80MB", "-1", "lots", "1.5GiB", "99999999999TiB"} {
		if _, err := parseMemoryLimit(bad); err == nil {
			t.Errorf("parseMemoryLimit(%q): got no error, want one", bad)
		}
	}
}

// The server always checks the Host: BASE_URL's host name, or the machine's
// own names without BASE_URL.
func TestConfigHosts(t *testing.T) {
	for _, tc := range []struct {
		baseURL string
		want    string
	}{
		{"", "localhost,127.0.0.1,::1"},
		{"https://crm.example.com", "crm.example.com"},
		{"https://crm.example.com:8443/", "crm.example.com"},
		{"http://[2001:db8::1]:8080", "2001:db8::1"},
	} {
		cfg, err := loadConfig(func(k string) string { return map[string]string{"BASE_URL": tc.baseURL}[k] })
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cfg.Security.Hosts, ","); got != tc.want {
			t.Errorf("BASE_URL=%q: got hosts %q, want %q", tc.baseURL, got, tc.want)
		}
	}
}
