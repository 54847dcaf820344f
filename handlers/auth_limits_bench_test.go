package handlers

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/store/storetest"
)

// BenchmarkLimiter is the cost of one rate-limit check: in memory, and in
// Redis (one EVALSHA round trip to a local redis-server), which every API
// request and sign-in pays.
func BenchmarkLimiter(b *testing.B) {
	opt, err := redis.ParseURL(storetest.NewRedisURL(b))
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	b.Cleanup(func() { rdb.Close() })
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
	}{{"memory", nil}, {"redis", rdb}} {
		b.Run(tc.name, func(b *testing.B) {
			l := newLimiter(Rate{N: 1 << 30, Per: time.Second}, "bench", tc.rdb, nil)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if ok, _ := l.allow(ctx, strconv.Itoa(i%1000)); !ok {
					b.Fatal("refused")
				}
				i++
			}
		})
	}
}
