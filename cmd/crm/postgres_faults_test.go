//go:build faults

package main

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crmteam/crm/store/storetest"
)

// loadStats counts the answers a load got, by status, and keeps the bodies of
// the ones that were not 200.
type loadStats struct {
	mu     sync.Mutex
	counts map[int]int
	bad    []string // answers other than 200 and 503, and transport errors
	bodies map[string]int
}

func (s *loadStats) add(status int, body string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.bad = append(s.bad, err.Error())
	case status == 200:
	case status == http.StatusServiceUnavailable:
		s.bodies[body]++
	default:
		s.bad = append(s.bad, fmt.Sprintf("%d %s", status, body))
	}
	s.counts[status]++
}

func (s *loadStats) count(status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[status]
}

// PostgreSQL is restarted while clients move leads and read the board. Requests
// in flight fail cleanly with 503 (never a 500, never a partial move: every
// column stays 0..n-1 and no lead is lost or doubled), the pool reconnects by
// itself and requests succeed again once the database is back.
func TestFaultPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	env := crmEnv(pg.URL("crm"), storetest.NewRedisURL(t))
	env["WORKER"] = "false"
	srv := startCRM(t, "serve", "serve", env)
	srv.waitReady("/readyz?check=postgres,redis")
	base := srv.base
	api := apiClient(t, pg.URL("crm"), "pg-api")

	stages := []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation"}
	var ids []string
	for i := range 32 {
		ids = append(ids, api.createLead(base, fmt.Sprintf(`{"name":"Lead %02d","status":%q}`, i, stages[i%len(stages)])))
	}
	connsBefore := srv.metric("crm_db_pool_new_conns_total", nil)

	stats := &loadStats{counts: map[int]int{}, bodies: map[string]int{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			c := newClient(t, api.token)
			c.http.Timeout = 30 * time.Second
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var r reply
				var err error
				if i%4 == 3 {
					r, err = c.try("GET", base+"/leads/", "")
				} else {
					body := fmt.Sprintf(`{"status":%q,"card_order":%d}`, stages[rng.IntN(len(stages))], rng.IntN(10))
					r, err = c.try("PUT", base+"/leads/"+ids[rng.IntN(len(ids))]+"/status/", body)
				}
				stats.add(r.status, string(r.body), err)
				if r.status != 200 {
					time.Sleep(20 * time.Millisecond) // do not spin while the database is down
				}
			}
		})
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopLoad)

	waitFor(t, 60*time.Second, "requests under load before the restart", func() error {
		if n := stats.count(200); n < 100 {
			return fmt.Errorf("%d answered", n)
		}
		return nil
	})
	pg.stop()
	waitFor(t, 30*time.Second, "503s while PostgreSQL is down", func() error {
		if n := stats.count(http.StatusServiceUnavailable); n < 10 {
			return fmt.Errorf("%d answered 503", n)
		}
		return nil
	})
	if r := api.do("GET", base+"/", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET / with PostgreSQL down: got %d, want 503", r.status)
	}
	if r := api.do("GET", base+"/readyz", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with PostgreSQL down: got %d %s, want 503", r.status, r.body)
	}
	okBefore := stats.count(200)
	pg.start()
	waitFor(t, 30*time.Second, "service back after PostgreSQL restarted", func() error {
		r, err := api.try("GET", base+"/leads/", "")
		if err != nil {
			return err
		}
		if r.status != 200 {
			return fmt.Errorf("GET /leads/: %d %s", r.status, r.body)
		}
		return nil
	})
	waitFor(t, 60*time.Second, "requests under load after the restart", func() error {
		if n := stats.count(200) - okBefore; n < 100 {
			return fmt.Errorf("%d answered since", n)
		}
		return nil
	})
	stopLoad()

	stats.mu.Lock()
	bad, bodies, counts := stats.bad, stats.bodies, stats.counts
	stats.mu.Unlock()
	t.Logf("answers by status: %v", counts)
	if len(bad) > 0 {
		t.Errorf("answers other than 200 and 503: got %d, want 0; first: %q", len(bad), bad[:min(5, len(bad))])
	}
	for body, n := range bodies {
		if body != `{"error":"the database is unavailable, try again shortly"}`+"\n" {
			t.Errorf("503 body (%d times): got %q, want the database-unavailable message", n, body)
		}
	}
	n, names := checkColumns(t, api.board(base))
	if n != len(ids) {
		t.Errorf("leads after the restart: got %d, want %d: %v", n, len(ids), names)
	}
	for i := range ids {
		if got := countName(names, fmt.Sprintf("Lead %02d", i)); got != 1 {
			t.Errorf("leads named Lead %02d: got %d, want 1", i, got)
		}
	}
	srv.waitReady("/readyz?check=postgres,redis")
	if after := srv.metric("crm_db_pool_new_conns_total", nil); after <= connsBefore {
		t.Errorf("crm_db_pool_new_conns_total: got %v after the restart, want more than %v (the pool reconnected)", after, connsBefore)
	}
}
