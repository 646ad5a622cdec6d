package timeseries

import (
	"sync"
	"testing"
	"time"
)

func TestPoints(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		observe func(r *Ring)
		now     time.Time
		check   func(t *testing.T, pts []Point)
	}{
		{
			name:    "an idle ring has empty points ending now",
			observe: func(*Ring) {},
			now:     t0.Add(5 * time.Second),
			check: func(t *testing.T, pts []Point) {
				if len(pts) != 6 {
					t.Fatalf("len = %d, want 6", len(pts))
				}
				if got := pts[5].Start; !got.Equal(t0) {
					t.Errorf("newest bucket starts %s, want %s", got, t0)
				}
				for _, p := range pts {
					if p.Requests != 0 || p.HasDatabase {
						t.Errorf("idle point %+v", p)
					}
				}
			},
		},
		{
			name: "rate, error ratio and p95 of one full bucket",
			observe: func(r *Ring) {
				for i := range 100 {
					took := 3 * time.Millisecond // in (2, 5]
					if i >= 90 {
						took = 40 * time.Millisecond // in (25, 50]
					}
					r.ObserveRequest(t0.Add(time.Duration(i)*time.Millisecond), took, i%10 == 0)
				}
			},
			now: t0.Add(10 * time.Second),
			check: func(t *testing.T, pts []Point) {
				p := pts[len(pts)-2]
				if p.Requests != 100 || p.Rate != 10 {
					t.Errorf("requests %d rate %v, want 100 and 10/s", p.Requests, p.Rate)
				}
				if p.ErrorRatio != 0.1 {
					t.Errorf("error ratio %v, want 0.1", p.ErrorRatio)
				}
				// rank 95 is the 5th of 10 samples in (25, 50]: 25 + 25*5/10.
				if p.P95 != 37500*time.Microsecond {
					t.Errorf("p95 %s, want 37.5ms", p.P95)
				}
			},
		},
		{
			name: "old buckets are recycled, not summed",
			observe: func(r *Ring) {
				r.ObserveRequest(t0, time.Millisecond, false)
				r.ObserveRequest(t0.Add(60*time.Second), time.Millisecond, false) // same ring slot, 6 steps later
			},
			now: t0.Add(60 * time.Second),
			check: func(t *testing.T, pts []Point) {
				var total uint64
				for _, p := range pts {
					total += p.Requests
				}
				if total != 1 {
					t.Errorf("requests in window %d, want 1", total)
				}
			},
		},
		{
			name: "database latency is a mean per bucket",
			observe: func(r *Ring) {
				r.ObserveDatabase(t0, 2*time.Millisecond)
				r.ObserveDatabase(t0.Add(time.Second), 4*time.Millisecond)
			},
			now: t0.Add(2 * time.Second),
			check: func(t *testing.T, pts []Point) {
				p := pts[len(pts)-1]
				if !p.HasDatabase || p.Database != 3*time.Millisecond {
					t.Errorf("database %s (%v), want 3ms", p.Database, p.HasDatabase)
				}
			},
		},
		{
			name: "requests slower than every bound report the last bound",
			observe: func(r *Ring) {
				r.ObserveRequest(t0, time.Minute, true)
			},
			now: t0,
			check: func(t *testing.T, pts []Point) {
				if p := pts[len(pts)-1]; p.P95 != 10*time.Second || p.ErrorRatio != 1 {
					t.Errorf("p95 %s ratio %v", p.P95, p.ErrorRatio)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(10*time.Second, 6)
			tc.observe(r)
			tc.check(t, r.Points(tc.now))
		})
	}
}

func TestConcurrentObservers(t *testing.T) {
	r := New(time.Second, 4)
	now := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				r.ObserveRequest(now, time.Millisecond, false)
			}
		})
	}
	wg.Wait()
	if got := r.Points(now)[3].Requests; got != 8000 {
		t.Fatalf("requests %d, want 8000", got)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	r := New(10*time.Second, 60)
	now := time.Now()
	for b.Loop() {
		r.ObserveRequest(now, 3*time.Millisecond, false)
	}
}
