package journey

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/retry"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Scrape is one reading of the /metrics of every admin listener of a target.
type Scrape []map[string]*dto.MetricFamily

// ScrapeMetrics reads and parses /metrics from every admin URL.
func ScrapeMetrics(t testing.TB, adminURLs []string) Scrape {
	t.Helper()
	s, err := scrapeMetrics(adminURLs)
	require.NoError(t, err)
	return s
}

func scrapeMetrics(adminURLs []string) (Scrape, error) {
	var out Scrape
	for _, u := range adminURLs {
		resp, err := NewClient(u).DoE(Request{Method: http.MethodGet, Path: "/metrics", Header: map[string]string{"Accept": "text/plain"}})
		if err != nil {
			return nil, fmt.Errorf("scrape %s/metrics: %w", u, err)
		}
		if resp.Status != http.StatusOK {
			return nil, fmt.Errorf("scrape %s/metrics: %s", u, resp)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(bytes.NewReader(resp.Body))
		if err != nil {
			return nil, fmt.Errorf("parse %s/metrics: %w", u, err)
		}
		out = append(out, fams)
	}
	return out, nil
}

// Sum adds up the samples of the family name across instances (values of
// counters and gauges, observation counts of histograms), keeping those whose
// labels include every label given.
func (s Scrape) Sum(name string, labels map[string]string) float64 {
	total := 0.0
	for _, fams := range s {
		fam := fams[name]
		if fam == nil {
			continue
		}
		for _, m := range fam.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			case m.GetUntyped() != nil:
				total += m.GetUntyped().GetValue()
			case m.GetHistogram() != nil:
				total += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return total
}

// LabelValues lists the values the label takes in the family name.
func (s Scrape) LabelValues(name, label string) []string {
	seen := map[string]bool{}
	var out []string
	for _, fams := range s {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && !seen[l.GetValue()] {
					seen[l.GetValue()] = true
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// numericSegment finds a raw ID in a route label.
var numericSegment = regexp.MustCompile(`/[0-9]+(/|$)`)

// Metrics checks the admin listener's Prometheus metrics: the build info, the
// requests the earlier journeys made, counted by route template, and an exact
// count of a burst of requests made here.
func Metrics(t *testing.T, tg *Target) {
	if len(tg.AdminURLs) == 0 {
		t.Skipf("no admin listener URL for %s: /metrics is served on ADMIN_ADDR, which this deployment does not expose to the test", tg.BaseURL)
	}
	admin := tg.AdminClient(t)
	root := tg.AdminUser(t)
	before := ScrapeMetrics(t, tg.AdminURLs)

	t.Run("build info", func(t *testing.T) {
		labels := map[string]string{}
		if tg.Version != "" {
			labels["version"] = tg.Version
		}
		assert.Equal(t, float64(len(tg.AdminURLs)), before.Sum("gopherops_build_info", labels),
			"every instance exports gopherops_build_info 1 with its version %v", labels)
	})

	t.Run("the journeys' requests were counted by route template", func(t *testing.T) {
		for _, tc := range []struct{ method, route, status string }{
			{"POST", "/api/v1/auth/tokens", "201"},
			{"POST", "/api/v1/auth/tokens", "401"},
			{"GET", "/api/v1/me", "401"},
			{"GET", "/api/v1/users", "200"},
			{"POST", "/api/v1/users", "201"},
			{"GET", "/api/v1/users/:id", "200"},
			{"PATCH", "/api/v1/users/:id", "412"},
			{"DELETE", "/api/v1/users/:id", "204"},
			{"PUT", "/api/v1/users/:id/avatar", "200"},
			{"GET", "/dashboard", "303"},
		} {
			n := before.Sum("http_requests_total", map[string]string{"method": tc.method, "route": tc.route, "status": tc.status})
			assert.GreaterOrEqual(t, n, 1.0, "http_requests_total{method=%q,route=%q,status=%q}", tc.method, tc.route, tc.status)
		}
		assert.GreaterOrEqual(t, before.Sum("gopherops_login_attempts_total", map[string]string{"result": "success"}), 1.0)
		assert.GreaterOrEqual(t, before.Sum("gopherops_login_attempts_total", map[string]string{"result": "failure"}), 1.0)
		for _, route := range before.LabelValues("http_requests_total", "route") {
			assert.False(t, numericSegment.MatchString(route), "route label %q holds a raw ID: labels must be templates", route)
		}
	})

	t.Run("a burst is counted exactly", func(t *testing.T) {
		const n = 7
		labels := map[string]string{"method": "GET", "route": "/api/v1/users/:id", "status": "200"}
		start := ScrapeMetrics(t, tg.AdminURLs).Sum("http_requests_total", labels)
		for range n {
			admin.Get(t, root.Path()).Expect(t, http.StatusOK)
		}
		// The counter is bumped once the response is on its way, so the
		// last increments can trail the responses by a moment.
		var got float64
		_, err := retry.DoWithRetryContextE(t, context.Background(), "wait for the burst in /metrics", 20, 250*time.Millisecond, func() (string, error) {
			s, err := scrapeMetrics(tg.AdminURLs)
			if err != nil {
				return "", retry.FatalError{Underlying: err}
			}
			got = s.Sum("http_requests_total", labels) - start
			if got < n {
				return "", fmt.Errorf("counted %v of %d requests so far", got, n)
			}
			return "", nil
		})
		var fatal retry.FatalError
		if errors.As(err, &fatal) {
			require.NoError(t, fatal.Underlying)
		}
		assert.Equal(t, float64(n), got, "http_requests_total%v grew by exactly the %d requests made", labels, n)
		assert.Positive(t, ScrapeMetrics(t, tg.AdminURLs).Sum("http_request_duration_seconds", map[string]string{"route": "/api/v1/users/:id"}),
			"request durations are recorded per route")
	})

	t.Run("the admin listener is not the public one", func(t *testing.T) {
		resp := NewClient(tg.BaseURL).Get(t, "/metrics")
		assert.NotEqual(t, http.StatusOK, resp.Status, "/metrics must not be served on the public listener")
		assert.False(t, strings.Contains(string(resp.Body), "gopherops_build_info"), "/metrics must not be served on the public listener")
	})
}
