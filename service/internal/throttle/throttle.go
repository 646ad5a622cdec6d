// Package throttle limits how often a key (a client address) may do something,
// with one token bucket per key and idle buckets swept away.
package throttle

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a set of token buckets keyed by string.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	every   time.Duration
	burst   int
	maxKeys int
	now     func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New allows burst attempts at once per key, refilled at one per every.
func New(every time.Duration, burst int) *Limiter {
	return &Limiter{buckets: map[string]*bucket{}, every: every, burst: burst, maxKeys: 100_000, now: time.Now}
}

// Allow consumes one attempt for key; when none is left it reports how long
// until the next one.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops buckets idle long enough to be full again: forgetting them
// changes nothing. If that frees nothing the oldest half goes, bounding memory.
func (l *Limiter) sweep(now time.Time) {
	full := l.every * time.Duration(l.burst)
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.maxKeys {
		return
	}
	n := 0
	for k := range l.buckets {
		delete(l.buckets, k)
		if n++; n >= l.maxKeys/2 {
			break
		}
	}
}
