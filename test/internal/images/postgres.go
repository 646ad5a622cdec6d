package images

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PostgresUID is the user and group of the PostgreSQL image, as in the
// official Debian-based image the local stack's StatefulSet expects.
const PostgresUID = 999

// PostgresSuite is the Debian release whose PostgreSQL is the project's
// (17: compose, the migrations and the local stack's config all say so).
const PostgresSuite = "trixie"

// postgresEntrypoint initialises PGDATA from the POSTGRES_* variables on
// the first start, as the official image's entrypoint does, then runs the
// server. The root filesystem is read-only: only PGDATA's volume, /tmp and
// the socket directory are written.
const postgresEntrypoint = `#!/bin/sh
# Entrypoint of the platform suite's PostgreSQL image: on the first start,
# initdb from POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB; then the server.
set -eu
if [ "${1:-}" != postgres ]; then
	exec "$@"
fi
: "${PGDATA:?PGDATA must name the data directory}"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
mkdir -p "$PGDATA"
# PostgreSQL refuses a data directory others can read; a volume's fsGroup
# handling may have loosened it.
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set on the first start}"
	pwfile="$(mktemp)"
	trap 'rm -f "$pwfile"' EXIT
	printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
	initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
	rm -f "$pwfile"
	trap - EXIT
	if [ "$db" != postgres ]; then
		# Double quotes inside an identifier are doubled.
		quoted=$(printf '%s' "$db" | sed 's/"/""/g')
		printf 'CREATE DATABASE "%s";\n' "$quoted" | postgres --single -j -D "$PGDATA" postgres >/dev/null
	fi
	printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
	echo "entrypoint: initialised $PGDATA for $user, database $db"
fi
shift
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
`

// PostgresOptions configure Postgres.
type PostgresOptions struct {
	// WorkDir holds the root filesystem while it is built; it must be on a
	// filesystem that keeps owners and modes (not tmpfs with noexec).
	WorkDir string
	// Suite is the Debian release; empty means PostgresSuite.
	Suite string
	// Mirror is the Debian mirror; empty means the one this machine's apt
	// uses for its own release's main component (it serves every release).
	Mirror string
	// Log receives debootstrap's output; nil discards it.
	Log io.Writer
}

// Postgres builds the PostgreSQL image from Debian's packages:
// `debootstrap --variant=minbase --include=postgresql` into a directory,
// the documentation, apt's lists and the cluster Debian's postinst creates
// removed, the postgres user renumbered to 999, and an entrypoint that runs
// initdb from the POSTGRES_* variables. Needs root (debootstrap does).
// It returns the image and PostgreSQL's major version.
func Postgres(ctx context.Context, o PostgresOptions) (_ Image, major string, err error) {
	if o.Suite == "" {
		o.Suite = PostgresSuite
	}
	if o.Mirror == "" {
		host, err := hostSuite("/etc/os-release")
		if err != nil {
			return Image{}, "", err
		}
		if o.Mirror, err = aptMirror(host, "/etc/apt/sources.list", "/etc/apt/sources.list.d"); err != nil {
			return Image{}, "", err
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	rootfs, err := os.MkdirTemp(o.WorkDir, "postgres-rootfs-")
	if err != nil {
		return Image{}, "", fmt.Errorf("images: postgres: %w", err)
	}
	defer func() {
		// debootstrap mounts /proc and /sys in the target; a failed run can
		// leave them mounted, and RemoveAll must never descend into them.
		if uerr := unmountUnder(rootfs); uerr != nil {
			err = errors.Join(err, uerr)
			return
		}
		_ = os.RemoveAll(rootfs)
	}()

	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include=postgresql", o.Suite, rootfs, o.Mirror) //nolint:gosec // fixed program, arguments from the machine's own apt configuration
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return Image{}, "", fmt.Errorf("images: postgres: debootstrap %s from %s: %w", o.Suite, o.Mirror, err)
	}
	if err := unmountUnder(rootfs); err != nil {
		return Image{}, "", err
	}

	// Every change to the tree goes through os.Root: the tree holds
	// absolute symlinks (var/run -> /run) that must never lead to the host.
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return Image{}, "", fmt.Errorf("images: postgres: %w", err)
	}
	defer root.Close()
	bins, _ := fs.Glob(root.FS(), "usr/lib/postgresql/*/bin/postgres")
	if len(bins) != 1 {
		return Image{}, "", fmt.Errorf("images: postgres: want one PostgreSQL in the root filesystem, found %v", bins)
	}
	major = path.Base(path.Dir(path.Dir(bins[0])))
	for _, pattern := range []string{
		"usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/lintian",
		"var/cache/apt/*", "var/cache/debconf/*-old", "var/lib/apt/lists/*", "var/log/*",
		"var/lib/postgresql/*/main", "etc/postgresql/*/main",
		"usr/share/locale/*",
	} {
		matches, _ := fs.Glob(root.FS(), pattern)
		for _, m := range matches {
			if err := root.RemoveAll(m); err != nil {
				return Image{}, "", fmt.Errorf("images: postgres: trim: %w", err)
			}
		}
	}
	oldUID, oldGID, err := renumberUser(root, "postgres", PostgresUID)
	if err != nil {
		return Image{}, "", err
	}
	if err := root.MkdirAll("usr/local/bin", 0o755); err != nil { //nolint:gosec // a directory of the image
		return Image{}, "", fmt.Errorf("images: postgres: %w", err)
	}
	if err := root.WriteFile("usr/local/bin/docker-entrypoint.sh", []byte(postgresEntrypoint), 0o755); err != nil { //nolint:gosec // the image's entrypoint must be executable
		return Image{}, "", fmt.Errorf("images: postgres: %w", err)
	}
	// PGDATA's default and the socket directory (run/, which var/run links to).
	for _, dir := range []string{"var/lib/postgresql/data", "run/postgresql"} {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return Image{}, "", fmt.Errorf("images: postgres: %w", err)
		}
		if err := root.Chown(dir, oldUID, oldGID); err != nil {
			return Image{}, "", fmt.Errorf("images: postgres: %w", err)
		}
	}

	l, err := NewLayer(o.WorkDir)
	if err != nil {
		return Image{}, "", err
	}
	if err := l.Tree(rootfs, map[int]int{oldUID: PostgresUID, oldGID: PostgresUID}); err != nil {
		l.Remove()
		return Image{}, "", err
	}
	return Image{
		Created: time.Now(),
		Layers:  []*Layer{l},
		Config: Config{
			User: strconv.Itoa(PostgresUID),
			Env: []string{
				"PATH=/usr/lib/postgresql/" + major + "/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"LANG=C.UTF-8",
				"PGDATA=/var/lib/postgresql/data",
			},
			Entrypoint:   []string{"/usr/local/bin/docker-entrypoint.sh"},
			Cmd:          []string{"postgres"},
			ExposedPorts: map[string]struct{}{"5432/tcp": {}},
			StopSignal:   "SIGINT",
			Labels:       map[string]string{"org.opencontainers.image.description": "PostgreSQL " + major + " from Debian " + o.Suite + " for the GopherOps platform suite"},
		},
	}, major, nil
}

// renumberUser gives user (and its group) the id in rootfs's /etc/passwd
// and /etc/group, and returns the old ids; files keep their numeric owners
// and are remapped when packed. Another user or group already holding the
// id is an error.
func renumberUser(root *os.Root, user string, id int) (oldUID, oldGID int, err error) {
	oldUID, err = renumber(root, "etc/passwd", user, id, true)
	if err != nil {
		return 0, 0, err
	}
	oldGID, err = renumber(root, "etc/group", user, id, false)
	return oldUID, oldGID, err
}

// renumber sets name's id (field 3) in a passwd or group file, and in
// passwd its primary group (field 4) too.
func renumber(root *os.Root, path, name string, id int, passwd bool) (int, error) {
	data, err := root.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("images: %w", err)
	}
	old := -1
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 {
			cur, _ := strconv.Atoi(fields[2])
			switch {
			case fields[0] == name:
				old = cur
				fields[2] = strconv.Itoa(id)
				if passwd && len(fields) >= 4 {
					fields[3] = strconv.Itoa(id)
				}
			case cur == id:
				return 0, fmt.Errorf("images: %s: %s already has id %d", path, fields[0], id)
			}
		}
		out.WriteString(strings.Join(fields, ":") + "\n")
	}
	if old < 0 {
		return 0, fmt.Errorf("images: %s: no %s", path, name)
	}
	if err := root.WriteFile(path, out.Bytes(), 0o644); err != nil { //nolint:gosec // passwd and group are world-readable
		return 0, fmt.Errorf("images: %w", err)
	}
	return old, nil
}

// hostSuite is VERSION_CODENAME from an os-release file.
func hostSuite(osRelease string) (string, error) {
	data, err := os.ReadFile(osRelease) //nolint:gosec // the machine's os-release
	if err != nil {
		return "", fmt.Errorf("images: Debian release: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "VERSION_CODENAME="); ok && v != "" {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", fmt.Errorf("images: no VERSION_CODENAME in %s: not a Debian machine?", osRelease)
}

// aptMirror is the URI this machine's apt fetches suite's main component
// from: a deb822 .sources stanza or a one-line sources.list entry.
func aptMirror(suite, list, dir string) (string, error) {
	files := []string{list}
	more, _ := filepath.Glob(filepath.Join(dir, "*.sources"))
	files = append(files, more...)
	more, _ = filepath.Glob(filepath.Join(dir, "*.list"))
	files = append(files, more...)
	for _, f := range files {
		data, err := os.ReadFile(f) //nolint:gosec // apt's own configuration
		if err != nil {
			continue
		}
		if strings.HasSuffix(f, ".sources") {
			for stanza := range strings.SplitSeq(string(data), "\n\n") {
				fields := map[string]string{}
				for line := range strings.Lines(stanza) {
					if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(strings.TrimSpace(k), "#") {
						fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
					}
				}
				uris := strings.Fields(fields["URIs"])
				if len(uris) > 0 && fields["Types"] == "deb" && hasField(fields["Suites"], suite) && hasField(fields["Components"], "main") {
					return uris[0], nil
				}
			}
			continue
		}
		for line := range strings.Lines(string(data)) {
			f := strings.Fields(line)
			// deb [options] uri suite components...
			if len(f) >= 4 && f[0] == "deb" {
				rest := f[1:]
				if strings.HasPrefix(rest[0], "[") {
					for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
						rest = rest[1:]
					}
					if len(rest) > 0 {
						rest = rest[1:]
					}
				}
				if len(rest) >= 3 && rest[1] == suite && hasField(strings.Join(rest[2:], " "), "main") {
					return rest[0], nil
				}
			}
		}
	}
	return "", fmt.Errorf("images: no apt source for Debian %s main on this machine", suite)
}

func hasField(fields, want string) bool {
	for _, f := range strings.Fields(fields) {
		if f == want {
			return true
		}
	}
	return false
}

// unmountUnder unmounts, deepest first, every mount point under dir.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	var points []string
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := syscall.Unmount(points[i], syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("images: unmount %s: %w", points[i], err))
		}
	}
	return errors.Join(errs...)
}
