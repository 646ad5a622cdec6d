package ui

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/timeseries"
	"github.com/gopherops/gopherops/service/internal/web"
)

// templateFuncs format figures one way everywhere: the dashboard's refresh
// fetches the same server-rendered fragment, so a value never changes its
// format after a refresh.
var templateFuncs = template.FuncMap{
	"mib":       func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) },
	"uptime":    formatUptime,
	"ms":        func(v float64) string { return fmt.Sprintf("%.2f ms", v) },
	"clock":     func(t time.Time) string { return t.UTC().Format("15:04:05 UTC") },
	"stamp":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"isoTime":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"auditVerb": auditLabel,
	"dict":      dict,
}

// dict builds a map from key, value pairs: how a template passes several
// values to a shared template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
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

// auditLabels say what an audit action means, in words.
var auditLabels = map[string]string{ //nolint:gosec // action names and their labels, not credentials
	"user.created":          "Created user",
	"user.updated":          "Edited user",
	"user.deleted":          "Deleted user",
	"user.password_changed": "Changed own password",
	"user.password_reset":   "Reset password of",
	"user.avatar_changed":   "Changed avatar of",
	"auth.login":            "Signed in",
	"auth.login_failed":     "Failed sign-in as",
	"auth.token_revoked":    "Revoked an API token",
	"auth.token_created":    "Created an API token",
}

// auditLabel names an action; one without a label reads as its words.
func auditLabel(action string) string {
	if l, ok := auditLabels[action]; ok {
		return l
	}
	_, verb, _ := strings.Cut(action, ".")
	return sentenceCase(strings.ReplaceAll(verb, "_", " "))
}

func sentenceCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// dashboardData is the dashboard's view model.
type dashboardData struct {
	status.Snapshot
	Audit  []accounts.AuditEvent
	Charts []chart
}

func (s *server) dashboardView(c *gin.Context) dashboardData {
	a, _ := web.Actor(c)
	snap := s.deps.Status.Snapshot(c.Request.Context())
	d := dashboardData{Snapshot: snap, Charts: charts(s.deps.Status.History(snap.ServerTime))}
	if a.User.IsAdmin() && snap.Database.Up {
		d.Audit, _ = s.deps.Accounts.AuditTrail(c.Request.Context(), a, 0, 10)
	}
	return d
}

func (s *server) dashboardPage(c *gin.Context) {
	s.render(c, http.StatusOK, "dashboard", "Dashboard", s.dashboardView(c))
}

// dashboardLive is the dashboard's live part alone, which the page's script
// fetches every few seconds and swaps in.
func (s *server) dashboardLive(c *gin.Context) {
	// Not pageData: a poll must not take the flash meant for the page the
	// browser is about to load after a form.
	pd := pageData{Data: s.dashboardView(c)}
	if a, ok := web.Actor(c); ok {
		u := a.User
		pd.Actor = &u
	}
	var buf bytes.Buffer
	if err := s.pages.byName["dashboard"].ExecuteTemplate(&buf, "live", pd); err != nil {
		s.log.ErrorContext(c.Request.Context(), "render dashboard", "request_id", web.RequestID(c), "err", err)
		c.String(http.StatusInternalServerError, "render failed")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// chart is one small line chart, drawn as inline SVG in a 300x80 box.
type chart struct {
	Title   string
	Now     string // the latest value
	Peak    string // the top of the scale
	Path    string // the SVG path of the line; gaps where there is no data
	Area    string // the same line closed to the baseline, for the fill
	Summary string // what the chart shows, in words, for screen readers
	Empty   bool
}

const (
	chartW, chartH = 300.0, 80.0
	chartPad       = 4.0
)

// charts turns the history into the dashboard's four charts. The newest
// bucket is still filling, so the charts end with the last complete one:
// a young bucket would read as a sudden drop.
func charts(pts []timeseries.Point) []chart {
	if len(pts) > 1 {
		pts = pts[:len(pts)-1]
	}
	rate := make([]float64, len(pts))
	p95 := make([]float64, len(pts))
	errs := make([]float64, len(pts))
	db := make([]float64, len(pts))
	for i, p := range pts {
		rate[i] = p.Rate
		p95[i], errs[i], db[i] = math.NaN(), math.NaN(), math.NaN()
		if p.Requests > 0 {
			p95[i] = float64(p.P95) / float64(time.Millisecond)
			errs[i] = p.ErrorRatio * 100
		}
		if p.HasDatabase {
			db[i] = float64(p.Database) / float64(time.Millisecond)
		}
	}
	minutes := int(status.HistoryStep * status.HistoryBuckets / time.Minute)
	return []chart{
		newChart("Requests", rate, 1, func(v float64) string { return fmt.Sprintf("%.1f/s", v) }, minutes),
		newChart("p95 latency", p95, 10, formatMillis, minutes),
		newChart("Server errors", errs, 5, func(v float64) string { return fmt.Sprintf("%.1f%%", v) }, minutes),
		newChart("Database latency", db, 1, formatMillis, minutes),
	}
}

func formatMillis(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// newChart scales values (NaN: no data) to a rounded peak of at least
// floor, so a quiet minute does not look like a spike.
func newChart(title string, values []float64, floor float64, format func(float64) string, minutes int) chart {
	ch := chart{Title: title}
	peak, latest, have := 0.0, math.NaN(), false
	for _, v := range values {
		if !math.IsNaN(v) {
			peak, latest, have = math.Max(peak, v), v, true
		}
	}
	if !have {
		ch.Empty, ch.Now, ch.Peak = true, "no data", format(floor)
		ch.Summary = fmt.Sprintf("%s over the last %d minutes: no data yet.", title, minutes)
		return ch
	}
	top := niceCeil(math.Max(peak, floor))
	ch.Now, ch.Peak = format(latest), format(top)
	ch.Summary = fmt.Sprintf("%s over the last %d minutes: now %s, highest %s.", title, minutes, ch.Now, format(peak))

	var line, area strings.Builder
	step := (chartW - 2*chartPad) / float64(max(len(values)-1, 1))
	base := chartH - chartPad
	runStart := -1.0
	flush := func(lastX float64) {
		if runStart >= 0 {
			if lastX == runStart {
				line.WriteString("h3") // a lone point: a short dash, so it shows
			}
			fmt.Fprintf(&area, "L%.1f %.1fL%.1f %.1fZ", lastX, base, runStart, base)
		}
		runStart = -1
	}
	prevX := 0.0
	for i, v := range values {
		x := chartPad + float64(i)*step
		if math.IsNaN(v) {
			flush(prevX)
			continue
		}
		y := base - v/top*(chartH-2*chartPad)
		if runStart < 0 {
			fmt.Fprintf(&line, "M%.1f %.1f", x, y)
			fmt.Fprintf(&area, "M%.1f %.1fL%.1f %.1f", x, base, x, y)
			runStart = x
		} else {
			fmt.Fprintf(&line, "L%.1f %.1f", x, y)
			fmt.Fprintf(&area, "L%.1f %.1f", x, y)
		}
		prevX = x
	}
	flush(prevX)
	ch.Path, ch.Area = line.String(), area.String()
	return ch
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}
