package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/timeseries"
)

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
