package observability

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gopherops/gopherops/service/internal/buildinfo"
)

// Metrics are the service's Prometheus instruments, on a registry of their own
// (no global default registry, so tests can build as many as they like).
type Metrics struct {
	Registry        *prometheus.Registry
	RequestsTotal   *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	InFlight        prometheus.Gauge
	LoginAttempts   *prometheus.CounterVec
	// PasswordVerifications counts argon2id verifications by outcome: the
	// expensive work sign-in guesses cost, which the lock-out must bound.
	PasswordVerifications *prometheus.CounterVec
}

// NewMetrics registers the HTTP, login, build and Go runtime metrics.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		RequestsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by method, route template and status code.",
		}, []string{"method", "route", "status"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency, by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "HTTP requests being served right now.",
		}),
		LoginAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gopherops_login_attempts_total",
			Help: "Sign-in attempts by result (success, failure, throttled, disabled).",
		}, []string{"result"}),
		PasswordVerifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gopherops_password_verifications_total",
			Help: "Password hash verifications by outcome (match, mismatch, no_such_user).",
		}, []string{"outcome"}),
	}
	info := buildinfo.Get()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "gopherops_build_info",
		Help:        "Build metadata of the running binary; always 1.",
		ConstLabels: prometheus.Labels{"version": info.Version, "commit": info.Commit, "goversion": info.GoVersion},
	})
	buildInfo.Set(1)
	reg.MustRegister(m.RequestsTotal, m.RequestDuration, m.InFlight, m.LoginAttempts, m.PasswordVerifications, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, r := range []string{"success", "failure", "throttled"} {
		m.LoginAttempts.WithLabelValues(r)
	}
	for _, o := range []string{"match", "mismatch", "no_such_user"} {
		m.PasswordVerifications.WithLabelValues(o)
	}
	return m
}

// RegisterPool exports the connection pool's statistics.
func (m *Metrics) RegisterPool(pool *pgxpool.Pool) {
	m.Registry.MustRegister(&poolCollector{pool: pool})
}

var (
	poolTotal    = prometheus.NewDesc("gopherops_db_pool_total_conns", "Open connections in the pool.", nil, nil)
	poolIdle     = prometheus.NewDesc("gopherops_db_pool_idle_conns", "Idle connections in the pool.", nil, nil)
	poolAcquired = prometheus.NewDesc("gopherops_db_pool_acquired_conns", "Connections in use.", nil, nil)
	poolMax      = prometheus.NewDesc("gopherops_db_pool_max_conns", "Maximum size of the pool.", nil, nil)
	poolAcquires = prometheus.NewDesc("gopherops_db_pool_acquire_total", "Connections acquired from the pool.", nil, nil)
	poolWait     = prometheus.NewDesc("gopherops_db_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", nil, nil)
	poolEmpty    = prometheus.NewDesc("gopherops_db_pool_empty_acquire_total", "Acquires that had to wait because the pool was empty.", nil, nil)
)

// poolCollector reads pgxpool.Stat at scrape time, so it costs nothing between scrapes.
type poolCollector struct{ pool *pgxpool.Pool }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolTotal, poolIdle, poolAcquired, poolMax, poolAcquires, poolWait, poolEmpty} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(poolEmpty, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
}
