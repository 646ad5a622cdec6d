// Package status gathers what the operations dashboard shows: build, process
// and Go runtime facts, database health and pool figures, and user counts.
package status

import (
	"context"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/buildinfo"
	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/internal/timeseries"
)

// Snapshot is the dashboard's data at one instant.
type Snapshot struct {
	Build      buildinfo.Info `json:"build"`
	Hostname   string         `json:"hostname"`
	Pod        string         `json:"pod"`
	ServerTime time.Time      `json:"server_time"`
	StartedAt  time.Time      `json:"started_at"`
	Uptime     float64        `json:"uptime_seconds"`
	Runtime    Runtime        `json:"runtime"`
	Database   Database       `json:"database"`
	Users      int64          `json:"user_count"`
}

// Runtime describes the Go runtime of this process.
type Runtime struct {
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc_bytes"`
	HeapSys    uint64 `json:"heap_sys_bytes"`
	NumGC      uint32 `json:"gc_cycles"`
}

// Database describes the database as this process sees it.
type Database struct {
	Up               bool    `json:"up"`
	LatencyMillis    float64 `json:"latency_ms"`
	MigrationVersion uint    `json:"migration_version"`
	MigrationLatest  uint    `json:"migration_latest"`
	Dirty            bool    `json:"dirty"`
	Pool             Pool    `json:"pool"`
}

// Pool is a summary of pgxpool statistics.
type Pool struct {
	Total    int32 `json:"total_conns"`
	Idle     int32 `json:"idle_conns"`
	Acquired int32 `json:"acquired_conns"`
	Max      int32 `json:"max_conns"`
}

// UserCounter counts accounts.
type UserCounter interface {
	CountUsers(ctx context.Context) (int64, error)
}

// Reporter builds snapshots.
type Reporter struct {
	pool    *pgxpool.Pool
	users   UserCounter
	started time.Time
	host    string
	pod     string
	series  *timeseries.Ring
}

// History is how far back the dashboard's charts reach, in buckets of
// HistoryStep: ten minutes in 10-second steps.
const (
	HistoryStep    = 10 * time.Second
	HistoryBuckets = 60
)

// NewReporter returns a Reporter; pod names the Kubernetes pod when known.
func NewReporter(pool *pgxpool.Pool, users UserCounter, started time.Time, pod string) *Reporter {
	host, _ := os.Hostname()
	if pod == "" {
		pod = host
	}
	return &Reporter{pool: pool, users: users, started: started, host: host, pod: pod,
		series: timeseries.New(HistoryStep, HistoryBuckets)}
}

// ObserveRequest feeds one served request, ended at end, into the charts'
// history; a nil Reporter (a router built without one) ignores it.
func (r *Reporter) ObserveRequest(end time.Time, took time.Duration, statusCode int) {
	if r == nil {
		return
	}
	r.series.ObserveRequest(end, took, statusCode >= 500)
}

// History returns the charts' buckets ending now, oldest first.
func (r *Reporter) History(now time.Time) []timeseries.Point {
	return r.series.Points(now)
}

// DBState is the database's reachability and schema version.
type DBState struct {
	Latency time.Duration
	Version uint
	Dirty   bool
}

// CheckDatabase pings the database and reads the schema version in one round trip.
func CheckDatabase(ctx context.Context, pool *pgxpool.Pool) (DBState, error) {
	start := time.Now()
	var st DBState
	var v int64
	err := pool.QueryRow(ctx, `SELECT coalesce((SELECT version FROM schema_migrations LIMIT 1), 0),
		coalesce((SELECT dirty FROM schema_migrations LIMIT 1), false)`).Scan(&v, &st.Dirty)
	st.Latency = time.Since(start)
	if err != nil {
		return st, err
	}
	st.Version = uint(v)
	return st, nil
}

// Snapshot gathers the current state. Database failures are reported in the
// snapshot, not returned: the dashboard must work while the database is down.
func (r *Reporter) Snapshot(ctx context.Context) Snapshot {
	now := time.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Snapshot{
		Build: buildinfo.Get(), Hostname: r.host, Pod: r.pod,
		ServerTime: now.UTC(), StartedAt: r.started.UTC(), Uptime: now.Sub(r.started).Seconds(),
		Runtime: Runtime{
			GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
			Goroutines: runtime.NumGoroutine(), HeapAlloc: ms.HeapAlloc, HeapSys: ms.HeapSys, NumGC: ms.NumGC,
		},
	}
	ps := r.pool.Stat()
	s.Database.Pool = Pool{Total: ps.TotalConns(), Idle: ps.IdleConns(), Acquired: ps.AcquiredConns(), Max: ps.MaxConns()}
	s.Database.MigrationLatest = schema.Latest()
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := CheckDatabase(ctx, r.pool)
	s.Database.LatencyMillis = float64(st.Latency.Microseconds()) / 1000
	if err == nil {
		r.series.ObserveDatabase(now, st.Latency)
		s.Database.Up = true
		s.Database.MigrationVersion, s.Database.Dirty = st.Version, st.Dirty
		if n, err := r.users.CountUsers(ctx); err == nil {
			s.Users = n
		}
	}
	return s
}
