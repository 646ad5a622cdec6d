package recovery

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gopherops/gopherops/infra/app"
	"github.com/gopherops/gopherops/service/pglocal"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

var dumpName = regexp.MustCompile(`^gopherops-[0-9]{8}T[0-9]{6}Z\.dump$`)

// script runs one of the component's scripts as the pods do (/bin/sh -c),
// with the libpq variables of dbURL, the client tools of the installed
// PostgreSQL on PATH, and the extra variables.
func script(t *testing.T, body, dbURL string, extra ...string) (string, error) {
	t.Helper()
	bin, err := pglocal.BinDir()
	if err != nil {
		t.Fatalf("PostgreSQL binaries: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", body)
	cmd.Env = append([]string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"PGHOST=" + u.Hostname(), "PGPORT=" + u.Port(), "PGUSER=" + u.User.Username(),
		"PGPASSWORD=" + password, "PGDATABASE=" + strings.TrimPrefix(u.Path, "/"),
		"PGSSLMODE=disable", "LANG=C.UTF-8",
	}, extra...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// state is what a restore must bring back: the schema version and every
// row of the probe table.
type state struct {
	version int64
	dirty   bool
	rows    []string
}

func read(t *testing.T, dbURL string) state {
	t.Helper()
	c := connect(t, dbURL)
	ctx := context.Background()
	var s state
	if err := c.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&s.version, &s.dirty); err != nil {
		t.Fatalf("schema version: %v", err)
	}
	rows, err := c.Query(ctx, "SELECT note FROM recovery_probe ORDER BY id")
	if err != nil {
		t.Fatalf("probe rows: %v", err)
	}
	s.rows, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func exec1(t *testing.T, dbURL, sql string, args ...any) {
	t.Helper()
	if _, err := connect(t, dbURL).Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func dumps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// backupOnce runs the backup script and waits out the second its dump is
// named after, so the next one gets a name of its own.
func backupOnce(t *testing.T, src, dir, keep string) string {
	t.Helper()
	out, err := script(t, app.BackupScript, src, "BACKUP_DIR="+dir, "BACKUP_KEEP="+keep)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	return out
}

// TestBackupThenRestore: the backup CronJob's script writes a custom-format
// dump that pg_restore reads, keeps the newest BACKUP_KEEP, and the restore
// Job's script brings schema version and data back into an empty database,
// once: a retry passes, and a database with tables is never overwritten.
func TestBackupThenRestore(t *testing.T) {
	src := pgtest.NewDatabase(t)
	exec1(t, src, "CREATE TABLE recovery_probe (id serial PRIMARY KEY, note text NOT NULL)")
	exec1(t, src, "INSERT INTO recovery_probe (note) VALUES ('before the first backup'), ('quotes '' and \"double\"')")
	dir := t.TempDir()
	// A dump a crashed run left behind.
	if err := os.WriteFile(filepath.Join(dir, ".gopherops-20250101T000000Z.dump.partial"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	out := backupOnce(t, src, dir, "2")
	if !strings.Contains(out, "removed the unfinished") {
		t.Errorf("the unfinished dump was not cleared:\n%s", out)
	}
	first := dumps(t, dir)
	if len(first) != 1 || !dumpName.MatchString(first[0]) {
		t.Fatalf("after one backup the volume holds %v, want one dump", first)
	}
	info, err := os.Stat(filepath.Join(dir, first[0]))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("dump mode = %v, %v; want 0600 (only the postgres user reads it)", info.Mode(), err)
	}

	exec1(t, src, "INSERT INTO recovery_probe (note) VALUES ('after the first backup')")
	backupOnce(t, src, dir, "2")
	exec1(t, src, "INSERT INTO recovery_probe (note) VALUES ('after the second backup')")
	out = backupOnce(t, src, dir, "2")
	kept := dumps(t, dir)
	if len(kept) != 2 || slices.Contains(kept, first[0]) || !strings.Contains(out, "removed "+first[0]) {
		t.Fatalf("after three backups keeping 2: %v (the first was %s)\n%s", kept, first[0], out)
	}
	want := read(t, src)

	// The latest backup into an empty database.
	dst := pgtest.NewEmptyDatabase(t)
	out, err = script(t, app.RestoreScript, dst, "BACKUP_DIR="+dir, "RESTORE_FROM=latest")
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	got := read(t, dst)
	if got.version != want.version || got.dirty || !slices.Equal(got.rows, want.rows) {
		t.Errorf("restored %+v, want %+v", got, want)
	}
	var comment string
	if err := connect(t, dst).QueryRow(context.Background(),
		"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()").Scan(&comment); err != nil {
		t.Fatal(err)
	}
	if comment != "restored from "+kept[1] {
		t.Errorf("database comment %q, want the newest dump %s", comment, kept[1])
	}

	// A retried Job passes without touching anything.
	exec1(t, dst, "INSERT INTO recovery_probe (note) VALUES ('written after the restore')")
	out, err = script(t, app.RestoreScript, dst, "BACKUP_DIR="+dir, "RESTORE_FROM=latest")
	if err != nil || !strings.Contains(out, "was restored already") {
		t.Errorf("a retried restore: %v\n%s", err, out)
	}
	if rows := read(t, dst).rows; rows[len(rows)-1] != "written after the restore" {
		t.Error("a retried restore overwrote what was written since")
	}

	// A named, older backup into another empty database.
	older := pgtest.NewEmptyDatabase(t)
	if out, err := script(t, app.RestoreScript, older, "BACKUP_DIR="+dir, "RESTORE_FROM="+kept[0]); err != nil {
		t.Fatalf("restore %s: %v\n%s", kept[0], err, out)
	}
	if rows := read(t, older).rows; len(rows) != 3 || rows[2] != "after the first backup" {
		t.Errorf("the older dump restored %v", rows)
	}
}

// TestRestoreRefuses: the restore never overwrites a database with tables,
// and names what is missing instead of guessing.
func TestRestoreRefuses(t *testing.T) {
	src := pgtest.NewDatabase(t)
	exec1(t, src, "CREATE TABLE recovery_probe (id serial PRIMARY KEY, note text NOT NULL)")
	exec1(t, src, "INSERT INTO recovery_probe (note) VALUES ('live data')")
	dir := t.TempDir()
	backupOnce(t, src, dir, "3")
	name := dumps(t, dir)[0]
	empty := t.TempDir()

	cases := []struct {
		name, db, dir, from, want string
	}{
		{"a database with tables", src, dir, "latest", "refusing to overwrite it"},
		{"no backup at all", pgtest.NewEmptyDatabase(t), empty, "latest", "no backup in"},
		{"a backup that does not exist", pgtest.NewEmptyDatabase(t), dir, "gopherops-20200101T000000Z.dump", "no backup named gopherops-20200101T000000Z.dump; the backups are:\n" + name},
		{"a path instead of a name", pgtest.NewEmptyDatabase(t), dir, "../" + filepath.Base(dir) + "/" + name, "no backup named"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := script(t, app.RestoreScript, tc.db, "BACKUP_DIR="+tc.dir, "RESTORE_FROM="+tc.from)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("restore = %v, output:\n%s\nwant a failure saying %q", err, out, tc.want)
			}
		})
	}
	if rows := read(t, src).rows; !slices.Equal(rows, []string{"live data"}) {
		t.Errorf("the refused restore changed the live database: %v", rows)
	}
}
