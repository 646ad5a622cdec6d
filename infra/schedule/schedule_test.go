package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseRefuses(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"", "want 5 fields"},
		{"* * * *", "want 5 fields"},
		{"0 * * * * *", "want 5 fields"},
		{"60 * * * *", "minute: 60 is outside 0-59"},
		{"0 24 * * *", "hour: 24 is outside 0-23"},
		{"0 0 0 * *", "day of month: 0 is outside 1-31"},
		{"0 0 * 13 *", "month: 13 is outside 1-12"},
		{"0 0 * * 8", "day of week: 8 is outside 0-7"},
		{"*/0 * * * *", "step \"0\" is not a positive number"},
		{"5-1 * * * *", "runs backwards"},
		{"0 0 * JAN *", "\"JAN\" is not a number"},
		{"@every 1h", "want 5 fields"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			_, err := Parse(c.expr)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%q) = %v, want an error containing %q", c.expr, err, c.want)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		expr string
		at   string
		want bool
	}{
		{"0 * * * *", "2026-03-01T05:00:00Z", true},
		{"0 * * * *", "2026-03-01T05:01:00Z", false},
		{"@hourly", "2026-03-01T05:00:00Z", true},
		{"*/15 * * * *", "2026-03-01T05:45:00Z", true},
		{"*/15 * * * *", "2026-03-01T05:50:00Z", false},
		{"5/20 * * * *", "2026-03-01T05:45:00Z", true},
		{"0 3 * * *", "2026-03-01T03:00:00+00:00", true},
		// Evaluated in UTC whatever the zone of the time given.
		{"0 3 * * *", "2026-03-01T04:00:00+01:00", true},
		{"0 0 * * 0", "2026-03-01T00:00:00Z", true}, // a Sunday
		{"0 0 * * 7", "2026-03-01T00:00:00Z", true}, // Sunday as 7
		{"0 0 * * 1-5", "2026-03-01T00:00:00Z", false},
		// Both day fields restricted: either matches.
		{"0 0 15 * 0", "2026-03-01T00:00:00Z", true},
		{"0 0 15 * 1", "2026-03-15T00:00:00Z", true},
		{"0 0 15 * 1", "2026-03-14T00:00:00Z", false},
		// One day field a star: both must match.
		{"0 0 15 * *", "2026-03-14T00:00:00Z", false},
		{"0 0,12 1,15 * *", "2026-03-15T12:00:00Z", true},
	}
	for _, c := range cases {
		s, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.expr, err)
		}
		if got := s.Matches(at(c.at)); got != c.want {
			t.Errorf("%q matches %s = %v, want %v", c.expr, c.at, got, c.want)
		}
	}
}

func TestMaxGap(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		expr string
		want time.Duration
	}{
		{"* * * * *", time.Minute},
		{"0 * * * *", time.Hour},
		{"*/15 * * * *", 15 * time.Minute},
		{"0 */6 * * *", 6 * time.Hour},
		{"0 3 * * *", 24 * time.Hour},
		// Uneven: 02:00 and 20:00 leave an 18-hour night.
		{"0 2,20 * * *", 18 * time.Hour},
		{"@weekly", 7 * 24 * time.Hour},
		// The longest month: 31 days between the 1st of two months.
		{"0 0 1 * *", 31 * 24 * time.Hour},
		// Weekdays only: Friday 00:00 to Monday 00:00.
		{"0 0 * * 1-5", 3 * 24 * time.Hour},
	}
	for _, c := range cases {
		s, err := Parse(c.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.expr, err)
		}
		got, err := s.MaxGap(start)
		if err != nil {
			t.Fatalf("MaxGap(%q): %v", c.expr, err)
		}
		if got != c.want {
			t.Errorf("MaxGap(%q) = %s, want %s", c.expr, got, c.want)
		}
	}
}

func TestNeverFires(t *testing.T) {
	s, err := Parse("0 0 31 2 *")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Error("31 February fired")
	}
	if _, err := s.MaxGap(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil {
		t.Error("MaxGap of a schedule that never fires is not an error")
	}
}

func BenchmarkMaxGapHourly(b *testing.B) {
	s, err := Parse("0 * * * *")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, err := s.MaxGap(start); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMaxGapEveryMinute(b *testing.B) {
	s, err := Parse("* * * * *")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, err := s.MaxGap(start); err != nil {
			b.Fatal(err)
		}
	}
}
