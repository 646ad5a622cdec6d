package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/buildinfo"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/schema"
)

// MigrateCommand runs `gopherops migrate up|down N|version|force V`.
func MigrateCommand(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, out io.Writer) error {
	if len(args) == 0 {
		return usageError("migrate needs a subcommand: up, down N, version or force V")
	}
	switch args[0] {
	case "up":
		if len(args) != 1 {
			return usageError("migrate up takes no arguments")
		}
		return Migrate(ctx, cfg, log)
	case "down":
		if len(args) != 2 {
			return usageError("migrate down needs the number of migrations to revert, e.g. `migrate down 1`")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return usageError("migrate down N: N must be a positive integer, got %q", args[1])
		}
		return withMigrator(ctx, cfg, func(m *schema.Migrator) error {
			if err := m.Down(n); err != nil {
				return err
			}
			v, _, err := m.Version()
			fmt.Fprintf(out, "reverted %d migration(s); now at version %d\n", n, v)
			return err
		})
	case "version":
		return withMigrator(ctx, cfg, func(m *schema.Migrator) error {
			v, dirty, err := m.Version()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "version %d (binary expects %d)", v, schema.Latest())
			if dirty {
				fmt.Fprint(out, " DIRTY")
			}
			fmt.Fprintln(out)
			return nil
		})
	case "force":
		if len(args) != 2 {
			return usageError("migrate force needs a version, e.g. `migrate force 2`")
		}
		v, err := strconv.Atoi(args[1])
		if err != nil || v < -1 {
			return usageError("migrate force V: V must be an integer >= -1, got %q", args[1])
		}
		return withMigrator(ctx, cfg, func(m *schema.Migrator) error {
			if err := m.Force(v); err != nil {
				return err
			}
			fmt.Fprintf(out, "forced version %d\n", v)
			return nil
		})
	default:
		return usageError("unknown migrate subcommand %q (want up, down, version or force)", args[0])
	}
}

// AdminCommand runs `gopherops admin create --username U --email E --role admin`.
func AdminCommand(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdin io.Reader, out io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError("admin needs a subcommand: create --username U --email E [--role admin|user]")
	}
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(out)
	username := fs.String("username", "", "username (3-50 of A-Z a-z 0-9 . _ -)")
	email := fs.String("email", "", "email address")
	role := fs.String("role", "admin", "admin or user")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError("%v", err)
	}
	if *username == "" || *email == "" {
		return usageError("admin create needs --username and --email")
	}
	pw, err := readPassword(stdin, out)
	if err != nil {
		return err
	}
	var u accounts.User
	err = withAccounts(ctx, cfg, log, func(svc *accounts.Service) error {
		var err error
		u, err = svc.CreateFromCLI(ctx, accounts.NewUser{Username: *username, Email: *email, Password: pw, Role: accounts.Role(*role)})
		return err
	})
	if err != nil {
		var verr *accounts.ValidationError
		var conflict *accounts.ConflictError
		if errors.As(err, &verr) || errors.As(err, &conflict) {
			return fmt.Errorf("cannot create the user: %w", err)
		}
		return err
	}
	kind := string(u.Role)
	if u.IsRoot {
		kind = "root admin"
	}
	fmt.Fprintf(out, "created %s %q (id %d)\n", kind, u.Username, u.ID)
	return nil
}

// readPassword takes ADMIN_PASSWORD, else one line of stdin (without echo on a terminal).
func readPassword(stdin io.Reader, out io.Writer) (string, error) {
	if pw := os.Getenv("ADMIN_PASSWORD"); pw != "" {
		return pw, nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(out, "Password (at least 15 characters): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageError("no password: set ADMIN_PASSWORD or pipe it on stdin")
	}
	return pw, nil
}

// Healthcheck exits 0 when the local server answers /readyz with 200; it is
// the container HEALTHCHECK of an image that has no shell or curl.
func Healthcheck(ctx context.Context, cfg config.Config) error {
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not healthy: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: /readyz answered %d", resp.StatusCode)
	}
	return nil
}

// Version prints the build metadata.
func Version(out io.Writer) {
	i := buildinfo.Get()
	fmt.Fprintf(out, "gopherops %s (commit %s, built %s, %s)\n", i.Version, i.Commit, i.Date, i.GoVersion)
}

// EnsureDevAdmin creates the development admin "admin" with a random password,
// printed once, when the database has no users yet. It is how `make run`
// gets a usable account without any default password existing anywhere.
func EnsureDevAdmin(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	return withAccounts(ctx, cfg, log, func(svc *accounts.Service) error { return ensureDevAdmin(ctx, svc, out) })
}

func ensureDevAdmin(ctx context.Context, svc *accounts.Service, out io.Writer) error {
	n, err := svc.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintln(out, "Users already exist; sign in with your account (reset a lost password with `gopherops admin create` for a new admin).")
		return nil
	}
	pw, err := accounts.GeneratePassword()
	if err != nil {
		return err
	}
	if _, err := svc.CreateFromCLI(ctx, accounts.NewUser{Username: "admin", Email: "admin@gopherops.localhost", Password: pw, Role: accounts.RoleAdmin}); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n  Development admin created (shown once):\n    username: admin\n    password: %s\n\n", pw)
	return nil
}
