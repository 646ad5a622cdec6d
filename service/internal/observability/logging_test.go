package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log destination a test reads while a timer may write it.
type lockedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.buf.Write(p)
}

func (b *lockedBuffer) state() (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.writes
}

// msgs is the "msg" (and "path", for access lines) of each line of out.
func msgs(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for line := range strings.Lines(out) {
		var v struct{ Msg, Path string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("broken line %q: %v", line, err)
		}
		got = append(got, strings.TrimSpace(v.Msg+" "+v.Path))
	}
	return got
}

// TestBatchedAccessLines: access lines below warn wait for the timer, a
// flush or a full batch; every other line is written at once, after the
// access lines queued before it, so the log's order never changes.
func TestBatchedAccessLines(t *testing.T) {
	line := func(path string, level slog.Level) *RequestLine {
		l := sampleLine()
		l.Path, l.Level = path, level
		return &l
	}
	ctx := context.Background()
	tests := []struct {
		name  string
		write func(a *AccessLog, log *slog.Logger)
		// before is what is written before Flush; after, once flushed.
		before, after []string
	}{
		{"an access line waits", func(a *AccessLog, _ *slog.Logger) { a.Write(ctx, line("/a", slog.LevelInfo)) },
			nil, []string{"request /a"}},
		{"slog's line goes at once, after the waiting ones", func(a *AccessLog, log *slog.Logger) {
			a.Write(ctx, line("/a", slog.LevelInfo))
			a.Write(ctx, line("/b", slog.LevelInfo))
			log.Info("started")
			a.Write(ctx, line("/c", slog.LevelInfo))
		}, []string{"request /a", "request /b", "started"}, []string{"request /a", "request /b", "started", "request /c"}},
		{"an error's access line goes at once, in order", func(a *AccessLog, _ *slog.Logger) {
			a.Write(ctx, line("/a", slog.LevelInfo))
			a.Write(ctx, line("/boom", slog.LevelError))
		}, []string{"request /a", "request /boom"}, []string{"request /a", "request /boom"}},
		{"a warning's access line goes at once", func(a *AccessLog, _ *slog.Logger) {
			a.Write(ctx, line("/slow", slog.LevelWarn))
		}, []string{"request /slow"}, []string{"request /slow"}},
		{"a full batch is written by the line that fills it", func(a *AccessLog, _ *slog.Logger) {
			long := strings.Repeat("p", maxBatch)
			a.Write(ctx, line("/a", slog.LevelInfo))
			a.Write(ctx, line("/"+long, slog.LevelInfo))
		}, []string{"request /a", "request /" + strings.Repeat("p", maxBatch)},
			[]string{"request /a", "request /" + strings.Repeat("p", maxBatch)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuffer
			log := NewLogger(&out, slog.LevelInfo, "json", BatchAccessLines(time.Hour))
			tt.write(NewAccessLog(log), log)
			before, _ := out.state()
			if got := msgs(t, before); !equal(got, tt.before) {
				t.Fatalf("before Flush: %q, want %q", got, tt.before)
			}
			if err := Flush(log); err != nil {
				t.Fatal(err)
			}
			after, _ := out.state()
			if got := msgs(t, after); !equal(got, tt.after) {
				t.Fatalf("after Flush: %q, want %q", got, tt.after)
			}
		})
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestBatchTimer: waiting lines are written by the timer without a flush,
// together, and a line queued after that arms the timer again.
func TestBatchTimer(t *testing.T) {
	var out lockedBuffer
	a := NewAccessLog(NewLogger(&out, slog.LevelInfo, "json", BatchAccessLines(20*time.Millisecond)))
	wait := func(lines int) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if s, writes := out.state(); strings.Count(s, "\n") == lines {
				return writes
			}
			time.Sleep(time.Millisecond)
		}
		s, _ := out.state()
		t.Fatalf("%d lines after 10 s, want %d:\n%s", strings.Count(s, "\n"), lines, s)
		return 0
	}
	l := sampleLine()
	for range 3 {
		a.Write(context.Background(), &l)
	}
	if writes := wait(3); writes != 1 {
		t.Fatalf("3 lines in %d writes, want one", writes)
	}
	a.Write(context.Background(), &l)
	if writes := wait(4); writes != 2 {
		t.Fatalf("the next line took %d writes in all, want 2", writes)
	}
}

// TestBatchConcurrentLines: access lines and slog's lines from many
// goroutines at once come out whole, each goroutine's in its own order.
func TestBatchConcurrentLines(t *testing.T) {
	var out lockedBuffer
	log := NewLogger(&out, slog.LevelInfo, "json", BatchAccessLines(time.Millisecond))
	a := NewAccessLog(log)
	const goroutines, each = 8, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				l := sampleLine()
				l.Path = "/" + strings.Repeat("x", g*40) + "/" + string(rune('a'+g)) + "/" + strconv.Itoa(i)
				a.Write(context.Background(), &l)
				log.Info("other", "g", g, "i", i)
			}
		})
	}
	wg.Wait()
	if err := Flush(log); err != nil {
		t.Fatal(err)
	}
	s, _ := out.state()
	seenAccess := map[string]int{}
	lines := 0
	for line := range strings.Lines(s) {
		lines++
		var v struct {
			Msg, Path string
			G, I      int
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("broken line %q: %v", line, err)
		}
		if v.Msg == "request" {
			parts := strings.Split(v.Path, "/")
			g := parts[2]
			n, err := strconv.Atoi(parts[3])
			if err != nil {
				t.Fatal(err)
			}
			if last, ok := seenAccess[g]; ok && n != last+1 {
				t.Fatalf("goroutine %s: access line %d after %d", g, n, last)
			}
			seenAccess[g] = n
		}
	}
	if lines != goroutines*each*2 {
		t.Fatalf("%d lines, want %d", lines, goroutines*each*2)
	}
}

// blockingWriter holds every write until released, like a log pipe nobody
// reads.
type blockingWriter struct {
	release chan struct{}
	n       int
	mu      sync.Mutex
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	w.n += len(p)
	w.mu.Unlock()
	return len(p), nil
}

// TestBatchHoldsBackABlockedLog: when the log's output blocks, access lines
// queue up to the batch size and then hold their requests back, as a direct
// write would; the batch does not grow without end.
func TestBatchHoldsBackABlockedLog(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	a := NewAccessLog(NewLogger(w, slog.LevelInfo, "json", BatchAccessLines(time.Hour)))
	l := sampleLine()
	line := len(l.AppendJSON(nil))
	done := make(chan int)
	go func() {
		n := 0
		for range 2 * maxBatch / line {
			a.Write(context.Background(), &l)
			n++
		}
		done <- n
	}()
	select {
	case n := <-done:
		t.Fatalf("%d lines (%d bytes) queued while the log was blocked", n, n*line)
	case <-time.After(200 * time.Millisecond):
	}
	close(w.release)
	if n := <-done; n != 2*maxBatch/line {
		t.Fatalf("%d lines written", n)
	}
}

// BenchmarkAccessLineToPipe writes access lines to a pipe drained by another
// goroutine, as a container's standard error is: each line its own write,
// against lines batched as the service's binaries do.
func BenchmarkAccessLineToPipe(b *testing.B) {
	for _, tt := range []struct {
		name string
		opts []LoggerOption
	}{{"direct", nil}, {"batched", []LoggerOption{BatchAccessLines(AccessLineDelay)}}} {
		b.Run(tt.name, func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			drained := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, r); close(drained) }()
			log := NewLogger(w, slog.LevelInfo, "json", tt.opts...)
			a := NewAccessLog(log)
			l := sampleLine()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					a.Write(context.Background(), &l)
				}
			})
			_ = Flush(log)
			w.Close()
			<-drained
			r.Close()
		})
	}
}
