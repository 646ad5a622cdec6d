package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"gopkg.in/yaml.v3"

	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

const (
	promConfigPath = "infra/observability/prometheus/prometheus.yml"
	dashboardPath  = "infra/observability/grafana/dashboards/gopherops.json"
	datasourcePath = "infra/observability/grafana/provisioning/datasources/prometheus.yml"
)

// loadPromConfig parses the Prometheus configuration with Prometheus's own loader.
func loadPromConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFile(filepath.Join(repoRoot(t), promConfigPath), false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("load %s: %v", promConfigPath, err)
	}
	return cfg
}

// loadRules parses every rule file the configuration refers to.
func loadRules(t *testing.T, cfg *config.Config) []rulefmt.Rule {
	t.Helper()
	var rules []rulefmt.Rule
	files := 0
	for _, pattern := range cfg.RuleFiles {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatalf("rule_files pattern %q: %v", pattern, err)
		}
		for _, file := range matches {
			files++
			groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
			for _, err := range errs {
				t.Errorf("rule file %s: %v", filepath.Base(file), err)
			}
			if groups == nil {
				continue
			}
			for _, g := range groups.Groups {
				rules = append(rules, g.Rules...)
			}
		}
	}
	if files == 0 {
		t.Fatalf("rule_files %v match no file", cfg.RuleFiles)
	}
	return rules
}

func TestPrometheusConfigAndRules(t *testing.T) {
	cfg := loadPromConfig(t)
	scrapes, err := cfg.GetScrapeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(scrapes, func(s *config.ScrapeConfig) bool { return s.JobName == "gopherops" })
	if i < 0 {
		t.Fatal("no scrape job named gopherops")
	}
	job := scrapes[i]
	if job.MetricsPath != "/metrics" {
		t.Errorf("gopherops job scrapes %s", job.MetricsPath)
	}
	// The target must be the compose app's admin listener.
	app := service(t, loadCompose(t, nil), "app")
	_, adminPort, _ := strings.Cut(env(app, "ADMIN_ADDR"), ":")
	want := model.LabelValue("app:" + adminPort)
	found := false
	for _, sd := range job.ServiceDiscoveryConfigs {
		static, ok := sd.(discovery.StaticConfig)
		if !ok {
			continue
		}
		for _, group := range static {
			for _, target := range group.Targets {
				found = found || target[model.AddressLabel] == want
			}
		}
	}
	if !found {
		t.Errorf("gopherops job does not scrape %s", want)
	}

	rules := loadRules(t, cfg)
	var alerts []string
	for _, r := range rules {
		if r.Alert != "" {
			alerts = append(alerts, r.Alert)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s lacks a severity label or a summary", r.Alert)
			}
		}
	}
	for _, want := range []string{"GopherOpsDown", "GopherOpsHighErrorRate", "GopherOpsHighLatency", "GopherOpsDBPoolSaturated"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s (have %v)", want, alerts)
		}
	}
}

// dashboard is the part of a Grafana dashboard model the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name    string          `json:"name"`
			Type    string          `json:"type"`
			Query   json.RawMessage `json:"query"`
			Current struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows keep their panels inside
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal(readFile(t, dashboardPath), &d); err != nil {
		t.Fatalf("decode %s: %v", dashboardPath, err)
	}
	return d
}

// queries returns every PromQL expression of the dashboard: panel targets and
// query variables (label_values(selector, label) contributes its selector).
func (d dashboard) queries() []string {
	var out []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // older models keep the query as a string
		}
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			out = append(out, m[1])
		} else if q.Query != "" {
			out = append(out, q.Query)
		}
	}
	return out
}

// grafanaVariable matches $name and ${name} references in a query.
var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

// expandGrafana replaces Grafana's variables with values PromQL accepts.
func expandGrafana(q string) string {
	return grafanaVariable.ReplaceAllStringFunc(q, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval", "__interval":
			return "5m"
		case "__range":
			return "1h"
		default:
			return ".*" // template variables only appear inside regex matchers
		}
	})
}

// metricNames parses a PromQL expression and returns the metric names it selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expandGrafana(expr))
	if err != nil {
		t.Errorf("query %q does not parse: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				name = m.Value
			}
		}
		if name == "" {
			t.Errorf("query %q selects series without a metric name", expr)
		}
		names = append(names, name)
		return nil
	})
	return names
}

func TestGrafanaDashboardModel(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "gopherops" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	var datasourceDefault any
	for _, v := range d.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" {
			datasourceDefault = v.Current.Value
		}
	}
	var provisioned struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(readFile(t, datasourcePath), &provisioned); err != nil {
		t.Fatalf("decode %s: %v", datasourcePath, err)
	}
	if len(provisioned.Datasources) != 1 || provisioned.Datasources[0].Type != "prometheus" {
		t.Fatalf("provisioned datasources %+v, want one Prometheus", provisioned.Datasources)
	}
	if datasourceDefault != provisioned.Datasources[0].UID {
		t.Errorf("datasource variable defaults to %v, the provisioned datasource is %q", datasourceDefault, provisioned.Datasources[0].UID)
	}

	var walk func([]panel)
	queryPanels := 0
	walk = func(ps []panel) {
		for _, p := range ps {
			if len(p.Targets) > 0 {
				queryPanels++
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q does not use the datasource variable", p.Title)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if queryPanels < 8 {
		t.Errorf("%d panels with queries", queryPanels)
	}

	// The areas the dashboard must cover, by a metric each relies on.
	used := map[string]bool{}
	for _, q := range d.queries() {
		for _, name := range metricNames(t, q) {
			used[name] = true
		}
	}
	for area, metric := range map[string]string{
		"request rate and errors": "http_requests_total",
		"latency percentiles":     "http_request_duration_seconds_bucket",
		"in-flight requests":      "http_requests_in_flight",
		"database pool":           "gopherops_db_pool_acquired_conns",
		"pool wait":               "gopherops_db_pool_acquire_wait_seconds_total",
		"logins":                  "gopherops_login_attempts_total",
		"build":                   "gopherops_build_info",
		"goroutines":              "go_goroutines",
		"heap":                    "go_memstats_heap_alloc_bytes",
		"GC":                      "go_gc_duration_seconds_sum",
		"memory":                  "process_resident_memory_bytes",
		"CPU":                     "process_cpu_seconds_total",
	} {
		if !used[metric] {
			t.Errorf("dashboard does not show %s (%s)", area, metric)
		}
	}
}

// TestQueriesUseExportedMetrics runs the real gopherops binary against a fresh
// database, sends it some traffic, scrapes its admin listener and checks that
// every metric the dashboard and the alert rules query is really exported.
func TestQueriesUseExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the service: not in -short mode")
	}
	exported := scrapeLiveService(t)
	// Series Prometheus itself attaches to every target.
	exported["up"] = true

	sources := map[string][]string{"dashboard": loadDashboard(t).queries()}
	for _, r := range loadRules(t, loadPromConfig(t)) {
		sources["rule "+r.Alert+r.Record] = append(sources["rule "+r.Alert+r.Record], r.Expr)
	}
	for source, queries := range sources {
		for _, q := range queries {
			for _, name := range metricNames(t, q) {
				if !exported[name] {
					t.Errorf("%s queries %s, which the service does not export (query %q)", source, name, q)
				}
			}
		}
	}
}

// scrapeLiveService builds and starts gopherops, exercises it and returns the
// names of the series its /metrics exposes (histograms and summaries expanded
// into their _bucket, _sum and _count series).
func scrapeLiveService(t *testing.T) map[string]bool {
	t.Helper()
	root := repoRoot(t)
	bin := filepath.Join(t.TempDir(), "gopherops")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./service/cmd/gopherops")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./service/cmd/gopherops: %v\n%s", err, out)
	}

	httpAddr, adminAddr := freeAddr(t), freeAddr(t)
	srv := exec.Command(bin, "serve")
	srv.Env = append(os.Environ(),
		"APP_ENV=test",
		"HTTP_ADDR="+httpAddr,
		"ADMIN_ADDR="+adminAddr,
		"DATABASE_URL="+pgtest.NewDatabase(t),
		"MIGRATE_ON_START=true",
		"BLOB_STORE=file://"+t.TempDir(),
		"LOG_FORMAT=text",
	)
	var logs syncBuffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatalf("start gopherops serve: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		var exit error
		select {
		case exit = <-done:
		case <-time.After(30 * time.Second):
			_ = srv.Process.Kill()
			exit = <-done
			t.Errorf("gopherops did not stop within 30s of SIGTERM (%v)", exit)
		}
		if exit != nil && !t.Failed() {
			t.Errorf("gopherops exited with %v after SIGTERM, want a clean shutdown", exit)
		}
		if t.Failed() {
			t.Logf("gopherops output:\n%s", logs.String())
		}
	})

	client := &http.Client{Timeout: 5 * time.Second}
	base := "http://" + httpAddr
	waitFor(t, client, base+"/readyz", done)

	// Traffic so the per-request series exist: pages, a 404, a failed API login.
	for _, path := range []string{"/healthz", "/readyz", "/", "/login", "/no-such-page"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	resp, err := client.Post(base+"/api/v1/auth/tokens", "application/json",
		strings.NewReader(`{"username":"nobody","password":"wrong-password"}`))
	if err != nil {
		t.Fatalf("POST /api/v1/auth/tokens: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()

	resp, err = client.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	for _, want := range []string{"http_requests_total", "go_goroutines", "gopherops_build_info"} {
		if !names[want] {
			t.Fatalf("scrape lacks %s: not a GopherOps /metrics? got %d families", want, len(names))
		}
	}
	return names
}

// waitFor polls url until it answers 200, the process exits, or a minute passes.
func waitFor(t *testing.T, client *http.Client, url string, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("gopherops exited before it was ready: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within a minute (last error %v)", url, err)
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// syncBuffer collects a child process's output from two pipes safely.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
