package app

import (
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestConnTrackerFollowsBusyConnections drives the ConnState hook through
// the orders net/http calls it in and checks what the drain would decide.
func TestConnTrackerFollowsBusyConnections(t *testing.T) {
	type step struct {
		conn  int
		state http.ConnState
	}
	tests := []struct {
		name  string
		steps []step
		busy  int64
		// quiet is whether no connection is busy and the last one to stop
		// being busy did so long enough ago (here: at once for "never").
		quiet bool
	}{
		{name: "no connection yet", quiet: true},
		{name: "accepted, nothing read yet", steps: []step{{1, http.StateNew}}, busy: 1},
		{name: "in a request", steps: []step{{1, http.StateNew}, {1, http.StateActive}}, busy: 1},
		{name: "between requests", steps: []step{{1, http.StateNew}, {1, http.StateActive}, {1, http.StateIdle}}},
		{name: "next request on the same connection",
			steps: []step{{1, http.StateNew}, {1, http.StateActive}, {1, http.StateIdle}, {1, http.StateActive}}, busy: 1},
		{name: "closed while idle is not counted twice",
			steps: []step{{1, http.StateNew}, {1, http.StateActive}, {1, http.StateIdle}, {1, http.StateClosed}}},
		{name: "closed in a request", steps: []step{{1, http.StateNew}, {1, http.StateActive}, {1, http.StateClosed}}},
		{name: "closed before its first request", steps: []step{{1, http.StateNew}, {1, http.StateClosed}}},
		{name: "hijacked", steps: []step{{1, http.StateNew}, {1, http.StateActive}, {1, http.StateHijacked}}},
		{name: "one of two still busy",
			steps: []step{{1, http.StateNew}, {2, http.StateNew}, {1, http.StateActive}, {2, http.StateActive}, {1, http.StateIdle}},
			busy:  1},
		{name: "a state for a connection it never saw",
			steps: []step{{1, http.StateActive}, {1, http.StateIdle}, {1, http.StateClosed}}, quiet: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newConnTracker()
			conns := map[int]net.Conn{}
			for _, s := range tt.steps {
				if conns[s.conn] == nil {
					c, peer := net.Pipe()
					t.Cleanup(func() { c.Close(); peer.Close() })
					conns[s.conn] = c
				}
				tr.observe(conns[s.conn], s.state)
			}
			if got := tr.busy.Load(); got != tt.busy {
				t.Errorf("busy = %d, want %d", got, tt.busy)
			}
			// A connection that just stopped being busy keeps the drain
			// waiting for d; without any it is quiet at once.
			if got := tr.quiet(time.Hour); got != tt.quiet {
				t.Errorf("quiet(1h) = %t, want %t", got, tt.quiet)
			}
			if tt.busy == 0 {
				if !tr.quiet(0) {
					t.Error("quiet(0) = false with no busy connection")
				}
			} else if tr.quiet(0) {
				t.Error("quiet(0) = true with a busy connection")
			}
		})
	}
}

// TestConnTrackerConcurrentConnections: many connections, each going
// through its states on its own goroutine as net/http's do, are all counted
// while in a request, leave nothing busy once closed and the tracker quiet
// after the wait.
func TestConnTrackerConcurrentConnections(t *testing.T) {
	tr := newConnTracker()
	var wg, served sync.WaitGroup
	closing := make(chan struct{})
	for range 16 {
		c, peer := net.Pipe()
		t.Cleanup(func() { c.Close(); peer.Close() })
		tr.observe(c, http.StateNew)
		served.Add(1)
		wg.Go(func() {
			for range 500 {
				tr.observe(c, http.StateActive)
				tr.observe(c, http.StateIdle)
			}
			// Busy again, and held there until every connection is.
			tr.observe(c, http.StateActive)
			served.Done()
			<-closing
			tr.observe(c, http.StateClosed)
		})
	}
	served.Wait()
	if got := tr.busy.Load(); got != 16 {
		t.Errorf("busy = %d with 16 connections in a request, want 16", got)
	}
	if tr.quiet(0) {
		t.Error("quiet with connections in a request")
	}
	close(closing)
	wg.Wait()
	if got := tr.busy.Load(); got != 0 {
		t.Fatalf("busy = %d after every connection closed", got)
	}
	if tr.quiet(time.Hour) {
		t.Error("quiet(1h) right after the last request")
	}
	time.Sleep(20 * time.Millisecond)
	if !tr.quiet(10 * time.Millisecond) {
		t.Error("not quiet 20ms after the last request, with d = 10ms")
	}
}

// BenchmarkConnTracker is what the hook costs a keep-alive request: one
// call when it starts and one when it ends.
func BenchmarkConnTracker(b *testing.B) {
	tr := newConnTracker()
	c, peer := net.Pipe()
	b.Cleanup(func() { c.Close(); peer.Close() })
	tr.observe(c, http.StateNew)
	b.ReportAllocs()
	for b.Loop() {
		tr.observe(c, http.StateActive)
		tr.observe(c, http.StateIdle)
	}
}
