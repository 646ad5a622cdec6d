// Package schedule reads the five-field cron expressions of Kubernetes
// CronJobs, so a stack's backup schedule is checked before it reaches the
// cluster and the recovery point it gives (the longest gap between two
// backups) is a figure computed from it rather than guessed.
package schedule

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron expression: minute, hour, day of month, month
// and day of week, evaluated in UTC (the CronJobs set timeZone Etc/UTC).
type Schedule struct {
	expr                          string
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record an unrestricted field: cron matches either
	// day field when both are restricted, and both when one is a star.
	domStar, dowStar bool
}

// field is the range of one position of the expression.
type field struct {
	name     string
	min, max int
}

var fields = [5]field{
	{"minute", 0, 59},
	{"hour", 0, 23},
	{"day of month", 1, 31},
	{"month", 1, 12},
	{"day of week", 0, 7},
}

// macros are the shorthands Kubernetes accepts.
var macros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// fullMonths is the month set of a star.
const fullMonths uint64 = (1<<13 - 1) &^ 1

// Parse reads a five-field expression (numbers, *, ranges a-b, lists and
// /steps) or one of the @ shorthands. Names (MON, JAN) are not accepted:
// numbers say the same thing in one way.
func Parse(expr string) (Schedule, error) {
	s := Schedule{expr: strings.TrimSpace(expr)}
	text := s.expr
	if m, ok := macros[text]; ok {
		text = m
	}
	parts := strings.Fields(text)
	if len(parts) != len(fields) {
		return Schedule{}, fmt.Errorf("schedule %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, len(parts))
	}
	var errs []error
	sets := [5]*uint64{&s.minute, &s.hour, &s.dom, &s.month, &s.dow}
	for i, p := range parts {
		set, err := parseField(p, fields[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %s: %w", expr, fields[i].name, err))
			continue
		}
		*sets[i] = set
	}
	if err := errors.Join(errs...); err != nil {
		return Schedule{}, err
	}
	// Sunday is 0 and 7.
	if s.dow&(1<<7) != 0 {
		s.dow |= 1
	}
	s.domStar = parts[2] == "*"
	s.dowStar = parts[4] == "*"
	return s, nil
}

// parseField turns one comma-separated field into a bit set of its values.
func parseField(text string, f field) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(text, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return 0, fmt.Errorf("step %q is not a positive number", stepText)
			}
			step = n
		}
		lo, hi := f.min, f.max
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			var err error
			if lo, err = number(a, f); err != nil {
				return 0, err
			}
			if hi, err = number(b, f); err != nil {
				return 0, err
			}
			if lo > hi {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		default:
			n, err := number(rng, f)
			if err != nil {
				return 0, err
			}
			lo = n
			if !hasStep {
				hi = n
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func number(text string, f field) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", text)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%d is outside %d-%d", n, f.min, f.max)
	}
	return n, nil
}

// String is the expression as written.
func (s Schedule) String() string { return s.expr }

// Matches reports whether the schedule fires in the minute of t (in UTC).
func (s Schedule) Matches(t time.Time) bool {
	t = t.UTC()
	if s.minute&(1<<t.Minute()) == 0 || s.hour&(1<<t.Hour()) == 0 || s.month&(1<<int(t.Month())) == 0 {
		return false
	}
	return s.dayMatches(t)
}

// Next is the first minute after t in which the schedule fires; ok is false
// when it never fires within four years (31 February, for one). It skips a
// whole month, day or hour that cannot match instead of trying each minute.
func (s Schedule) Next(t time.Time) (next time.Time, ok bool) {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	end := t.AddDate(4, 0, 0)
	for t.Before(end) {
		switch {
		case s.month&(1<<int(t.Month())) == 0:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<t.Hour()) == 0:
			if h, ok := nextBit(s.hour, t.Hour()); ok {
				t = time.Date(t.Year(), t.Month(), t.Day(), h, 0, 0, 0, time.UTC)
			} else {
				t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			}
		case s.minute&(1<<t.Minute()) == 0:
			if m, ok := nextBit(s.minute, t.Minute()); ok {
				t = t.Truncate(time.Hour).Add(time.Duration(m) * time.Minute)
			} else {
				t = t.Truncate(time.Hour).Add(time.Hour)
			}
		default:
			return t, true
		}
	}
	return time.Time{}, false
}

// nextBit is the lowest value in set above from.
func nextBit(set uint64, from int) (int, bool) {
	rest := set >> (from + 1)
	if rest == 0 {
		return 0, false
	}
	return from + 1 + bits.TrailingZeros64(rest), true
}

// dayMatches applies cron's rule for the two day fields.
func (s Schedule) dayMatches(t time.Time) bool {
	domOK := s.dom&(1<<t.Day()) != 0
	dowOK := s.dow&(1<<int(t.Weekday())) != 0
	if s.domStar || s.dowStar {
		return domOK && dowOK
	}
	return domOK || dowOK
}

// MaxGap is the longest time between two consecutive runs over the four
// years from start (every calendar case: month lengths, a leap day): the
// worst recovery point a backup on this schedule gives, before the time the
// backup itself takes. It is an error for a schedule that never fires.
func (s Schedule) MaxGap(start time.Time) (time.Duration, error) {
	prev, ok := s.Next(start)
	if !ok {
		return 0, fmt.Errorf("schedule %q never fires", s.expr)
	}
	// A schedule with no day or month restriction repeats every day: two
	// days cover it. Otherwise four years hold every calendar case.
	end := prev.AddDate(4, 0, 0)
	if s.domStar && s.dowStar && s.month == fullMonths {
		end = prev.AddDate(0, 0, 2)
	}
	var longest time.Duration
	for {
		next, ok := s.Next(prev)
		if !ok || !next.Before(end) {
			break
		}
		longest = max(longest, next.Sub(prev))
		prev = next
	}
	if longest == 0 {
		// Fires once in four years at most (29 February at a fixed minute).
		longest = 4 * 365 * 24 * time.Hour
	}
	return longest, nil
}
