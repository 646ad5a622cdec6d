package abuse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/gopherops/gopherops/test/journey"
)

// The unfinished-upload attack (issue 19, item 1): many connections each
// declare a 1 MiB avatar, send all of it but the last few kilobytes, and
// stall. Before the body budget, the server read each body into memory as
// it arrived and the read deadline let every connection keep its buffer:
// 400 connections took it to 498 MiB, 600 to 731 MiB.
const (
	stalledUploads = 1000
	stalledLength  = 1 << 20
	stalledSent    = stalledLength - 4<<10
	// stalledPeakBound is the bound on the server's peak resident
	// memory through the attack, under the pod's 512 MiB limit.
	stalledPeakBound = 300 << 20
	// stalledEnd bounds how long a stalled connection is kept: a body
	// refused from the budget's wait (2 s) is answered at once, an admitted
	// one when its time to arrive runs out (5 s plus 16 s for 1 MiB).
	stalledEnd = 45 * time.Second
)

// stalledConn is one attacker connection and what became of it.
type stalledConn struct {
	conn   net.Conn
	sent   int
	status int   // the answer's status, 0 when none came
	err    error // why no answer came
}

func TestUnfinishedUploadBodies(t *testing.T) {
	st := newStack(t)
	attacker := st.newMember(t, "stall", "user")
	victim := st.newMember(t, "victim", "user")
	victim.api.do(t, uploadAvatar(victim.user, encodePNG(t, wideImage(64, 64, false), 8))).Expect(t, http.StatusOK)
	base := st.residentMemory(t)
	t.Logf("server memory before the attack: %s", base)

	head := fmt.Sprintf("PUT %s/avatar HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n",
		attacker.user.Path(), strings.TrimPrefix(st.srv.BaseURL, "http://"), attacker.api.token, stalledLength)
	body := bytes.Repeat([]byte{0x89}, stalledSent)
	conns := make([]*stalledConn, stalledUploads)
	start := time.Now()
	var g errgroup.Group
	g.SetLimit(64)
	for i := range conns {
		g.Go(func() error {
			conn, err := net.DialTimeout("tcp", strings.TrimPrefix(st.srv.BaseURL, "http://"), 10*time.Second)
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			sc := &stalledConn{conn: conn}
			conns[i] = sc
			// What the kernel does not take within the deadline stays
			// unsent: the server is not reading it, which is the point.
			_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			n, _ := conn.Write(append([]byte(head), body...))
			sc.sent = max(n-len(head), 0)
			return nil
		})
	}
	require.NoError(t, g.Wait(), "open the attacker's connections")
	t.Cleanup(func() {
		for _, sc := range conns {
			_ = sc.conn.Close()
		}
	})
	var sent int64
	for _, sc := range conns {
		sent += int64(sc.sent)
	}
	t.Logf("%d connections opened in %s, each declaring %d bytes; %d MiB sent in all", stalledUploads, time.Since(start).Round(time.Millisecond), stalledLength, sent>>20)

	// While the attack holds: every other kind of request answers, and a
	// sign-in or JSON write is never starved by uploads.
	during := st.residentMemory(t)
	st.root.get(t, "/api/v1/me").Expect(t, http.StatusOK)
	st.root.get(t, "/healthz").Expect(t, http.StatusOK)
	st.signIn(t, st.from(t), victim.cred)
	st.newMember(t, "during", "user") // a JSON write by root, and a sign-in
	t.Logf("server memory with %d stalled uploads: %s", stalledUploads, during)

	// Every connection ends: answered (503 refused from the budget, 408
	// timed out) or closed by the server, never kept and never a 2xx.
	var wg sync.WaitGroup
	for _, sc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sc.conn.SetReadDeadline(time.Now().Add(stalledEnd))
			resp, err := http.ReadResponse(bufio.NewReader(sc.conn), nil)
			if err != nil {
				sc.err = err
				return
			}
			sc.status = resp.StatusCode
			_ = resp.Body.Close()
		}()
	}
	wg.Wait()
	after := st.residentMemory(t)
	statuses, closed, kept := map[int]int{}, 0, 0
	for _, sc := range conns {
		var netErr net.Error
		switch {
		case sc.err == nil:
			statuses[sc.status]++
		case errors.As(sc.err, &netErr) && netErr.Timeout():
			kept++
		default:
			closed++ // reset or EOF: the server closed it with the body unread
		}
	}
	t.Logf("after the attack: answers %v, %d closed without an answer, %d still open after %s; server memory %s",
		statuses, closed, kept, stalledEnd, after)

	assert.Zero(t, kept, "no stalled upload may hold its connection past %s", stalledEnd)
	for status, n := range statuses {
		assert.Contains(t, []int{http.StatusServiceUnavailable, http.StatusRequestTimeout}, status,
			"%d stalled uploads answered %d: a stalled body is refused (503) or timed out (408)", n, status)
	}
	assert.Less(t, after.Peak, int64(stalledPeakBound),
		"peak resident memory under %d unfinished 1 MiB uploads must stay under %s (pod limit %s): it reached %s",
		stalledUploads, mib(stalledPeakBound), mib(podMemoryLimit), mib(after.Peak))
	require.False(t, st.srv.Exited(), "the server survived the attack")

	// Nothing was stored from the attack, and uploads work again.
	var u journey.User
	attacker.api.get(t, attacker.user.Path()).ExpectJSON(t, http.StatusOK, &u)
	assert.Nil(t, u.AvatarURL, "no stalled upload became an avatar")
	attacker.api.do(t, uploadAvatar(attacker.user, encodePNG(t, wideImage(64, 64, false), 8))).Expect(t, http.StatusOK)
}
