package observability

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// slogLine is what slog's own JSON handler writes for l: the line the fast
// path must reproduce byte for byte.
func slogLine(t testing.TB, l *RequestLine) string {
	t.Helper()
	var buf bytes.Buffer
	r := slog.NewRecord(l.Time, l.Level, accessMessage, 0)
	r.AddAttrs(l.Attrs()...)
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// fastLine is what the access log writes for l through NewLogger's handler.
func fastLine(l *RequestLine) string {
	var buf bytes.Buffer
	NewAccessLog(NewLogger(&buf, slog.LevelInfo, "json")).Write(context.Background(), l)
	return buf.String()
}

func sampleLine() RequestLine {
	return RequestLine{
		Time: time.Date(2026, 12, 7, 14, 16, 7, 123456789, time.UTC), Level: slog.LevelInfo,
		RequestID: "a1b2c3d4e5f6-1", Method: "GET", Route: "/api/v1/users/:id", Path: "/api/v1/users/42",
		Status: 200, Latency: 1234567 * time.Nanosecond, Bytes: 321, ClientIP: "192.0.2.7",
		UserID: 1, SignedIn: true,
	}
}

// TestAccessLineMatchesSlog: the line encoded without slog is the one slog's
// JSON handler writes for the same record, whatever the request put in it.
func TestAccessLineMatchesSlog(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		edit func(l *RequestLine)
	}{
		{"signed-in read", func(*RequestLine) {}},
		{"anonymous", func(l *RequestLine) { l.SignedIn, l.UserID = false, 0 }},
		{"server error with its error", func(l *RequestLine) {
			l.Level, l.Status, l.Error = slog.LevelError, 500, "Error #01: database \"down\"\n"
		}},
		{"unmatched route, odd method", func(l *RequestLine) { l.Route, l.Method, l.Status = "unmatched", "OTHER", 404 }},
		{"path with quotes, controls, HTML and non-ASCII", func(l *RequestLine) {
			l.Path = "/a\"b\\c\x00\x1f\t\r\n<script>&é\u2028\u2029\U0001F600\x7f"
		}},
		{"invalid UTF-8 in the path", func(l *RequestLine) { l.Path = "/\xff\xfe/\xc3" }},
		{"zero latency", func(l *RequestLine) { l.Latency = 0 }},
		{"sub-microsecond latency", func(l *RequestLine) { l.Latency = 999 }},
		{"one microsecond", func(l *RequestLine) { l.Latency = time.Microsecond }},
		{"long latency", func(l *RequestLine) { l.Latency = 93*time.Hour + 7*time.Microsecond }},
		{"whole milliseconds", func(l *RequestLine) { l.Latency = 20 * time.Millisecond }},
		{"time with whole seconds", func(l *RequestLine) { l.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }},
		{"time in another zone", func(l *RequestLine) { l.Time = l.Time.In(zone) }},
		{"time from the clock (monotonic reading)", func(l *RequestLine) { l.Time = time.Now() }},
		{"year past 9999: slog's own note", func(l *RequestLine) { l.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"empty strings", func(l *RequestLine) { l.RequestID, l.ClientIP, l.Path = "", "", "" }},
		{"negative and large numbers", func(l *RequestLine) { l.Bytes, l.UserID, l.Status = -1, 1<<62, 599 }},
		{"level between the named ones", func(l *RequestLine) { l.Level = slog.LevelInfo + 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := sampleLine()
			tt.edit(&l)
			want, got := slogLine(t, &l), fastLine(&l)
			if got != want {
				t.Fatalf("access line differs from slog's\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// TestAccessLineFields: the line is JSON with exactly these keys, in this
// order: what operators' queries and the delivery tests read.
func TestAccessLineFields(t *testing.T) {
	tests := []struct {
		name string
		edit func(l *RequestLine)
		keys string
	}{
		{"signed in", func(*RequestLine) {},
			"time level msg request_id method route path status latency_ms bytes client_ip user_id"},
		{"anonymous", func(l *RequestLine) { l.SignedIn = false },
			"time level msg request_id method route path status latency_ms bytes client_ip"},
		{"server error", func(l *RequestLine) { l.SignedIn, l.Status, l.Error = false, 500, "boom" },
			"time level msg request_id method route path status latency_ms bytes client_ip error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := sampleLine()
			tt.edit(&l)
			line := fastLine(&l)
			if got := strings.Join(jsonKeys(t, line), " "); got != tt.keys {
				t.Fatalf("keys %q, want %q", got, tt.keys)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatal(err)
			}
			if v["msg"] != "request" || v["latency_ms"] != 1.234 || v["path"] != l.Path {
				t.Fatalf("line %s", line)
			}
		})
	}
}

// jsonKeys returns the top-level keys of a JSON object in order.
func jsonKeys(t testing.TB, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestAccessLogTakesSlogsPath: a logger that is not NewLogger's JSON one
// (text, or with attributes of its own) still gets every line, with what
// it adds.
func TestAccessLogTakesSlogsPath(t *testing.T) {
	l := sampleLine()
	tests := []struct {
		name string
		log  func(*bytes.Buffer) *slog.Logger
		want []string
	}{
		{"text", func(b *bytes.Buffer) *slog.Logger { return NewLogger(b, slog.LevelInfo, "text") },
			[]string{"msg=request", "route=/api/v1/users/:id", "latency_ms=1.234", "user_id=1"}},
		{"JSON with an attribute of its own", func(b *bytes.Buffer) *slog.Logger {
			return NewLogger(b, slog.LevelInfo, "json").With("pod", "p-1")
		}, []string{`"pod":"p-1","request_id":"a1b2c3d4e5f6-1"`, `"user_id":1}`}},
		{"JSON in a group", func(b *bytes.Buffer) *slog.Logger {
			return NewLogger(b, slog.LevelInfo, "json").WithGroup("http")
		}, []string{`"http":{"request_id":`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			NewAccessLog(tt.log(&buf)).Write(context.Background(), &l)
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Fatalf("line %q lacks %q", buf.String(), w)
				}
			}
		})
	}
}

// TestAccessLogLevels: a line below the logger's level is not enabled.
func TestAccessLogLevels(t *testing.T) {
	a := NewAccessLog(NewLogger(&bytes.Buffer{}, slog.LevelWarn, "json"))
	if a.Enabled(context.Background(), slog.LevelInfo) || !a.Enabled(context.Background(), slog.LevelError) {
		t.Fatal("at warn, info lines must be off and error lines on")
	}
	if NewAccessLog(nil).Enabled(context.Background(), slog.LevelError) {
		t.Fatal("no logger: nothing enabled")
	}
}

// TestAccessLogConcurrentLines: lines written at once from many goroutines,
// and slog's own lines between them, come out whole, one per line.
func TestAccessLogConcurrentLines(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelInfo, "json")
	a := NewAccessLog(log)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			l := sampleLine()
			l.Path = strings.Repeat("p", 100*g)
			for range 200 {
				a.Write(context.Background(), &l)
				log.Info("other", "g", g)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 8*200*2 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200*2)
	}
	for _, line := range lines {
		if !json.Valid([]byte(line)) {
			t.Fatalf("broken line %q", line)
		}
	}
}

// FuzzAccessLine: for any strings a client or the server can put in a line,
// the fast path writes what slog would.
func FuzzAccessLine(f *testing.F) {
	f.Add("GET", "/api/v1/users/42", "/api/v1/users/:id", "192.0.2.7", "", int64(1234567), int64(1700000000123456789))
	f.Add("BREW", "/\xff\"\\\u2028<>&", "unmatched", "::1", "Error #01: x\n", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, method, path, route, ip, errText string, latency, unixNano int64) {
		l := sampleLine()
		l.Method, l.Path, l.Route, l.ClientIP, l.Error = method, path, route, ip, errText
		l.Latency, l.Time = time.Duration(latency), time.Unix(0, unixNano).UTC()
		if want, got := slogLine(t, &l), fastLine(&l); got != want {
			t.Fatalf("access line differs from slog's\n got: %s\nwant: %s", got, want)
		}
	})
}

// BenchmarkAccessLine compares writing the line through slog's JSON handler
// with the fast path, both to a discarding writer.
func BenchmarkAccessLine(b *testing.B) {
	l := sampleLine()
	b.Run("slog", func(b *testing.B) {
		log := slog.New(slog.NewJSONHandler(discard{}, nil))
		b.ReportAllocs()
		for b.Loop() {
			log.LogAttrs(context.Background(), l.Level, accessMessage, l.Attrs()...)
		}
	})
	b.Run("fast", func(b *testing.B) {
		a := NewAccessLog(NewLogger(discard{}, slog.LevelInfo, "json"))
		b.ReportAllocs()
		for b.Loop() {
			a.Write(context.Background(), &l)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
