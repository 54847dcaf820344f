package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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
