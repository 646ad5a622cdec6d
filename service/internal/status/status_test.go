package status_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/internal/status"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type fixedCount int64

func (n fixedCount) CountUsers(context.Context) (int64, error) { return int64(n), nil }

func TestSnapshotFeedsTheHistory(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	r := status.NewReporter(pool, fixedCount(3), time.Now().Add(-time.Minute), "")

	s := r.Snapshot(t.Context())
	if !s.Database.Up || s.Database.MigrationVersion != schema.Latest() || s.Users != 3 || s.Pod == "" || s.Uptime < 60 {
		t.Fatalf("snapshot %+v", s)
	}
	r.ObserveRequest(time.Now(), 40*time.Millisecond, 200)
	r.ObserveRequest(time.Now(), 10*time.Millisecond, 503)

	pts := r.History(time.Now())
	if len(pts) != status.HistoryBuckets {
		t.Fatalf("%d points, want %d", len(pts), status.HistoryBuckets)
	}
	last := pts[len(pts)-1]
	if last.Requests != 2 || last.ErrorRatio != 0.5 || !last.HasDatabase || last.Database <= 0 {
		// The two observations may straddle a bucket edge; then they are split.
		prev := pts[len(pts)-2]
		if last.Requests+prev.Requests != 2 || !last.HasDatabase && !prev.HasDatabase {
			t.Fatalf("newest buckets %+v %+v", prev, last)
		}
	}

	pool.Close()
	down := r.Snapshot(t.Context())
	if down.Database.Up || down.Users != 0 {
		t.Fatalf("snapshot without a database: %+v", down.Database)
	}
}

func TestNilReporterIgnoresRequests(t *testing.T) {
	var r *status.Reporter
	r.ObserveRequest(time.Now(), time.Millisecond, 200) // a router built without a reporter must not panic
}
