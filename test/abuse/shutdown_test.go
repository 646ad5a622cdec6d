package abuse

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The drop at shutdown (issue 19, item 6): under load, SIGTERM closed one
// connection without an answer. The load here is what a load balancer
// sends: keep-alive clients that reconnect whenever the server closes their
// connection, sending without pause through the drain.
const (
	shutdownClients = 16
	shutdownRounds  = 2
	// shutdownDelay is the drain's SHUTDOWN_DELAY (production: 5 s).
	shutdownDelay = 2 * time.Second
)

// loadTally is what the load saw of one shutdown.
type loadTally struct {
	answered, answeredDraining atomic.Int64
	refused                    atomic.Int64 // connect refused: nothing was sent, the client may go elsewhere
	dropped                    atomic.Int64 // a request sent that never got an answer
	dropErrs                   sync.Map
}

// loadClient sends GET /healthz on one connection at a time until stop,
// reconnecting when the server closes it; a request written whose answer
// never comes is a drop.
func loadClient(addr string, stop <-chan struct{}, draining *atomic.Bool, tally *loadTally) {
	var (
		conn net.Conn
		br   *bufio.Reader
	)
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", addr, 3*time.Second)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					tally.refused.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				// A connect that timed out sent nothing either.
				continue
			}
			conn, br = c, bufio.NewReader(c)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: load\r\n\r\n"); err != nil {
			tally.dropped.Add(1)
			tally.dropErrs.Store("write: "+err.Error(), true)
			_ = conn.Close()
			conn = nil
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			tally.dropped.Add(1)
			tally.dropErrs.Store("read: "+err.Error(), true)
			_ = conn.Close()
			conn = nil
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		tally.answered.Add(1)
		if draining.Load() {
			tally.answeredDraining.Add(1)
		}
		if resp.Close {
			_ = conn.Close()
			conn = nil
		}
	}
}

// healthzLines counts the access lines of GET /healthz answered 200 in log.
func healthzLines(t *testing.T, log string) int64 {
	t.Helper()
	var n int64
	for line := range strings.Lines(log) {
		var v struct {
			Msg, Path string
			Status    int
		}
		if json.Unmarshal([]byte(line), &v) == nil && v.Msg == "request" && v.Path == "/healthz" && v.Status == http.StatusOK {
			n++
		}
	}
	return n
}

func TestShutdownUnderLoadDropsNothing(t *testing.T) {
	st := newStack(t)
	env := st.env.With(map[string]string{"SHUTDOWN_DELAY": shutdownDelay.String()})
	for round := range shutdownRounds {
		srv := st.bin.Serve(t, env)
		tally := &loadTally{}
		stop := make(chan struct{})
		var draining atomic.Bool
		var wg sync.WaitGroup
		for range shutdownClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				loadClient(srv.HTTPAddr, stop, &draining, tally)
			}()
		}
		time.Sleep(time.Second)
		before := tally.answered.Load()
		draining.Store(true)
		srv.Signal(t, syscall.SIGTERM)
		code := srv.Wait(t, 30*time.Second)
		close(stop)
		wg.Wait()
		var errs []string
		tally.dropErrs.Range(func(k, _ any) bool { errs = append(errs, k.(string)); return true })
		t.Logf("round %d: %d answered before SIGTERM, %d while draining, %d connects refused after the listener closed, %d dropped %v; exit %d",
			round+1, before, tally.answeredDraining.Load(), tally.refused.Load(), tally.dropped.Load(), errs, code)
		require.Zero(t, code, "a clean exit after SIGTERM")
		assert.Positive(t, before, "the load ran before SIGTERM")
		assert.Positive(t, tally.answeredDraining.Load(), "requests are answered through the drain")
		assert.Zero(t, tally.dropped.Load(), "round %d: no request that reached the server goes unanswered: %v", round+1, errs)
		// The binary batches access lines (a few milliseconds); the batch
		// still waiting at the exit is written before it.
		assert.GreaterOrEqual(t, healthzLines(t, srv.Log()), tally.answered.Load(),
			"round %d: every answered request has its access line in the log after the exit", round+1)
	}
}
