package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// testLimits are small, fast limits: a 1 KiB small pool, a 4 KiB large one.
func testLimits() BodyLimits {
	return BodyLimits{SmallMax: 256, Small: 1 << 10, Large: 4 << 10,
		Wait: 100 * time.Millisecond, Grace: 300 * time.Millisecond, MinRate: 1 << 20}
}

// bodyServer serves POST /upload (cap 4 KiB) and POST /json (cap 256 bytes)
// through the budget; each handler reads its body whole and answers its
// length. reads counts handlers that ran.
type bodyServer struct {
	srv    *httptest.Server
	budget *BodyBudget
	reads  atomic.Int64
}

func newBodyServer(t *testing.T, l BodyLimits) *bodyServer {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	bs := &bodyServer{budget: NewBodyBudget(l)}
	r := gin.New()
	read := func(max int64) gin.HandlerFunc {
		return func(c *gin.Context) {
			bs.reads.Add(1)
			data, err := ReadBody(c, max)
			if err != nil {
				Fail(c, err)
				return
			}
			c.String(http.StatusOK, "%d", len(data))
		}
	}
	r.POST("/upload", LimitBody(l.Large, Fail), bs.budget.Admit(l.Large, Fail), read(l.Large))
	r.POST("/json", LimitBody(l.SmallMax, Fail), bs.budget.Admit(l.SmallMax, Fail), read(l.SmallMax))
	r.GET("/json", LimitBody(l.SmallMax, Fail), bs.budget.Admit(l.SmallMax, Fail), read(l.SmallMax))
	bs.srv = httptest.NewServer(r)
	t.Cleanup(bs.srv.Close)
	return bs
}

// stall opens a connection that declares a body of declared bytes, sends
// sent of them, and stops; closing the returned connection ends it.
func (bs *bodyServer) stall(t *testing.T, path string, declared, sent int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", bs.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", path, declared)
	if _, err := conn.Write(append([]byte(head), bytes.Repeat([]byte{'a'}, sent)...)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// waitHeld waits until the pools hold what is expected.
func (bs *bodyServer) waitHeld(t *testing.T, small, large int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, l := bs.budget.InFlight()
		if s == small && l == large {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pools hold %d and %d bytes, want %d and %d", s, l, small, large)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func post(t *testing.T, url string, body []byte) (*http.Response, Problem) {
	t.Helper()
	resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p Problem
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("status %d without a problem document: %q", resp.StatusCode, raw)
		}
	}
	return resp, p
}

func TestBodyBudgetRefusesWhatItCannotHold(t *testing.T) {
	l := testLimits()
	bs := newBodyServer(t, l)
	// Four stalled uploads of 1 KiB fill the 4 KiB large pool.
	for range 4 {
		bs.stall(t, "/upload", 1024, 512)
	}
	bs.waitHeld(t, 0, 4096)
	before := bs.reads.Load()

	resp, p := post(t, bs.srv.URL+"/upload", make([]byte, 1024))
	if resp.StatusCode != http.StatusServiceUnavailable || p.Type != ProblemType("busy") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("an upload past the pool: %d %+v (Retry-After %q), want 503 busy with Retry-After", resp.StatusCode, p, resp.Header.Get("Retry-After"))
	}
	if bs.reads.Load() != before {
		t.Fatal("the refused upload reached its handler")
	}
	// Small bodies have their own pool: uploads cannot starve them.
	if resp, p := post(t, bs.srv.URL+"/json", []byte(`{"a":1}`)); resp.StatusCode != http.StatusOK {
		t.Fatalf("a small body while uploads fill theirs: %d %+v", resp.StatusCode, p)
	}
	// A stalled body is cut off once its time is up (Grace at this
	// MinRate), and its bytes go back to the pool.
	bs.waitHeld(t, 0, 0)
	if resp, p := post(t, bs.srv.URL+"/upload", make([]byte, 1024)); resp.StatusCode != http.StatusOK {
		t.Fatalf("an upload once the stalled ones timed out: %d %+v", resp.StatusCode, p)
	}
	_, peak := bs.budget.Peak()
	if peak != 4096 {
		t.Fatalf("large pool peak %d, want exactly its size", peak)
	}
}

// TestBodyBudgetPoolsBySize: a body of up to SmallMax bytes is admitted
// from the small pool whatever its route, so a small upload still goes
// through while large ones fill theirs; one byte more waits for the large.
func TestBodyBudgetPoolsBySize(t *testing.T) {
	l := testLimits()
	l.Grace = time.Minute // the stalled uploads hold the large pool throughout
	bs := newBodyServer(t, l)
	for range 4 {
		bs.stall(t, "/upload", 1024, 512)
	}
	bs.waitHeld(t, 0, l.Large)
	if resp, p := post(t, bs.srv.URL+"/upload", make([]byte, l.SmallMax)); resp.StatusCode != http.StatusOK {
		t.Fatalf("an upload of SmallMax bytes: %d %+v, want it admitted from the small pool", resp.StatusCode, p)
	}
	if resp, _ := post(t, bs.srv.URL+"/upload", make([]byte, l.SmallMax+1)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("an upload of SmallMax+1 bytes: %d, want 503 from the full large pool", resp.StatusCode)
	}
}

// TestBodyBudgetGivesTheTimeTheSizeNeeds: a body has Grace plus its size
// at MinRate to arrive, so a slow but steady upload is not cut off: here
// 50 ms plus a second for a KiB at 1 KiB/s, of which it takes a third.
func TestBodyBudgetGivesTheTimeTheSizeNeeds(t *testing.T) {
	l := testLimits()
	l.Grace, l.MinRate = 50*time.Millisecond, 1<<10
	bs := newBodyServer(t, l)
	conn := bs.stall(t, "/upload", 1024, 512)
	time.Sleep(300 * time.Millisecond)
	if _, err := conn.Write(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(raw) != "1024" {
		t.Fatalf("a KiB in 300 ms at an allowed 1 KiB/s: %d %s, want 200", resp.StatusCode, raw)
	}
}

func TestBodyBudgetTimesOutStalledBody(t *testing.T) {
	bs := newBodyServer(t, testLimits())
	conn := bs.stall(t, "/upload", 2048, 100)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(raw), ProblemType("body-timeout")) {
		t.Fatalf("a stalled body: %d %s, want 408 body-timeout", resp.StatusCode, raw)
	}
	bs.waitHeld(t, 0, 0)
}

func TestBodyBudgetChargesChunkedBodiesTheirCap(t *testing.T) {
	l := testLimits()
	bs := newBodyServer(t, l)
	conn, err := net.Dial("tcp", bs.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A chunked body declares no length: it may take up to the cap.
	if _, err := io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n"); err != nil {
		t.Fatal(err)
	}
	bs.waitHeld(t, 0, l.Large)
	if _, err := io.WriteString(conn, "0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(raw) != "16" {
		t.Fatalf("chunked body: %d %q", resp.StatusCode, raw)
	}
	bs.waitHeld(t, 0, 0)
}

func TestBodyBudgetPassesRequestsWithoutBody(t *testing.T) {
	l := testLimits()
	l.Small, l.Large = 0, 0 // nothing with a body could ever be admitted
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	b := NewBodyBudget(l)
	r.GET("/", b.Admit(0, Fail), func(c *gin.Context) { c.Status(http.StatusNoContent) })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("a request without a body: %d", w.Code)
	}
}

// TestBodyBudgetNeverQueuesRequestsWithoutBody: a request without a body
// is not admitted at all, so it never waits behind bodies queued for a full
// pool: it is answered while they still wait.
func TestBodyBudgetNeverQueuesRequestsWithoutBody(t *testing.T) {
	l := testLimits()
	l.Grace, l.Wait = time.Minute, 2*time.Second
	bs := newBodyServer(t, l)
	for range 4 { // 4 × 256 bytes fill the 1 KiB small pool
		bs.stall(t, "/json", int(l.SmallMax), 10)
	}
	bs.waitHeld(t, l.Small, 0)
	waiting := make(chan int)
	go func() {
		resp, err := http.Post(bs.srv.URL+"/json", "application/json", strings.NewReader(`{"a":1}`))
		if err != nil {
			waiting <- 0
			return
		}
		resp.Body.Close()
		waiting <- resp.StatusCode
	}()
	time.Sleep(300 * time.Millisecond) // the body above is queued by now
	req, err := http.NewRequest(http.MethodGet, bs.srv.URL+"/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case code := <-waiting:
		t.Fatalf("the request without a body was answered (%d) only after the queued body (%d)", resp.StatusCode, code)
	default:
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a request without a body: %d", resp.StatusCode)
	}
	if code := <-waiting; code != http.StatusServiceUnavailable {
		t.Fatalf("the queued body: %d, want 503 once its wait is over", code)
	}
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		body    io.Reader
		length  int64
		max     int64
		want    string
		problem string
	}{
		{"declared length", strings.NewReader("hello"), 5, 10, "hello", ""},
		{"no length", strings.NewReader("hello"), -1, 10, "hello", ""},
		{"no length, exactly the cap", strings.NewReader("hello"), -1, 5, "hello", ""},
		{"declared exactly the cap", strings.NewReader("hello"), 5, 5, "hello", ""},
		{"declared empty", http.NoBody, 0, 5, "", ""},
		{"no length, past the cap", strings.NewReader("hello world"), -1, 5, "", ProblemType("too-large")},
		{"declared past the cap", strings.NewReader("hello world"), 11, 5, "", ProblemType("too-large")},
		{"cut short", strings.NewReader("hel"), 5, 10, "", ProblemType("bad-request")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest(http.MethodPost, "/", tt.body)
			c.Request.ContentLength = tt.length
			got, err := ReadBody(c, tt.max)
			if tt.problem != "" {
				if p := Classify(c.Request.Context(), err); p.Type != tt.problem {
					t.Fatalf("got %q (%v), want problem %s", got, err, tt.problem)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
