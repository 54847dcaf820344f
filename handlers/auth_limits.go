package handlers

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a set of token buckets, one per key (a client address, a user,
// a token): each allows a burst of Rate.N and refills it evenly over Rate.Per.
// Buckets live in this process's memory, so with several servers each applies
// the limits on its own.
type limiter struct {
	r       Rate
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// maxBuckets is how many buckets a limiter keeps before it drops the full ones
// (a full bucket is the same as none), so memory stays bounded.
const maxBuckets = 10000

func newLimiter(r Rate) *limiter {
	return &limiter{r: r, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) bucket(key string, now time.Time) *rate.Limiter {
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
func (l *limiter) allow(key string) (bool, time.Duration) {
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

// reset forgets key's bucket: a successful sign-in starts its count over.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}
