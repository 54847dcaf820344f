package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/crmteam/crm/store/storetest"
)

// BenchmarkImport imports CSV files of 10,000 and 100,000 rows through a real
// `crm serve` (its own worker runs the job) and reports the time from the
// upload to the job's end, and the server's peak RSS after each: memory is
// flat when the peak at 100,000 is about the one at 10,000. Duplicates are
// matched (the default policy, skip) against the leads already there. Target:
// 100,000 rows under 10 s.
func BenchmarkImport(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "crm")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for range b.N {
		benchImport(b, bin)
	}
}

func benchImport(b *testing.B, bin string) {
	dbURL := storetest.NewDB(b)
	token := benchTokens(b, dbURL, 1)[0]
	base, pid := startServe(b, bin, "DATABASE_URL="+dbURL, "REDIS_URL="+storetest.NewRedisURL(b), "WORKER=true")
	client := &http.Client{Transport: bearer{token, &http.Transport{}}}
	stages := []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won"}
	for _, n := range []int{10_000, 100_000} {
		path := filepath.Join(b.TempDir(), fmt.Sprintf("leads-%d.csv", n))
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		fmt.Fprintln(w, "Full name,Company name,E-mail,Phone number,Deal value,Stage,Lead source,Notes")
		for i := range n {
			fmt.Fprintf(w, "Lead %d-%d,Company %d,lead%d-%d@example.com,+1-555-%04d,\"$%d,%03d.50\",%s,Website,\"Some notes about lead %d\"\n",
				n, i, i%97, n, i, i%10000, i/1000, i%1000, stages[i%len(stages)], i)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		size, _ := f.Seek(0, 1)
		f.Close()
		body, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/imports/?file_name=leads.csv", body)
		req.Header.Set("Content-Type", "text/csv")
		res, err := client.Do(req)
		body.Close()
		if err != nil {
			b.Fatal(err)
		}
		var imp map[string]any
		_ = json.NewDecoder(res.Body).Decode(&imp)
		res.Body.Close()
		if res.StatusCode != http.StatusAccepted {
			b.Fatalf("import of %d rows: %d %v", n, res.StatusCode, imp)
		}
		uploaded := time.Since(start)
		url := base + imp["url"].(string)
		for {
			res, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			imp = nil
			_ = json.NewDecoder(res.Body).Decode(&imp)
			res.Body.Close()
			if imp["state"] != "queued" && imp["state"] != "running" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		took := time.Since(start)
		if imp["state"] != "done" || imp["created"] != float64(n) {
			b.Fatalf("import of %d rows: %v", n, imp)
		}
		rss := float64(peakRSS(b, pid)) / (1 << 20)
		b.ReportMetric(took.Seconds(), fmt.Sprintf("s/import_%dk", n/1000))
		b.ReportMetric(rss, fmt.Sprintf("peakRSS_MB/import_%dk", n/1000))
		b.Logf("import of %d rows (%.1f MB): %.2f s (upload and checks %.2f s), server peak RSS %.1f MB",
			n, float64(size)/(1<<20), took.Seconds(), uploaded.Seconds(), rss)
	}
}
