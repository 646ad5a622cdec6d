package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/timeseries"
)

// chart is one line chart of the dashboard, drawn on the server as inline
// SVG (chartW x chartH, stretched to the figure's width) with its y-axis
// ticks, the value of every bucket for hover, focus and the data table,
// and a sentence for screen readers.
type chart struct {
	ID    string // the figure's id, so a refresh can give the focus back
	Title string
	Unit  string // what the values measure, as the axis says it
	Now   string // the latest value
	Ticks []chartTick
	Path  string // the line: one M...L run per stretch of data, a gap where there is none
	Area  string // the same runs closed to the baseline, for the fill
	Dots  string // buckets with data on neither side, drawn as dots
	// What hover and focus show, bucket by bucket, for the page's script:
	// Start is the first bucket's time (they follow every HistoryStep), Ys
	// the height of each value ("" without data) and Values each in words,
	// "|"-separated.
	Start   time.Time
	Ys      string
	Values  string
	Rows    []chartRow // the buckets with data, for the table of values
	Summary string     // what the chart shows, in words
	Empty   bool
}

// chartRow is one line of a chart's table of values.
type chartRow struct {
	Time  time.Time
	Value string
}

// chartTick is one labelled line of the y-axis, top first.
type chartTick struct {
	Label string
	Y     string // in viewBox units
}

// The drawing area: the SVG stretches horizontally, so only lines with
// non-scaling strokes are drawn in it; text lives in HTML around it.
const (
	chartW, chartH = 600.0, 150.0
	// chartTicks is the number of labelled y-axis lines (0, half, top).
	chartTicks = 3
)

// series is one chart's input: a value per bucket (NaN: no data), the
// lowest top of its scale (so a quiet minute does not look like a spike),
// and how to say a value.
type series struct {
	id, title, unit string
	values          []float64
	floor           float64
	format          func(float64) string
}

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
	times := make([]time.Time, len(pts))
	for i, p := range pts {
		times[i] = p.Start.Add(status.HistoryStep) // a bucket's figures are known at its end
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
	perSecond := func(v float64) string { return trimFloat(v) + "/s" }
	percent := func(v float64) string { return trimFloat(v) + "%" }
	return []chart{
		newChart(series{"chart-requests", "Requests", "requests per second", rate, 1, perSecond}, times, minutes),
		newChart(series{"chart-p95", "p95 latency", "milliseconds", p95, 10, formatMillis}, times, minutes),
		newChart(series{"chart-errors", "Server errors", "percent of requests", errs, 5, percent}, times, minutes),
		newChart(series{"chart-db", "Database latency", "milliseconds", db, 1, formatMillis}, times, minutes),
	}
}

// trimFloat says v with one decimal, without a trailing ".0".
func trimFloat(v float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
}

func formatMillis(v float64) string {
	if v < 10 {
		return trimFloat(v) + " ms"
	}
	return fmt.Sprintf("%.0f ms", v)
}

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// newChart scales s to a rounded top of at least s.floor and draws it.
func newChart(s series, times []time.Time, minutes int) chart {
	ch := chart{ID: s.id, Title: s.title, Unit: s.unit}
	peak, latest, have := 0.0, math.NaN(), false
	for _, v := range s.values {
		if !math.IsNaN(v) {
			peak, latest, have = math.Max(peak, v), v, true
		}
	}
	top := niceCeil(math.Max(peak, s.floor))
	for i := range chartTicks {
		v := top * float64(chartTicks-1-i) / float64(chartTicks-1)
		ch.Ticks = append(ch.Ticks, chartTick{Label: s.format(v), Y: coord(chartH - v/top*chartH)})
	}
	if !have {
		ch.Empty, ch.Now = true, "no data"
		ch.Summary = fmt.Sprintf("%s over the last %d minutes, in %s: no data yet.", s.title, minutes, s.unit)
	} else {
		ch.Now = s.format(latest)
		ch.Summary = fmt.Sprintf("%s over the last %d minutes, in %s: now %s, highest %s.", s.title, minutes, s.unit, ch.Now, s.format(peak))
	}

	n := len(s.values)
	step := chartW / float64(max(n-1, 1))
	if len(times) > 0 {
		ch.Start = times[0]
	}
	var line, area, dots, ys, values strings.Builder
	for i, v := range s.values {
		if i > 0 {
			ys.WriteByte(' ')
			values.WriteByte('|')
		}
		if math.IsNaN(v) {
			values.WriteString("no data")
			continue
		}
		x, y := coord(float64(i)*step), coord(chartH-v/top*chartH)
		text := s.format(v)
		ys.WriteString(y)
		values.WriteString(text)
		if i < len(times) {
			ch.Rows = append(ch.Rows, chartRow{Time: times[i], Value: text})
		}
		prev := i > 0 && !math.IsNaN(s.values[i-1])
		next := i+1 < n && !math.IsNaN(s.values[i+1])
		switch {
		case !prev && !next:
			// Data on neither side: a dot, not a line of no length.
			fmt.Fprintf(&dots, "M%s %sh0", x, y)
		case !prev:
			fmt.Fprintf(&line, "M%s %s", x, y)
			fmt.Fprintf(&area, "M%s %sL%s %s", x, coord(chartH), x, y)
		default:
			fmt.Fprintf(&line, "L%s %s", x, y)
			fmt.Fprintf(&area, "L%s %s", x, y)
			if !next {
				fmt.Fprintf(&area, "L%s %sZ", x, coord(chartH))
			}
		}
	}
	ch.Path, ch.Area, ch.Dots, ch.Ys, ch.Values = line.String(), area.String(), dots.String(), ys.String(), values.String()
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
