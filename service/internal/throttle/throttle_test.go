package throttle

import (
	"testing"
	"time"
)

func TestLimiterPerKey(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(time.Minute, 3)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("10.0.0.1"); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, retry := l.Allow("10.0.0.1")
	if ok || retry <= 0 || retry > time.Minute {
		t.Fatalf("4th attempt: ok=%v retry=%v, want refused with 0 < retry <= 1m", ok, retry)
	}
	if ok, _ := l.Allow("10.0.0.2"); !ok {
		t.Fatal("another key was throttled by the first one's attempts")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.Allow("10.0.0.1"); !ok {
		t.Fatal("key still throttled after the refill interval")
	}
}

func TestLimiterBoundsMemory(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New(time.Second, 1)
	l.now = func() time.Time { return now }
	l.maxKeys = 10
	for i := 0; i < 100; i++ {
		l.Allow(string(rune('a' + i)))
	}
	if len(l.buckets) > l.maxKeys {
		t.Fatalf("%d buckets kept, limit %d", len(l.buckets), l.maxKeys)
	}
}
