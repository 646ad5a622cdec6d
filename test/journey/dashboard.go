package journey

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Status is the dashboard's data, GET /api/v1/status.
type Status struct {
	Build struct {
		Version   string `json:"version"`
		Commit    string `json:"commit"`
		GoVersion string `json:"go_version"`
	} `json:"build"`
	Hostname      string    `json:"hostname"`
	Pod           string    `json:"pod"`
	ServerTime    time.Time `json:"server_time"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Runtime       struct {
		GoVersion  string `json:"go_version"`
		GOMAXPROCS int    `json:"gomaxprocs"`
		Goroutines int    `json:"goroutines"`
		HeapAlloc  uint64 `json:"heap_alloc_bytes"`
	} `json:"runtime"`
	Database struct {
		Up               bool    `json:"up"`
		LatencyMillis    float64 `json:"latency_ms"`
		MigrationVersion uint    `json:"migration_version"`
		MigrationLatest  uint    `json:"migration_latest"`
		Dirty            bool    `json:"dirty"`
		Pool             struct {
			Max int32 `json:"max_conns"`
		} `json:"pool"`
	} `json:"database"`
	UserCount   int64 `json:"user_count"`
	Ready       bool  `json:"ready"`
	RecentAudit []struct {
		Action     string    `json:"action"`
		OccurredAt time.Time `json:"occurred_at"`
	} `json:"recent_audit"`
}

// clockSkew is how far the deployment's clock may be from the test machine's.
const clockSkew = 5 * time.Minute

// Dashboard reads the dashboard's data as the admin: build, runtime and
// database facts, user count and the recent audit trail (NormalUser checks
// that a user sees it without the trail).
func Dashboard(t *testing.T, tg *Target) {
	admin := tg.AdminClient(t)
	var st Status
	admin.Get(t, "/api/v1/status").ExpectJSON(t, http.StatusOK, &st)

	if tg.Version != "" {
		assert.Equal(t, tg.Version, st.Build.Version, "build.version is the version the binary was built with")
	}
	assert.NotEmpty(t, st.Build.Version, "build.version")
	assert.NotEmpty(t, st.Build.GoVersion, "build.go_version")
	assert.NotEmpty(t, st.Hostname, "hostname")
	assert.WithinDuration(t, time.Now(), st.ServerTime, clockSkew, "server_time")
	assert.False(t, st.StartedAt.After(st.ServerTime), "started_at is not after server_time")
	assert.Greater(t, st.UptimeSeconds, 0.0, "uptime_seconds")
	assert.Positive(t, st.Runtime.GOMAXPROCS, "runtime.gomaxprocs")
	assert.Positive(t, st.Runtime.Goroutines, "runtime.goroutines")

	assert.True(t, st.Database.Up, "database.up")
	assert.False(t, st.Database.Dirty, "database.dirty")
	assert.Positive(t, st.Database.MigrationLatest, "database.migration_latest")
	assert.Equal(t, st.Database.MigrationLatest, st.Database.MigrationVersion, "the schema is at the binary's version")
	assert.Positive(t, st.Database.Pool.Max, "database.pool.max_conns")
	assert.True(t, st.Ready, "ready")

	users := ListUsers(t, admin, 100)
	assert.Equal(t, int64(len(users)), st.UserCount, "user_count matches the user list")

	require.NotEmpty(t, st.RecentAudit, "the admin sees the recent audit trail")
	for _, e := range st.RecentAudit {
		assert.NotEmpty(t, e.Action)
	}
}
