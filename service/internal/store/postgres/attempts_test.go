package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopherops/gopherops/service/internal/accounts"
)

var testLimit = accounts.AttemptLimit{Threshold: 3, Base: time.Minute, Cap: 4 * time.Minute, Window: time.Hour}

func TestReserveAttemptLocksAtTheThreshold(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	u, err := st.CreateUser(ctx, rec("guessed"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		name      string
		at        time.Duration // after t0
		source    string
		wantRetry time.Duration // 0: the attempt may be verified
	}{
		{"1st failure", 0, "192.0.2.1", 0},
		{"2nd failure", time.Second, "192.0.2.1", 0},
		{"3rd reaches the threshold: checked, then locked 1 min", 2 * time.Second, "192.0.2.1", 0},
		{"locked: refused, not counted", 3 * time.Second, "192.0.2.1", time.Minute - time.Second},
		{"another source is not locked", 4 * time.Second, "198.51.100.7", 0},
		{"after the lock: one check, then locked 2 min", 2*time.Second + time.Minute, "192.0.2.1", 0},
		{"doubled", 3*time.Second + time.Minute, "192.0.2.1", 2*time.Minute - time.Second},
		{"after it: locked 4 min, the cap", 2*time.Second + 3*time.Minute, "192.0.2.1", 0},
		{"capped", 3*time.Second + 3*time.Minute, "192.0.2.1", 4*time.Minute - time.Second},
		{"next: still the cap", 2*time.Second + 7*time.Minute, "192.0.2.1", 0},
		{"capped again", 3*time.Second + 7*time.Minute, "192.0.2.1", 4*time.Minute - time.Second},
		{"an hour of quiet forgets the failures", 2 * time.Hour, "192.0.2.1", 0},
		{"counting from one again", 2*time.Hour + time.Second, "192.0.2.1", 0},
	}
	for _, s := range steps {
		retry, err := st.ReserveAttempt(ctx, accounts.AccountSubject(u.ID), s.source, t0.Add(s.at), testLimit)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if retry != s.wantRetry {
			t.Fatalf("%s: retry after %s, want %s", s.name, retry, s.wantRetry)
		}
	}
}

func TestClearAttempts(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	u, err := st.CreateUser(ctx, rec("forgiven"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	lock := func(source string) {
		for range testLimit.Threshold {
			if _, err := st.ReserveAttempt(ctx, accounts.AccountSubject(u.ID), source, now, testLimit); err != nil {
				t.Fatal(err)
			}
		}
	}
	locked := func(source string) bool {
		retry, err := st.ReserveAttempt(ctx, accounts.AccountSubject(u.ID), source, now, testLimit)
		if err != nil {
			t.Fatal(err)
		}
		return retry > 0
	}
	lock("a")
	lock("b")
	if err := st.ClearAttempts(ctx, accounts.AccountSubject(u.ID), "a"); err != nil {
		t.Fatal(err)
	}
	if locked("a") || !locked("b") {
		t.Fatal("clearing one source must clear that source only")
	}
	if err := st.ClearAttempts(ctx, accounts.AccountSubject(u.ID), accounts.AllSources); err != nil {
		t.Fatal(err)
	}
	if locked("b") {
		t.Fatal("clearing all sources must clear every one")
	}
}

// TestReserveAttemptIsExactUnderConcurrency: however many attempts arrive at
// once, exactly Threshold of them are admitted before the lock.
func TestReserveAttemptIsExactUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	u, err := st.CreateUser(ctx, rec("burst"))
	if err != nil {
		t.Fatal(err)
	}
	const attempts = 30
	var admitted atomic.Int32
	var wg sync.WaitGroup
	now := time.Now()
	for range attempts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			retry, err := st.ReserveAttempt(ctx, accounts.AccountSubject(u.ID), "203.0.113.9", now, testLimit)
			if err != nil {
				t.Error(err)
				return
			}
			if retry == 0 {
				admitted.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := admitted.Load(); got != int32(testLimit.Threshold) {
		t.Fatalf("%d of %d concurrent attempts admitted, want exactly %d", got, attempts, testLimit.Threshold)
	}
}

func TestReleaseAttempt(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	subject := accounts.AttemptSubject("user:1")
	now := time.Now()
	reserve := func() time.Duration {
		retry, err := st.ReserveAttempt(ctx, subject, "", now, testLimit)
		if err != nil {
			t.Fatal(err)
		}
		return retry
	}
	release := func() {
		if err := st.ReleaseAttempt(ctx, subject, "", testLimit); err != nil {
			t.Fatal(err)
		}
	}
	// Checks that turn out right take nothing away: any number of them
	// leave the subject unlocked.
	for range 3 * testLimit.Threshold {
		if retry := reserve(); retry != 0 {
			t.Fatalf("a check after only released ones: retry after %s", retry)
		}
		release()
	}
	// The threshold-th reservation starts a lock-out; taking it back (the
	// password was right) lifts it, and the next check goes ahead.
	for range testLimit.Threshold - 1 {
		reserve()
	}
	reserve()
	release()
	if retry := reserve(); retry != 0 {
		t.Fatalf("after a released threshold-th check: retry after %s, want none", retry)
	}
	if retry := reserve(); retry == 0 {
		t.Fatal("failures past the threshold must still lock")
	}
	// Releasing what is not there is not an error.
	if err := st.ReleaseAttempt(ctx, "user:404", "", testLimit); err != nil {
		t.Fatal(err)
	}
}

func TestPruneAttempts(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range 10 {
		// Ten stale counters, one of them still locked out.
		limit := testLimit
		if i == 0 {
			limit.Threshold = 1
			limit.Base, limit.Cap = 3*time.Hour, 3*time.Hour
		}
		if _, err := st.ReserveAttempt(ctx, accounts.AttemptSubject(fmt.Sprintf("login:%d", i)), "192.0.2.1", t0, limit); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.ReserveAttempt(ctx, "user:7", "192.0.2.1", t0.Add(90*time.Minute), testLimit); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Hour)
	before := now.Add(-time.Hour)
	for _, step := range []struct {
		limit int
		want  int64
	}{{4, 4}, {0, 5}, {0, 0}} {
		n, err := st.PruneAttempts(ctx, before, now, step.limit)
		if err != nil {
			t.Fatal(err)
		}
		if n != step.want {
			t.Fatalf("prune (limit %d): %d deleted, want %d", step.limit, n, step.want)
		}
	}
	// Left: the fresh counter and the one still locked out (until t0+3h).
	if n, err := st.PruneAttempts(ctx, now.Add(time.Hour), now.Add(time.Hour+time.Minute), 0); err != nil || n != 2 {
		t.Fatalf("once the lock ends and the window passes: %d deleted (%v), want 2", n, err)
	}
}
