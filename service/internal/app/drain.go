package app

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connTracker follows the public server's connections (its ConnState hook)
// to tell when none is in the middle of a request. The hook runs twice per
// request (active, then idle), so it takes no lock and reads the clock only
// when a connection stops being busy.
type connTracker struct {
	// conns holds each open connection's busy flag: the hook learns only
	// the new state, and a connection closed while idle was not busy.
	conns sync.Map // net.Conn -> *atomic.Bool
	busy  atomic.Int64
	// lastIdle is when a connection last stopped being busy (nanoseconds
	// since start on the monotonic clock), or never.
	lastIdle atomic.Int64
	start    time.Time
}

// never is lastIdle before any connection was busy.
const never = math.MinInt64

func newConnTracker() *connTracker {
	t := &connTracker{start: time.Now()}
	t.lastIdle.Store(never)
	return t
}

// observe is the server's ConnState hook: a new or active connection is
// busy; an idle, closed or hijacked one is not. net/http calls it for one
// connection at a time, in order.
func (t *connTracker) observe(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		b := new(atomic.Bool)
		b.Store(true)
		t.conns.Store(c, b)
		t.busy.Add(1)
	case http.StateActive:
		if b, ok := t.conns.Load(c); ok && !b.(*atomic.Bool).Swap(true) {
			t.busy.Add(1)
		}
	case http.StateIdle:
		if b, ok := t.conns.Load(c); ok {
			t.leave(b.(*atomic.Bool))
		}
	default: // closed or hijacked
		if b, ok := t.conns.LoadAndDelete(c); ok {
			t.leave(b.(*atomic.Bool))
		}
	}
}

// leave marks a connection not busy. The time is stored before the count
// drops, so quiet never sees no busy connection with an older time.
func (t *connTracker) leave(b *atomic.Bool) {
	if b.Swap(false) {
		t.lastIdle.Store(int64(time.Since(t.start)))
		t.busy.Add(-1)
	}
}

// quiet reports whether no connection has been busy for at least d.
func (t *connTracker) quiet(d time.Duration) bool {
	if t.busy.Load() != 0 {
		return false
	}
	last := t.lastIdle.Load()
	return last == never || time.Since(t.start)-time.Duration(last) >= d
}

// waitQuiet waits until no connection has been busy for d, or ctx ends.
func (t *connTracker) waitQuiet(ctx context.Context, d time.Duration) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !t.quiet(d) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// onceCloser is a listener the drain closes before the server's Shutdown
// does; the second Close is not an error.
type onceCloser struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloser) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	if errors.Is(l.err, net.ErrClosed) {
		return nil
	}
	return l.err
}

// stopKeepAlives ends the drain without dropping a request: the listener
// closes first (a client that connects now is refused and goes elsewhere;
// keep-alive clients are not reconnecting, so nothing waits in the kernel's
// queue to be reset), then every answer says Connection: close, so each
// keep-alive client leaves after its next answer instead of being cut while
// idle by Shutdown just as it sends, then it waits until no connection has
// been busy for quietFor. Shutdown afterwards closes only connections idle
// that long.
func stopKeepAlives(ctx context.Context, l net.Listener, r *Readiness, t *connTracker, quietFor time.Duration) error {
	err := l.Close()
	r.stopKeepAlives()
	t.waitQuiet(ctx, quietFor)
	return err
}
