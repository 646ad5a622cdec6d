package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/internal/web"
)

// statusResponse is GET /api/v1/status, the dashboard's data: the wire
// form is this package's, converted from the status snapshot.
type statusResponse struct {
	Build       buildResponse        `json:"build"`
	Hostname    string               `json:"hostname"`
	Pod         string               `json:"pod"`
	ServerTime  time.Time            `json:"server_time"`
	StartedAt   time.Time            `json:"started_at"`
	Uptime      float64              `json:"uptime_seconds"`
	Runtime     runtimeResponse      `json:"runtime"`
	Database    databaseResponse     `json:"database"`
	Users       int64                `json:"user_count"`
	Ready       bool                 `json:"ready"`
	RecentAudit []auditEventResponse `json:"recent_audit"`
}

type buildResponse struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"build_date"`
	GoVersion string `json:"go_version"`
}

type runtimeResponse struct {
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	Goroutines int    `json:"goroutines"`
	HeapAlloc  uint64 `json:"heap_alloc_bytes"`
	HeapSys    uint64 `json:"heap_sys_bytes"`
	NumGC      uint32 `json:"gc_cycles"`
}

type databaseResponse struct {
	Up               bool         `json:"up"`
	LatencyMillis    float64      `json:"latency_ms"`
	MigrationVersion uint         `json:"migration_version"`
	MigrationLatest  uint         `json:"migration_latest"`
	Dirty            bool         `json:"dirty"`
	Pool             poolResponse `json:"pool"`
}

type poolResponse struct {
	Total    int32 `json:"total_conns"`
	Idle     int32 `json:"idle_conns"`
	Acquired int32 `json:"acquired_conns"`
	Max      int32 `json:"max_conns"`
}

func toStatusResponse(s status.Snapshot, draining bool) statusResponse {
	db := s.Database
	return statusResponse{
		Build:      buildResponse{Version: s.Build.Version, Commit: s.Build.Commit, Date: s.Build.Date, GoVersion: s.Build.GoVersion},
		Hostname:   s.Hostname,
		Pod:        s.Pod,
		ServerTime: s.ServerTime,
		StartedAt:  s.StartedAt,
		Uptime:     s.Uptime,
		Runtime: runtimeResponse{GoVersion: s.Runtime.GoVersion, GOMAXPROCS: s.Runtime.GOMAXPROCS, NumCPU: s.Runtime.NumCPU,
			Goroutines: s.Runtime.Goroutines, HeapAlloc: s.Runtime.HeapAlloc, HeapSys: s.Runtime.HeapSys, NumGC: s.Runtime.NumGC},
		Database: databaseResponse{Up: db.Up, LatencyMillis: db.LatencyMillis, MigrationVersion: db.MigrationVersion,
			MigrationLatest: db.MigrationLatest, Dirty: db.Dirty,
			Pool: poolResponse{Total: db.Pool.Total, Idle: db.Pool.Idle, Acquired: db.Pool.Acquired, Max: db.Pool.Max}},
		Users:       s.Users,
		Ready:       !draining && db.Up && db.MigrationVersion == db.MigrationLatest,
		RecentAudit: []auditEventResponse{},
	}
}

func (h *handlers) status(c *gin.Context) (int, any, error) {
	a, _ := web.Actor(c)
	ctx := c.Request.Context()
	resp := toStatusResponse(h.Status.Snapshot(ctx), h.Readiness.Draining())
	// The trail names users and addresses: admins only.
	if a.User.IsAdmin() {
		if events, err := h.Accounts.AuditTrail(ctx, a, 0, 10); err == nil {
			resp.RecentAudit = toAuditResponse(events)
		}
	}
	return http.StatusOK, resp, nil
}
