package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// BenchmarkExport streams GET /leads/export.csv and /leads/export.jsonl of
// 10,000 and 100,000 leads from a real `crm serve` and reports the time and the
// server's peak RSS after each size: memory is flat when the peak at 100,000
// is about the one at 10,000. Target: 100,000 leads under 3 s.
func BenchmarkExport(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "crm")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for range b.N {
		benchExport(b, bin)
	}
}

func benchExport(b *testing.B, bin string) {
	ctx := context.Background()
	dbURL := storetest.NewDB(b)
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	token := benchTokens(b, dbURL, 1)[0]
	base, pid := startServe(b, bin, "DATABASE_URL="+dbURL, "REDIS_URL="+storetest.NewRedisURL(b), "WORKER=false")
	client := &http.Client{Transport: bearer{token, &http.Transport{}}}
	seeded := 0
	for _, n := range []int{10_000, 100_000} {
		_, err = pool.Exec(ctx, `
			INSERT INTO leads (name, company, email, phone, value, notes, status, source, card_order)
			SELECT 'Lead ' || i, 'Company ' || (i % 97), 'lead' || i || '@example.com', '+1-555-' || lpad((i % 10000)::text, 4, '0'),
			       (i % 500) * 100 + 0.5, 'Some notes about lead ' || i, s.name, 'Website', (i / 6)::bigint * 1048576
			FROM generate_series($1::int, $2::int - 1) AS i
			JOIN stages s ON s.position = i % 6`, seeded, n)
		if err != nil {
			b.Fatal(err)
		}
		seeded = n
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE leads"); err != nil {
			b.Fatal(err)
		}
		for _, path := range []string{"/leads/export.csv", "/leads/export.jsonl"} {
			start := time.Now()
			res, err := client.Get(base + path)
			if err != nil {
				b.Fatal(err)
			}
			bytes, err := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusOK {
				b.Fatalf("%s: status %d, %v", path, res.StatusCode, err)
			}
			took := time.Since(start)
			b.ReportMetric(took.Seconds(), fmt.Sprintf("s/%s_%dk", filepath.Ext(path)[1:], n/1000))
			b.ReportMetric(float64(peakRSS(b, pid))/(1<<20), fmt.Sprintf("peakRSS_MB/%s_%dk", filepath.Ext(path)[1:], n/1000))
			b.Logf("%s of %d leads: %.2f s, %.1f MB, server peak RSS %.1f MB", path, n, took.Seconds(), float64(bytes)/(1<<20), float64(peakRSS(b, pid))/(1<<20))
		}
	}
}
