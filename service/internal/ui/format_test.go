package ui

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/web"
)

func TestFormats(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"uptime under a minute", formatUptime(42.9), "0m 42s"},
		{"uptime in hours", formatUptime(3*3600 + 5), "3h 0m 5s"},
		{"uptime in days keeps zero hours", formatUptime(2*86400 + 61), "2d 0h 1m 1s"},
		{"a domain message becomes a sentence", sentence("username is already taken"), "Username is already taken."},
		{"a sentence stays one", sentence("Try again?"), "Try again?"},
		{"a field message names the field", fieldMessage("new_password", "must be at least 15 characters long"), "New password must be at least 15 characters long."},
		{"an unknown field is quoted", fieldLabel("x-extra"), `The field "x-extra"`},
		{"a hostile field name is not echoed", fieldLabel("a\x00b"), "A field"},
		{"a known audit action", auditLabel(accounts.ActionUserPasswordReset), "Reset password of"},
		{"an unknown audit action reads as words", auditLabel("auth.token_rotated"), "Token rotated"},
		{"a moment ago", ago(t0.Add(-30*time.Second), t0), "just now"},
		{"minutes ago", ago(t0.Add(-5*time.Minute-10*time.Second), t0), "5 minutes ago"},
		{"one minute ago", ago(t0.Add(-50*time.Second), t0), "1 minute ago"},
		{"hours ago", ago(t0.Add(-3*time.Hour), t0), "3 hours ago"},
		{"days ago", ago(t0.Add(-49*time.Hour), t0), "2 days ago"},
		{"months ago", ago(t0.Add(-95*24*time.Hour), t0), "3 months ago"},
		{"years ago", ago(t0.Add(-800*24*time.Hour), t0), "2 years ago"},
		{"a moment ahead is now", ago(t0.Add(30*time.Second), t0), "just now"},
		{"the future", ago(t0.Add(30*24*time.Hour), t0), "in 1 month"},
		{"the near future", ago(t0.Add(90*time.Minute), t0), "in 2 hours"},
		{"truncation keeps whole characters", truncate("añb", 2), "a"},
		{"truncation of short text", truncate("ab", 5), "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

// TestEveryAuditActionHasALabel: an action the domain writes reads as words
// of its own, not as a guess from its name.
func TestEveryAuditActionHasALabel(t *testing.T) {
	for _, a := range accounts.AuditActions() {
		if _, ok := auditLabels[a]; !ok {
			t.Errorf("audit action %q has no label in auditLabels", a)
		}
	}
	for a := range auditLabels {
		if !a.Known() {
			t.Errorf("auditLabels has a label for %q, which the domain never writes", a)
		}
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.2: 2, 4.9: 5, 7: 10, 180: 200, 2500: 5000} {
		if got := niceCeil(in); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestNewChart(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name      string
		values    []float64
		wantRuns  int // one "M" per stretch of data of two buckets or more
		wantDots  int // one per bucket with data on neither side
		wantEmpty bool
		wantTicks []string
	}{
		{"no data at all", []float64{nan, nan, nan}, 0, 0, true, []string{"1 ms", "0.5 ms", "0 ms"}},
		{"one run", []float64{1, 2, 3}, 1, 0, false, []string{"5 ms", "2.5 ms", "0 ms"}},
		{"a gap splits the line, only where there is no data", []float64{1, 2, nan, 4, 5}, 2, 0, false, []string{"5 ms", "2.5 ms", "0 ms"}},
		{"a floor keeps quiet charts flat", []float64{0.01, 0.02}, 1, 0, false, []string{"1 ms", "0.5 ms", "0 ms"}},
		{"a lone point is a dot", []float64{nan, 3, nan, 1, 1}, 1, 1, false, []string{"5 ms", "2.5 ms", "0 ms"}},
		{"large values get whole milliseconds", []float64{180, 20}, 1, 0, false, []string{"200 ms", "100 ms", "0 ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			times := make([]time.Time, len(tc.values))
			ch := newChart(series{"c", "Database latency", "milliseconds", tc.values, 1, formatMillis}, times, 10)
			if ch.Empty != tc.wantEmpty || strings.Count(ch.Path, "M") != tc.wantRuns || strings.Count(ch.Dots, "M") != tc.wantDots {
				t.Fatalf("empty %v, path %q, dots %q", ch.Empty, ch.Path, ch.Dots)
			}
			if strings.Count(ch.Area, "Z") != tc.wantRuns {
				t.Fatalf("area %q: want %d closed shapes", ch.Area, tc.wantRuns)
			}
			var labels []string
			for _, tk := range ch.Ticks {
				labels = append(labels, tk.Label)
			}
			if strings.Join(labels, "|") != strings.Join(tc.wantTicks, "|") {
				t.Fatalf("ticks %q, want %q", labels, tc.wantTicks)
			}
			if ch.Ticks[0].Y != "0.0" || ch.Ticks[len(ch.Ticks)-1].Y != "150.0" {
				t.Fatalf("ticks span %s..%s, want the whole height", ch.Ticks[0].Y, ch.Ticks[len(ch.Ticks)-1].Y)
			}
			ys, values := strings.Split(ch.Ys, " "), strings.Split(ch.Values, "|")
			if len(ys) != len(tc.values) || len(values) != len(tc.values) {
				t.Fatalf("%d heights and %d values for %d buckets", len(ys), len(values), len(tc.values))
			}
			rows := 0
			for i, v := range tc.values {
				if (ys[i] == "") != math.IsNaN(v) || (values[i] == "no data") != math.IsNaN(v) {
					t.Fatalf("bucket %d: height %q, value %q for %v", i, ys[i], values[i], v)
				}
				if !math.IsNaN(v) {
					rows++
				}
			}
			if len(ch.Rows) != rows {
				t.Fatalf("%d rows in the table of values, want one per bucket with data (%d)", len(ch.Rows), rows)
			}
			for _, f := range strings.FieldsFunc(ch.Path+ch.Area+ch.Dots, func(r rune) bool { return strings.ContainsRune("MLZh ", r) }) {
				if strings.Contains(f, "NaN") || strings.Contains(f, "Inf") {
					t.Fatalf("path holds a non-number: %q", f)
				}
			}
			if !strings.Contains(ch.Summary, "over the last 10 minutes, in milliseconds") {
				t.Fatalf("summary %q", ch.Summary)
			}
		})
	}
}

func testSealer(t testing.TB) flashSealer {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	fs, err := newFlashSealer(bytes.Repeat([]byte{9}, 32), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// flashContext is a request of a browser whose session secret is session.
func flashContext(session, cookie string) (*gin.Context, *httptest.ResponseRecorder) {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/users", nil)
	if cookie != "" {
		c.Request.AddCookie(&http.Cookie{Name: "gopherops_flash", Value: cookie})
	}
	web.SetSession(c, session)
	return c, w
}

func TestFlashRoundTrip(t *testing.T) {
	s := testSealer(t)
	want := pageFlash{Form: "create", Fields: map[string]string{"username": "is already taken"},
		Values: map[string]string{"username": strings.Repeat("ñ", 300)}}
	c, w := flashContext("session-a", "")
	s.set(c, want)
	var sealed string
	for _, ck := range w.Result().Cookies() {
		if ck.Name == "gopherops_flash" {
			sealed = ck.Value
		}
	}
	if sealed == "" || len(sealed) > 3000 {
		t.Fatalf("flash cookie of %d bytes", len(sealed))
	}
	got := s.take(must(flashContext("session-a", sealed)))
	if got.Form != "create" || got.Fields["username"] != "is already taken" || !utf8.ValidString(got.Values["username"]) ||
		len(got.Values["username"]) > maxFlashValue {
		t.Fatalf("flash came back as %+v", got)
	}
	if other := s.take(must(flashContext("session-b", sealed))); other.Form != "" {
		t.Fatal("another session opened the flash")
	}
}

func must(c *gin.Context, _ *httptest.ResponseRecorder) *gin.Context { return c }

// FuzzFlashCookie: whatever a browser sends as the flash cookie, reading it
// never panics and yields nothing unless it was sealed for this session.
func FuzzFlashCookie(f *testing.F) {
	s := testSealer(f)
	c, w := flashContext("s", "")
	s.set(c, pageFlash{Error: "x"})
	f.Add(w.Result().Cookies()[0].Value)
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("-", 4000))
	f.Fuzz(func(t *testing.T, cookie string) {
		if !storable(cookie) || strings.ContainsAny(cookie, "; \t\r\n\",\\") {
			return // not a cookie value a browser sends
		}
		got := s.take(must(flashContext("another session", cookie)))
		if got.Error != "" || got.Form != "" || got.Temp != nil {
			t.Fatalf("forged flash opened: %+v", got)
		}
	})
}

// FuzzPageTruncate: truncation never splits a character or grows the text.
func FuzzPageTruncate(f *testing.F) {
	f.Add("añb€𝄞", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		got := truncate(s, n)
		if len(got) > n || !strings.HasPrefix(s, got) || (utf8.ValidString(s) && !utf8.ValidString(got)) {
			t.Fatalf("truncate(%q, %d) = %q", s, n, got)
		}
	})
}
