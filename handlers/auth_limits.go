package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// limiter is a rate limit per key (a client address, a user, a token): a burst
// of Rate.N, refilled evenly over Rate.Per. With Redis the counts are kept
// there, so every server behind a balancer shares one limit; when Redis does
// not answer (within redisLimitTimeout) the server falls back to buckets in its
// own memory, so sign-in attempts stay limited while Redis is down, each server
// then counting on its own.
type limiter struct {
	r    Rate
	name string
	rdb  redis.UniversalClient
	mem  *memLimiter
	log  *slog.Logger
	// down is set while Redis fails, so the switch is logged once each way.
	down atomic.Bool
}

// redisLimitTimeout bounds the Redis round trip of a rate-limit check; past it
// the memory fallback decides.
const redisLimitTimeout = 300 * time.Millisecond

// newLimiter returns the limit r named name (a part of its Redis keys), kept
// in rdb, or only in memory when rdb is nil.
func newLimiter(r Rate, name string, rdb redis.UniversalClient, log *slog.Logger) *limiter {
	return &limiter{r: r, name: name, rdb: rdb, mem: newMemLimiter(r), log: log}
}

// gcra is the generic cell rate algorithm, the token bucket kept as one
// timestamp per key: the theoretical arrival time (tat) of the next event, in
// microseconds of the Redis server's clock (one clock for every server). An
// event is allowed when tat is at most (burst-1) intervals ahead of now; the
// key expires when its bucket is full again. Returns {allowed, wait in µs}.
var gcra = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat - now
if ahead > (burst - 1) * interval then
  return {0, ahead - (burst - 1) * interval}
end
local new = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000) + 1)
return {1, 0}
`)

// key is the Redis key of a limit's key: hashed, so that emails and addresses
// are not kept in Redis and every key has the same length.
func (l *limiter) key(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "crm:ratelimit:" + l.name + ":" + hex.EncodeToString(sum[:16])
}

// allow takes one event for key. When the limit is reached it takes nothing
// and says how long until the next event is allowed.
func (l *limiter) allow(ctx context.Context, key string) (bool, time.Duration) {
	if l.r.N < 0 {
		return true, 0
	}
	if l.rdb != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisLimitTimeout)
		defer cancel()
		interval := max(1, l.r.Per.Microseconds()/int64(l.r.N))
		res, err := gcra.Run(ctx, l.rdb, []string{l.key(key)}, interval, l.r.N).Int64Slice()
		if err == nil && len(res) == 2 {
			l.redisUp()
			if res[0] == 1 {
				return true, 0
			}
			return false, time.Duration(res[1]) * time.Microsecond
		}
		l.redisDown(err)
	}
	return l.mem.allow(key)
}

// reset forgets key's count: a successful sign-in starts it over.
func (l *limiter) reset(ctx context.Context, key string) {
	l.mem.reset(key)
	if l.rdb != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), redisLimitTimeout)
		defer cancel()
		if err := l.rdb.Del(ctx, l.key(key)).Err(); err != nil {
			l.redisDown(err)
		}
	}
}

func (l *limiter) redisDown(err error) {
	if !l.down.Swap(true) && l.log != nil {
		l.log.Warn("rate limits fall back to this server's memory: redis does not answer", "limit", l.name, "err", err)
	}
}

func (l *limiter) redisUp() {
	if l.down.Swap(false) && l.log != nil {
		l.log.Info("rate limits are kept in redis again", "limit", l.name)
	}
}

// memLimiter is a set of token buckets in this process's memory, one per key.
type memLimiter struct {
	r       Rate
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets is how many buckets a memLimiter keeps before it drops the full
// ones (a full bucket is the same as none), so memory stays bounded.
const maxBuckets = 10000

func newMemLimiter(r Rate) *memLimiter {
	return &memLimiter{r: r, buckets: map[string]*rate.Limiter{}}
}

func (l *memLimiter) bucket(key string, now time.Time) *rate.Limiter {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			for k, old := range l.buckets {
				if old.TokensAt(now) >= float64(old.Burst()) {
					delete(l.buckets, k)
				}
			}
		}
		b = rate.NewLimiter(rate.Every(l.r.Per/time.Duration(l.r.N)), l.r.N)
		l.buckets[key] = b
	}
	return b
}

// allow takes one event for key. When the bucket is empty it takes nothing and
// says how long until the next event is allowed.
func (l *memLimiter) allow(key string) (bool, time.Duration) {
	if l.r.N < 0 {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	res := l.bucket(key, now).ReserveN(now, 1)
	if !res.OK() {
		return false, l.r.Per
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// reset forgets key's bucket.
func (l *memLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}
