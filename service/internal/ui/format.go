package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

// The formats of figures and times, one way everywhere: the dashboard's
// refresh fetches the same server-rendered markup, so a value never changes
// its format after a refresh.

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func millis(v float64) string { return fmt.Sprintf("%.2f ms", v) }

// clock is a time of day in UTC, as the page shows it before its script
// puts it in the browser's time zone.
func clock(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

// isoTime is t for a datetime attribute, which the script reads.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// exactTime is t to the second, in UTC: what hovering a relative time shows.
func exactTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// ago says how long before now t was, or how long after it t will be, in
// the largest whole unit: what a page shows before its script (if any) says
// it in the browser's language.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	phrase := func(n int64, unit string) string {
		if n != 1 {
			unit += "s"
		}
		if d < 0 {
			return fmt.Sprintf("in %d %s", n, unit)
		}
		return fmt.Sprintf("%d %s ago", n, unit)
	}
	abs := d.Abs()
	switch {
	case abs < 45*time.Second:
		return "just now"
	case abs < 45*time.Minute:
		return phrase(max(int64(abs.Round(time.Minute)/time.Minute), 1), "minute")
	case abs < 22*time.Hour:
		return phrase(int64(abs.Round(time.Hour)/time.Hour), "hour")
	case abs < 26*24*time.Hour:
		return phrase(int64(abs.Round(24*time.Hour)/(24*time.Hour)), "day")
	case abs < 320*24*time.Hour:
		return phrase(int64(math.Round(abs.Hours()/24/30)), "month")
	}
	return phrase(max(int64(abs/(365*24*time.Hour)), 1), "year")
}

// formatUptime renders seconds as "3d 4h 5m 6s", leaving out leading zero units.
func formatUptime(seconds float64) string {
	s := int64(seconds)
	d, h, m := s/86400, s%86400/3600, s%3600/60
	var b strings.Builder
	if d > 0 {
		fmt.Fprintf(&b, "%dd ", d)
	}
	if d > 0 || h > 0 {
		fmt.Fprintf(&b, "%dh ", h)
	}
	fmt.Fprintf(&b, "%dm %ds", m, s%60)
	return b.String()
}

// auditLabels say what each action of the trail means, in words, keyed by
// the domain's constants (a test proves every action has one).
var auditLabels = map[accounts.AuditAction]string{
	accounts.ActionUserCreated:         "Created user",
	accounts.ActionUserUpdated:         "Edited user",
	accounts.ActionUserDeleted:         "Deleted user",
	accounts.ActionUserPasswordChanged: "Changed own password",
	accounts.ActionUserPasswordReset:   "Reset password of",
	accounts.ActionUserAvatarChanged:   "Changed avatar of",
	accounts.ActionLogin:               "Signed in",
	accounts.ActionLoginFailed:         "Failed sign-in as",
	accounts.ActionTokenRevoked:        "Revoked an API token",
	accounts.ActionUserDisabled:        "Disabled user",
	accounts.ActionUserEnabled:         "Enabled user",
	accounts.ActionLoginSSO:            "Signed in with single sign-on",
	accounts.ActionLoginDisabled:       "Refused sign-in of disabled",
	accounts.ActionIdentityLinked:      "Linked a sign-on identity to",
	accounts.ActionSessionRevoked:      "Ended a session of",
	accounts.ActionSessionsRevoked:     "Ended other sessions of",
}

// auditLabel names an action; one without a label (written by a newer
// release than this one) reads as its words.
func auditLabel(action accounts.AuditAction) string {
	if l, ok := auditLabels[action]; ok {
		return l
	}
	_, verb, _ := strings.Cut(string(action), ".")
	return sentenceCase(strings.ReplaceAll(verb, "_", " "))
}
