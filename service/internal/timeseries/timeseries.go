// Package timeseries keeps a few minutes of request and database figures in
// a fixed ring of time buckets, so the dashboard can draw small charts with
// no external monitoring system. Memory is constant: one bucket per step.
package timeseries

import (
	"math"
	"sync"
	"time"
)

// latencyBounds are the upper bounds of the latency histogram's buckets, in
// milliseconds; a p95 is interpolated inside the bucket that holds it.
var latencyBounds = [...]float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

type bucket struct {
	slot     int64 // the bucket's start as a count of steps since the Unix epoch
	requests uint64
	errors   uint64
	latency  [len(latencyBounds) + 1]uint64 // the last counts everything slower
	dbSum    time.Duration
	dbCount  uint64
}

// Ring aggregates observations into Len buckets of Step each.
type Ring struct {
	mu      sync.Mutex
	step    time.Duration
	buckets []bucket
}

// New returns a ring covering n steps of step each (n*step of history).
func New(step time.Duration, n int) *Ring {
	if step <= 0 || n < 1 {
		panic("timeseries: step and n must be positive")
	}
	return &Ring{step: step, buckets: make([]bucket, n)}
}

// Step is the width of one bucket.
func (r *Ring) Step() time.Duration { return r.step }

// Len is the number of buckets.
func (r *Ring) Len() int { return len(r.buckets) }

// at returns the bucket for t, recycling it when it holds an older slot.
// The caller holds r.mu.
func (r *Ring) at(t time.Time) *bucket {
	slot := t.UnixNano() / int64(r.step)
	b := &r.buckets[int(slot%int64(len(r.buckets)))]
	if b.slot != slot {
		*b = bucket{slot: slot}
	}
	return b
}

// ObserveRequest records one served request: how long it took and whether
// it ended in a server error (5xx).
func (r *Ring) ObserveRequest(at time.Time, took time.Duration, serverError bool) {
	ms := float64(took) / float64(time.Millisecond)
	i := 0
	for i < len(latencyBounds) && ms > latencyBounds[i] {
		i++
	}
	r.mu.Lock()
	b := r.at(at)
	b.requests++
	if serverError {
		b.errors++
	}
	b.latency[i]++
	r.mu.Unlock()
}

// ObserveDatabase records one database round trip's latency.
func (r *Ring) ObserveDatabase(at time.Time, took time.Duration) {
	r.mu.Lock()
	b := r.at(at)
	b.dbSum += took
	b.dbCount++
	r.mu.Unlock()
}

// Point is one bucket's figures. Requests is 0 for a bucket without traffic;
// HasDatabase is false when no database probe fell into it.
type Point struct {
	Start       time.Time
	Requests    uint64
	Rate        float64 // requests per second over the bucket
	ErrorRatio  float64 // 5xx responses / requests, 0 without requests
	P95         time.Duration
	Database    time.Duration // mean database latency
	HasDatabase bool
}

// Points returns the Len buckets that end at now, oldest first. The newest
// bucket is still filling, so its rate is over the part that has passed.
func (r *Ring) Points(now time.Time) []Point {
	n := int64(len(r.buckets))
	last := now.UnixNano() / int64(r.step)
	out := make([]Point, 0, n)
	r.mu.Lock()
	defer r.mu.Unlock()
	for slot := last - n + 1; slot <= last; slot++ {
		p := Point{Start: time.Unix(0, slot*int64(r.step)).UTC()}
		b := &r.buckets[int(((slot%n)+n)%n)]
		if b.slot == slot {
			span := r.step
			if slot == last {
				span = max(now.Sub(p.Start), time.Second)
			}
			p.Requests = b.requests
			p.Rate = float64(b.requests) / span.Seconds()
			if b.requests > 0 {
				p.ErrorRatio = float64(b.errors) / float64(b.requests)
				p.P95 = quantile(b.latency[:], b.requests, 0.95)
			}
			if b.dbCount > 0 {
				p.Database, p.HasDatabase = b.dbSum/time.Duration(b.dbCount), true
			}
		}
		out = append(out, p)
	}
	return out
}

// quantile interpolates the q-quantile linearly inside the histogram bucket
// that holds it; the open last bucket reports its lower bound.
func quantile(counts []uint64, total uint64, q float64) time.Duration {
	rank := q * float64(total)
	var seen float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			lo := 0.0
			if i > 0 {
				lo = latencyBounds[i-1]
			}
			if i == len(latencyBounds) {
				return msDuration(lo)
			}
			hi := latencyBounds[i]
			return msDuration(lo + (hi-lo)*math.Max(0, rank-seen)/float64(c))
		}
		seen += float64(c)
	}
	return msDuration(latencyBounds[len(latencyBounds)-1])
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
