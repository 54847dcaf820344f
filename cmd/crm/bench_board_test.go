package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// BenchmarkBoardMove measures a move on the board at 2,000 leads as the browser
// makes it: POST /board/leads/{id}/move from htmx, answered with the message and
// the two columns re-rendered (their first 50 cards, counts and totals). One
// client on loopback, so the latency is the server's time. Target: p50 under
// 150 ms. Also the board page itself (GET /, 300 cards), for scale.
func BenchmarkBoardMove(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "crm")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for range b.N {
		benchBoardMove(b, bin, 2000)
	}
}

func benchBoardMove(b *testing.B, bin string, nLeads int) {
	ctx := context.Background()
	dbURL := storetest.NewDB(b)
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
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
	user, err := st.CreateUser(ctx, store.NewUser{Email: "bench@example.com", Name: "Bench", Password: "correct horse battery staple", Role: store.RoleMember})
	if err != nil {
		b.Fatal(err)
	}
	_, token, err := st.CreateAPIToken(ctx, user.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}

	base, _, stop := serveBench(b, bin, dbURL)
	defer stop()
	client := &http.Client{Transport: bearer{token, &http.Transport{MaxIdleConnsPerHost: 4}}}

	page := load(b, 1, 30, func(int, *rand.Rand) (*http.Request, int) {
		req, _ := http.NewRequest("GET", base+"/", nil)
		return req, 200
	}, client)

	ids := leadIDs(b, st)
	stages := []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}
	moves := load(b, 1, 200, func(_ int, rng *rand.Rand) (*http.Request, int) {
		form := url.Values{"status": {stages[rng.IntN(6)]}, "order": {strconv.Itoa(rng.IntN(20))},
			"from": {stages[rng.IntN(6)]}, "from_order": {"0"}}
		req, _ := http.NewRequest("POST", base+"/board/leads/"+ids[rng.IntN(len(ids))]+"/move", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("HX-Request", "true")
		return req, 200
	}, client)

	b.ReportMetric(ms(moves.p50), "board_move_p50_ms")
	b.ReportMetric(ms(moves.p99), "board_move_p99_ms")
	b.ReportMetric(ms(page.p50), "board_page_p50_ms")
	fmt.Printf("\n%d leads on the board\n", nLeads)
	fmt.Printf("  POST /board/leads/{id}/move  p50 %6.2f ms  p99 %6.2f ms  (1 client, htmx; target p50 < 150 ms)\n", ms(moves.p50), ms(moves.p99))
	fmt.Printf("  GET / (the board page)       p50 %6.2f ms  p99 %6.2f ms  (1 client)\n", ms(page.p50), ms(page.p99))
}
