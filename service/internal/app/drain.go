package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTracker follows the public server's connections (its ConnState hook)
// to tell when none is in the middle of a request.
type connTracker struct {
	mu       sync.Mutex
	busy     map[net.Conn]struct{}
	lastBusy time.Time
}

func newConnTracker() *connTracker { return &connTracker{busy: map[net.Conn]struct{}{}} }

// observe is the server's ConnState hook: a new or active connection is
// busy; an idle, closed or hijacked one is not.
func (t *connTracker) observe(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch s {
	case http.StateNew, http.StateActive:
		t.busy[c] = struct{}{}
	default:
		delete(t.busy, c)
	}
	t.lastBusy = time.Now()
}

// quiet reports whether no connection has been busy for at least d.
func (t *connTracker) quiet(d time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.busy) == 0 && time.Since(t.lastBusy) >= d
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
