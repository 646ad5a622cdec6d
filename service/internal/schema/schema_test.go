package schema_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func migrator(t *testing.T, url string) *schema.Migrator {
	t.Helper()
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	m, err := schema.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// tables lists the user tables, the fingerprint of a schema state.
func tables(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestUpDownUpRoundTrip(t *testing.T) {
	url := pgtest.NewEmptyDatabase(t)
	m := migrator(t, url)
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	full := tables(t, url)
	if v, dirty, _ := m.Version(); v != schema.Latest() || dirty {
		t.Fatalf("after up: version %d dirty %v, want %d", v, dirty, schema.Latest())
	}
	// Walk all the way down one step at a time: every down must work.
	for v := schema.Latest(); v > 0; v-- {
		if err := m.Down(1); err != nil {
			t.Fatalf("down from %d: %v", v, err)
		}
	}
	if got := tables(t, url); len(got) != 1 || got[0] != "schema_migrations" {
		t.Fatalf("after all downs, tables %v remain", got)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := tables(t, url); len(got) != len(full) {
		t.Fatalf("after up-down-up tables %v, want %v", got, full)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("a second up on a current schema must be a no-op: %v", err)
	}
}

func TestConcurrentUpLeavesOneConsistentSchema(t *testing.T) {
	url := pgtest.NewEmptyDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cc, err := pgx.ParseConfig(url)
			if err != nil {
				errs[i] = err
				return
			}
			m, err := schema.New(cc)
			if err != nil {
				errs[i] = err
				return
			}
			defer m.Close()
			errs[i] = m.Up()
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	v, dirty, err := migrator(t, url).Version()
	if err != nil || v != schema.Latest() || dirty {
		t.Fatalf("version %d dirty %v err %v, want %d clean", v, dirty, err, schema.Latest())
	}
	want := []string{"audit_events", "identities", "login_attempts", "schema_migrations", "sessions", "users"}
	if got := tables(t, url); !slices.Equal(got, want) {
		t.Fatalf("tables %v, want %v", got, want)
	}
}

func TestForceAndDirty(t *testing.T) {
	url := pgtest.NewEmptyDatabase(t)
	m := migrator(t, url)
	if err := m.Force(2); err != nil {
		t.Fatal(err)
	}
	if v, dirty, _ := m.Version(); v != 2 || dirty {
		t.Fatalf("force 2: version %d dirty %v", v, dirty)
	}
	if err := m.Down(0); err == nil {
		t.Fatal("down 0 accepted")
	}
}
