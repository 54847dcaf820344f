package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// BenchmarkServer measures the real binary over HTTP at 1,000 and 10,000 leads:
// GET /leads/, POST /leads/ and status moves from concurrent clients (requests per
// second, p50 and p99 latency), the server's peak RSS, and the bare query behind
// GET /leads/ plus JSON encoding, for the ratio. Run it with `make bench`.
func BenchmarkServer(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "crm")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	sizes := []int{1000, 10000}
	if v := os.Getenv("BENCH_LEADS"); v != "" { // e.g. BENCH_LEADS=1000 for one size
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("BENCH_LEADS: %v", err)
		}
		sizes = []int{n}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("leads=%d", n), func(b *testing.B) {
			for range b.N {
				benchServer(b, bin, n)
			}
		})
	}
}

func benchServer(b *testing.B, bin string, nLeads int) {
	ctx := context.Background()
	dbURL := storetest.NewDB(b)
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	// Seed nLeads spread evenly over the six stages, each column 0..n-1.
	_, err = pool.Exec(ctx, `
		INSERT INTO leads (name, company, email, phone, value, notes, status, source, card_order)
		SELECT 'Lead ' || i, 'Company ' || (i % 97), 'lead' || i || '@example.com', '+1-555-' || lpad((i % 10000)::text, 4, '0'),
		       (i % 500) * 100 + 0.5, 'Some notes about lead ' || i, s.name, 'Website', (i / 6) * 1048576
		FROM generate_series(0, $1 - 1) AS i
		JOIN stages s ON s.position = i % 6`, nLeads)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE leads"); err != nil {
		b.Fatal(err)
	}
	st := store.New(pool)
	// The API needs a token; the per-token rate limit is off for the load below.
	user, err := st.CreateUser(ctx, store.NewUser{Email: "bench@example.com", Name: "Bench", Password: "correct horse battery staple", Role: store.RoleMember})
	if err != nil {
		b.Fatal(err)
	}
	_, token, err := st.CreateAPIToken(ctx, user.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}

	// The bare query plus encoding, in process.
	const bareRounds = 50
	start := time.Now()
	var bareBytes int
	for range bareRounds {
		board, err := st.ListBoard(ctx, store.BoardQuery{})
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		for _, c := range board.Columns {
			if err := json.NewEncoder(&buf).Encode(c.Leads); err != nil {
				b.Fatal(err)
			}
		}
		bareBytes = buf.Len()
	}
	bare := time.Since(start) / bareRounds

	serverURL := dbURL
	if n := os.Getenv("BENCH_POOL"); n != "" { // compare pool sizes: BENCH_POOL=4
		serverURL += "&pool_max_conns=" + n
	}
	base, cmd, stop := serveBench(b, bin, serverURL)
	defer stop()

	client := &http.Client{Transport: bearer{token, &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}}
	gzClient := &http.Client{Transport: bearer{token, &http.Transport{MaxIdleConnsPerHost: 64}}}

	getOne := load(b, 1, 200, func(int, *rand.Rand) (*http.Request, int) {
		req, _ := http.NewRequest("GET", base+"/leads/", nil)
		return req, 200
	}, client)
	get := load(b, 8, 400, func(int, *rand.Rand) (*http.Request, int) {
		req, _ := http.NewRequest("GET", base+"/leads/", nil)
		return req, 200
	}, client)
	getGzip := load(b, 8, 400, func(int, *rand.Rand) (*http.Request, int) {
		req, _ := http.NewRequest("GET", base+"/leads/", nil)
		return req, 200
	}, gzClient)

	ids := leadIDs(b, st)
	stages := []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}
	perCol := nLeads / 6

	// An unchanged board read by 16 clients: served from the cache of its
	// version (handlers/boardcache.go); then 304s for clients that send the
	// ETag they have.
	nReads := 4000
	if nLeads > 1000 {
		nReads = 400
	}
	get16 := load(b, 16, nReads, func(int, *rand.Rand) (*http.Request, int) {
		req, _ := http.NewRequest("GET", base+"/leads/", nil)
		return req, 200
	}, client)
	etag := func() string {
		res, err := client.Get(base + "/leads/")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.Header.Get("ETag")
	}()
	notModified := func(int, *rand.Rand) (*http.Request, int) {
		req, _ := http.NewRequest("GET", base+"/leads/", nil)
		req.Header.Set("If-None-Match", etag)
		return req, http.StatusNotModified
	}
	get304One := load(b, 1, 1000, notModified, client)
	get304 := load(b, 16, 8000, notModified, client)
	// The same 16 readers while one client keeps moving cards: every move
	// makes a new board version, so reads rebuild the board between moves.
	stopMoving := make(chan struct{})
	movedWhileRead := make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(1, 2))
		n := 0
		defer func() { movedWhileRead <- n }()
		for {
			select {
			case <-stopMoving:
				return
			default:
			}
			body := fmt.Sprintf(`{"status":%q,"card_order":%d}`, stages[rng.IntN(6)], rng.IntN(perCol))
			req, _ := http.NewRequest("PUT", base+"/leads/"+ids[rng.IntN(len(ids))]+"/status/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			n++
		}
	}()
	getChanging := load(b, 16, nReads/4, func(int, *rand.Rand) (*http.Request, int) {
		req, _ := http.NewRequest("GET", base+"/leads/", nil)
		return req, 200
	}, client)
	close(stopMoving)
	changes := <-movedWhileRead
	// Each move shifts a share of its columns, so its cost grows with the board:
	// fewer moves at 10,000 leads keep the run to minutes.
	nMoves := 8000
	if nLeads > 1000 {
		nMoves = 1500
	}
	moves := load(b, 16, nMoves, func(_ int, rng *rand.Rand) (*http.Request, int) {
		body := fmt.Sprintf(`{"status":%q,"card_order":%d}`, stages[rng.IntN(6)], rng.IntN(perCol))
		req, _ := http.NewRequest("PUT", base+"/leads/"+ids[rng.IntN(len(ids))]+"/status/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req, 200
	}, client)
	checkOrder(b, st, pool, nLeads)
	const posts = 2000
	post := load(b, 8, posts, func(i int, rng *rand.Rand) (*http.Request, int) {
		body := fmt.Sprintf(`{"name":"Bench %d","company":"Acme","value":1200.5,"status":%q}`, i, stages[rng.IntN(6)])
		req, _ := http.NewRequest("POST", base+"/leads/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req, 201
	}, client)
	rss := peakRSS(b, cmd.Process.Pid)
	checkOrder(b, st, pool, nLeads+posts)

	ratio := float64(getOne.p50) / float64(bare)
	b.ReportMetric(ms(getOne.p50), "get_1client_p50_ms")
	b.ReportMetric(get.rps, "get_req/s")
	b.ReportMetric(ms(get.p50), "get_p50_ms")
	b.ReportMetric(ms(get.p99), "get_p99_ms")
	b.ReportMetric(ms(bare), "bare_query+encode_ms")
	b.ReportMetric(ratio, "get_p50/bare")
	b.ReportMetric(getGzip.rps, "get_gzip_req/s")
	b.ReportMetric(get16.rps, "get_16clients_req/s")
	b.ReportMetric(ms(get304One.p50), "get_304_1client_p50_ms")
	b.ReportMetric(ms(get304.p50), "get_304_p50_ms")
	b.ReportMetric(getChanging.rps, "get_changing_req/s")
	b.ReportMetric(post.rps, "post_req/s")
	b.ReportMetric(ms(post.p99), "post_p99_ms")
	b.ReportMetric(moves.rps, "moves/s")
	b.ReportMetric(ms(moves.p50), "move_p50_ms")
	b.ReportMetric(ms(moves.p99), "move_p99_ms")
	b.ReportMetric(float64(rss)/(1<<20), "server_peak_rss_MB")
	fmt.Printf("\n%d leads (GET /leads/ body %d KB)\n", nLeads, bareBytes/1024)
	fmt.Printf("  GET /leads/        %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (1 client, identity)\n", getOne.rps, ms(getOne.p50), ms(getOne.p99))
	fmt.Printf("  GET /leads/        %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (8 clients, identity)\n", get.rps, ms(get.p50), ms(get.p99))
	fmt.Printf("  GET /leads/ gzip   %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (8 clients)\n", getGzip.rps, ms(getGzip.p50), ms(getGzip.p99))
	fmt.Printf("  GET /leads/        %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (16 clients, identity, unchanged board; target >= 2,500/s)\n", get16.rps, ms(get16.p50), ms(get16.p99))
	fmt.Printf("  GET /leads/ 304    %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (1 client with If-None-Match; target p50 < 1 ms)\n", get304One.rps, ms(get304One.p50), ms(get304One.p99))
	fmt.Printf("  GET /leads/ 304    %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (16 clients with If-None-Match)\n", get304.rps, ms(get304.p50), ms(get304.p99))
	fmt.Printf("  GET /leads/        %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (16 clients while one moves cards: %d moves; target >= 300/s)\n", getChanging.rps, ms(getChanging.p50), ms(getChanging.p99), changes)
	fmt.Printf("  bare query+encode  %6.2f ms; GET p50 (1 client) / bare = %.2fx (target <= 2x at 1,000 leads)\n", ms(bare), ratio)
	fmt.Printf("  POST /leads/       %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (8 clients, random stages)\n", post.rps, ms(post.p50), ms(post.p99))
	fmt.Printf("  PUT status (moves) %7.0f req/s  p50 %6.2f ms  p99 %6.2f ms   (16 movers; target >= 1,000/s) order intact\n", moves.rps, ms(moves.p50), ms(moves.p99))
	fmt.Printf("  server peak RSS    %6.1f MB (target < 100 MB at 10,000 leads)\n", float64(rss)/(1<<20))
}

// bearer adds the API token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

type loadResult struct {
	rps      float64
	p50, p99 time.Duration
}

// load sends total requests from workers concurrent clients and measures them.
func load(b *testing.B, workers, total int, mk func(i int, rng *rand.Rand) (*http.Request, int), client *http.Client) loadResult {
	b.Helper()
	lat := make([]time.Duration, total)
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= total {
					return
				}
				req, want := mk(i, rng)
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					errc <- err
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[i] = time.Since(t0)
				if res.StatusCode != want {
					errc <- fmt.Errorf("%s %s: got %d, want %d", req.Method, req.URL.Path, res.StatusCode, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errc)
	for err := range errc {
		b.Fatal(err)
	}
	slices.Sort(lat)
	return loadResult{rps: float64(total) / elapsed.Seconds(), p50: lat[total/2], p99: lat[total*99/100]}
}

func leadIDs(b *testing.B, st *store.Store) []string {
	board, err := st.ListBoard(context.Background(), store.BoardQuery{})
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for _, c := range board.Columns {
		for _, l := range c.Leads {
			ids = append(ids, l.ID.String())
		}
	}
	return ids
}

// checkOrder fails unless the board holds want leads, no two leads of a column
// share a sort key, and the API's card_order of every lead is its index in the
// key order of its column, read from the table directly.
func checkOrder(b *testing.B, st *store.Store, pool *pgxpool.Pool, want int) {
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT status, id, card_order FROM leads ORDER BY status, card_order, id`)
	if err != nil {
		b.Fatal(err)
	}
	type keyed struct {
		id  uuid.UUID
		key int64
	}
	table := map[string][]keyed{}
	for rows.Next() {
		var status string
		var k keyed
		if err := rows.Scan(&status, &k.id, &k.key); err != nil {
			b.Fatal(err)
		}
		if col := table[status]; len(col) > 0 && col[len(col)-1].key == k.key {
			b.Fatalf("column %s: two leads share the sort key %d", status, k.key)
		}
		table[status] = append(table[status], k)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	board, err := st.ListBoard(ctx, store.BoardQuery{})
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, c := range board.Columns {
		total += len(c.Leads)
		if len(c.Leads) != len(table[c.Stage.Name]) {
			b.Fatalf("column %s: %d leads on the board, %d in the table", c.Stage.Name, len(c.Leads), len(table[c.Stage.Name]))
		}
		for i, l := range c.Leads {
			if l.CardOrder != i || l.ID != table[c.Stage.Name][i].id {
				b.Fatalf("column %s: lead %s with card_order %d at index %d; the table's key order has %s there",
					c.Stage.Name, l.ID, l.CardOrder, i, table[c.Stage.Name][i].id)
			}
		}
	}
	if total != want {
		b.Fatalf("got %d leads after the load, want %d", total, want)
	}
}

func peakRSS(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(b *testing.B, base string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatal("server did not become ready")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// serveBench starts bin as a web server (no worker, no rate limit, its own
// Redis) on dbURL and waits until it is ready. It returns the server's base
// URL, its process (for peakRSS) and stop, which interrupts it and waits.
func serveBench(b *testing.B, bin, dbURL string) (base string, cmd *exec.Cmd, stop func()) {
	addr := freeAddr(b)
	cmd = exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "REDIS_URL="+storetest.NewRedisURL(b), "LISTEN_ADDR="+addr,
		"WORKER=false", "LOG_LEVEL=error", "RATE_LIMIT_API=off")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
	base = "http://" + addr
	waitReady(b, base)
	return base, cmd, stop
}
