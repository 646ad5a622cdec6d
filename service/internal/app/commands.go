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

// Invocation is a parsed command line: either help to print, or a command
// whose arguments have been checked and that is ready to run. Arguments are
// checked before any configuration is read, so a typo is reported as a typo
// whatever the environment holds.
type Invocation struct {
	// Command is the command as typed ("migrate", "admin create"), for messages.
	Command string
	// Help, when set, is the text the user asked for with -h, --help or
	// `gopherops help [command]`: print it on stdout and exit 0.
	Help string
	// NeedsConfig is false for commands that read no configuration.
	NeedsConfig bool

	run func(ctx context.Context, e Env) error
}

// Env is what a command runs with: the validated configuration (zero when
// the command needs none), a logger and the process's standard streams.
type Env struct {
	Config config.Config
	Log    *slog.Logger
	// Getenv reads the environment (ADMIN_PASSWORD); nil means os.Getenv.
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
}

func (e Env) getenv(key string) string {
	if e.Getenv == nil {
		return os.Getenv(key)
	}
	return e.Getenv(key)
}

// Run runs the command; an invocation that only carries help has nothing to run.
func (inv Invocation) Run(ctx context.Context, e Env) error {
	if inv.run == nil {
		return errors.New("nothing to run: the command line asked for help")
	}
	return inv.run(ctx, e)
}

// UsageError is a mistake in the command line (exit code 2); Advice says
// where the right usage is.
type UsageError struct {
	// Command is the command the mistake was made in; empty for gopherops itself.
	Command string
	Msg     string
}

// Error is the mistake, without the advice.
func (e *UsageError) Error() string { return e.Msg }

// Unwrap makes IsUsage recognise it.
func (e *UsageError) Unwrap() error { return errUsage }

// Advice is the one line that follows the message: the help to read.
func (e *UsageError) Advice() string {
	if e.Command == "" {
		return "Run 'gopherops --help' for the list of commands."
	}
	return fmt.Sprintf("Run 'gopherops %s --help' for usage.", e.Command)
}

// commandLineError is a UsageError in command's arguments.
func commandLineError(command, format string, args ...any) error {
	return &UsageError{Command: command, Msg: fmt.Sprintf(format, args...)}
}

// Usage is the overview `gopherops --help` prints.
const Usage = `usage: gopherops [command] [arguments]

commands:
  serve                        run the HTTP server (the default)
  migrate up|down N|version|force V
                               manage the database schema
  admin create --username U --email E [--role admin|user]
                               create an account; the password comes from
                               ADMIN_PASSWORD or stdin; the first admin is root
  healthcheck                  exit 0 when the local server is ready
  version                      print version, commit and build date
  help [command]               print this, or a command's help

Run 'gopherops <command> --help' for a command's help. Configuration comes from
environment variables, validated at start: see docs/configuration.md.
`

const serveUsage = `usage: gopherops serve

Runs the HTTP server: the web pages and the JSON API on HTTP_ADDR (default :8080),
/metrics and /debug/pprof on ADMIN_ADDR (default 127.0.0.1:9090). It is what
gopherops runs without a command.

On SIGTERM or SIGINT, /readyz fails at once, the listener stays open for
SHUTDOWN_DELAY so load balancers move traffic away, then in-flight requests get
SHUTDOWN_TIMEOUT to finish; the exit code is 0 after a clean shutdown.

Configuration comes from environment variables (APP_ENV, DATABASE_URL,
SESSION_KEY, ...), listed in docs/configuration.md; a bad value stops the
process with exit code 2 and a message naming the variable.
`

const migrateUsage = `usage: gopherops migrate up | down N | version | force V

Manages the database schema with the migrations embedded in this binary.

  up         apply every pending migration; safe when many replicas run it at
             once (they take turns on a PostgreSQL advisory lock)
  down N     revert the newest N applied migrations; when fewer are applied,
             revert them all
  version    print the applied version, the one this binary expects, and DIRTY
             when a migration failed part-way
  force V    record version V as applied and clean without running anything,
             after repairing a failed migration by hand (-1: none applied)

The database comes from DATABASE_URL (or the PG* variables), with the user and
password from DATABASE_SECRET_ARN when it is set.
`

const adminUsage = `usage: gopherops admin create --username U --email E [--role admin|user]

Creates an account. The password comes from ADMIN_PASSWORD, else from one line
of stdin (read without echo on a terminal); it needs at least 15 characters and
must not be a common password. The first admin ever created is the root user,
which can be neither deleted nor demoted. There is no default password anywhere:
this is how a new deployment gets its first admin.

flags:
`

const healthcheckUsage = `usage: gopherops healthcheck

Exits 0 when the server on HTTP_ADDR (on this host) answers GET /readyz with 200
within 3 seconds, and 1 otherwise. It is the container's HEALTHCHECK, for an
image that has no shell or curl.
`

const versionUsage = `usage: gopherops version

Prints the version, commit and build date stamped into the binary at build time
(see make build), and the Go version it was built with.
`

// commandUsage is each command's help, for `gopherops help <command>`.
var commandUsage = map[string]func() string{
	"serve":       func() string { return serveUsage },
	"migrate":     func() string { return migrateUsage },
	"admin":       func() string { return adminHelp() },
	"healthcheck": func() string { return healthcheckUsage },
	"version":     func() string { return versionUsage },
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// askedForHelp reports whether any argument asks for help; only for commands
// without flag values, where "help" cannot be an argument's value.
func askedForHelp(args []string) bool {
	for _, a := range args {
		if isHelp(a) {
			return true
		}
	}
	return false
}

// ParseArgs checks a command line (without the program name) and returns
// what to do: print help, or run a command. Mistakes are *UsageError.
func ParseArgs(args []string) (Invocation, error) {
	if len(args) == 0 {
		return serveInvocation(), nil
	}
	cmd, rest := args[0], args[1:]
	switch {
	case isHelp(cmd):
		return parseHelp(rest)
	case cmd == "--version" || cmd == "-v":
		cmd = "version"
	}
	if help, ok := commandUsage[cmd]; ok && cmd != "admin" && askedForHelp(rest) {
		return Invocation{Command: cmd, Help: help()}, nil
	}
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			return Invocation{}, commandLineError(cmd, "serve takes no arguments, got %q; it is configured by environment variables", strings.Join(rest, " "))
		}
		return serveInvocation(), nil
	case "migrate":
		return parseMigrate(rest)
	case "admin":
		return parseAdmin(rest)
	case "healthcheck":
		if len(rest) > 0 {
			return Invocation{}, commandLineError(cmd, "healthcheck takes no arguments, got %q; it checks HTTP_ADDR", strings.Join(rest, " "))
		}
		return Invocation{Command: cmd, NeedsConfig: true, run: func(ctx context.Context, e Env) error {
			return Healthcheck(ctx, e.Config)
		}}, nil
	case "version":
		if len(rest) > 0 {
			return Invocation{}, commandLineError(cmd, "version takes no arguments, got %q", strings.Join(rest, " "))
		}
		return Invocation{Command: cmd, run: func(_ context.Context, e Env) error {
			Version(e.Stdout)
			return nil
		}}, nil
	}
	if strings.HasPrefix(cmd, "-") {
		return Invocation{}, commandLineError("", "unknown flag %q: gopherops takes a command first, and is configured by environment variables", cmd)
	}
	return Invocation{}, commandLineError("", "unknown command %q", cmd)
}

// parseHelp handles `gopherops help [command]`.
func parseHelp(args []string) (Invocation, error) {
	switch {
	case len(args) == 0:
		return Invocation{Help: Usage}, nil
	case len(args) > 1:
		return Invocation{}, commandLineError("", "help takes at most one command, got %q", strings.Join(args, " "))
	}
	help, ok := commandUsage[args[0]]
	if !ok {
		return Invocation{}, commandLineError("", "no help for unknown command %q", args[0])
	}
	return Invocation{Command: args[0], Help: help()}, nil
}

func serveInvocation() Invocation {
	return Invocation{Command: "serve", NeedsConfig: true, run: func(ctx context.Context, e Env) error {
		return Serve(ctx, e.Config, e.Log, Listeners{}, Options{Stdout: e.Stdout})
	}}
}

// parseMigrate checks `gopherops migrate up|down N|version|force V`.
func parseMigrate(args []string) (Invocation, error) {
	const cmd = "migrate"
	inv := Invocation{Command: cmd, NeedsConfig: true}
	if len(args) == 0 {
		return inv, commandLineError(cmd, "migrate needs a subcommand: up, down N, version or force V")
	}
	switch args[0] {
	case "up":
		if len(args) != 1 {
			return inv, commandLineError(cmd, "migrate up takes no arguments, got %q", strings.Join(args[1:], " "))
		}
		inv.run = func(ctx context.Context, e Env) error { return Migrate(ctx, e.Config, e.Log) }
	case "down":
		if len(args) != 2 {
			return inv, commandLineError(cmd, "migrate down needs the number of migrations to revert, e.g. `migrate down 1`")
		}
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return inv, commandLineError(cmd, "migrate down N: N must be a positive integer, got %q", args[1])
		}
		inv.run = func(ctx context.Context, e Env) error {
			return withMigrator(ctx, e.Config, func(m *schema.Migrator) error { return migrateDown(m, n, e.Stdout) })
		}
	case "version":
		if len(args) != 1 {
			return inv, commandLineError(cmd, "migrate version takes no arguments, got %q", strings.Join(args[1:], " "))
		}
		inv.run = func(ctx context.Context, e Env) error {
			return withMigrator(ctx, e.Config, func(m *schema.Migrator) error {
				v, dirty, err := m.Version()
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "version %d (binary expects %d)", v, schema.Latest())
				if dirty {
					fmt.Fprint(e.Stdout, " DIRTY")
				}
				fmt.Fprintln(e.Stdout)
				return nil
			})
		}
	case "force":
		if len(args) != 2 {
			return inv, commandLineError(cmd, "migrate force needs a version, e.g. `migrate force 2`")
		}
		v, err := strconv.Atoi(args[1])
		if err != nil || v < -1 {
			return inv, commandLineError(cmd, "migrate force V: V must be an integer >= -1, got %q", args[1])
		}
		inv.run = func(ctx context.Context, e Env) error {
			return withMigrator(ctx, e.Config, func(m *schema.Migrator) error {
				if err := m.Force(v); err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "forced version %d\n", v)
				return nil
			})
		}
	default:
		return inv, commandLineError(cmd, "unknown migrate subcommand %q (want up, down N, version or force V)", args[0])
	}
	return inv, nil
}

// downMigrator is what migrateDown needs of a *schema.Migrator.
type downMigrator interface {
	Down(n int) error
	Version() (version uint, dirty bool, err error)
}

// migrateDown reverts the newest n applied migrations one at a time, so that
// asking for more than are applied reverts them all and says so instead of
// failing after the fact; the loop ends with the applied ones, however large n is.
func migrateDown(m downMigrator, n int, out io.Writer) error {
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	if dirty {
		return fmt.Errorf("migrate down: version %d: %w", v, schema.ErrDirty)
	}
	if v == 0 {
		fmt.Fprintln(out, "no migration is applied; nothing to revert")
		return nil
	}
	reverted := 0
	for reverted < n && v > 0 {
		if err := m.Down(1); err != nil {
			return fmt.Errorf("migrate down: reverted %d of %d migration(s), then: %w", reverted, n, err)
		}
		reverted++
		if v, _, err = m.Version(); err != nil {
			return err
		}
	}
	if reverted < n {
		fmt.Fprintf(out, "asked to revert %d migration(s), but only %d were applied: reverted them all; no migration is applied now (version 0)\n", n, reverted)
		return nil
	}
	fmt.Fprintf(out, "reverted %d migration(s); now at version %d\n", reverted, v)
	return nil
}

// adminFlags are the flags of `gopherops admin create`.
type adminFlags struct {
	fs       *flag.FlagSet
	username *string
	email    *string
	role     *string
}

func newAdminFlags() adminFlags {
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors become a UsageError, help comes from adminHelp
	return adminFlags{
		fs:       fs,
		username: fs.String("username", "", "username: 3 to 50 of A-Z a-z 0-9 . _ - (required)"),
		email:    fs.String("email", "", "email address (required)"),
		role:     fs.String("role", "admin", "admin or user"),
	}
}

// adminHelp is the help of `gopherops admin`, with the flags' descriptions.
func adminHelp() string {
	var b strings.Builder
	b.WriteString(adminUsage)
	f := newAdminFlags()
	f.fs.SetOutput(&b)
	f.fs.PrintDefaults()
	return b.String()
}

// parseAdmin checks `gopherops admin create --username U --email E [--role R]`.
func parseAdmin(args []string) (Invocation, error) {
	const cmd = "admin"
	inv := Invocation{Command: cmd, NeedsConfig: true}
	if len(args) == 0 {
		return inv, commandLineError(cmd, "admin needs a subcommand: create --username U --email E [--role admin|user]")
	}
	if isHelp(args[0]) {
		return Invocation{Command: cmd, Help: adminHelp()}, nil
	}
	if args[0] != "create" {
		return inv, commandLineError(cmd, "unknown admin subcommand %q (want create)", args[0])
	}
	inv.Command = "admin create"
	f := newAdminFlags()
	if err := f.fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Invocation{Command: inv.Command, Help: adminHelp()}, nil
		}
		return inv, commandLineError(cmd, "admin create: %v", err)
	}
	if f.fs.NArg() > 0 {
		return inv, commandLineError(cmd, "admin create takes only flags, got %q", strings.Join(f.fs.Args(), " "))
	}
	if *f.username == "" || *f.email == "" {
		return inv, commandLineError(cmd, "admin create needs --username and --email")
	}
	if r := accounts.Role(*f.role); !r.Valid() {
		return inv, commandLineError(cmd, "admin create --role must be admin or user, got %q", *f.role)
	}
	nu := accounts.NewUser{Username: *f.username, Email: *f.email, Role: accounts.Role(*f.role)}
	inv.run = func(ctx context.Context, e Env) error { return createAccount(ctx, e, nu) }
	return inv, nil
}

// createAccount runs `gopherops admin create` once its flags are checked.
func createAccount(ctx context.Context, e Env, nu accounts.NewUser) error {
	pw, err := readPassword(e.getenv("ADMIN_PASSWORD"), e.Stdin, e.Stdout)
	if err != nil {
		return err
	}
	nu.Password = pw
	var u accounts.User
	err = withAccounts(ctx, e.Config, e.Log, func(svc *accounts.Service) error {
		var err error
		u, err = svc.CreateFromCLI(ctx, nu)
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
	fmt.Fprintf(e.Stdout, "created %s %q (id %d)\n", kind, u.Username, u.ID)
	return nil
}

// readPassword takes fromEnv (ADMIN_PASSWORD), else one line of stdin
// (without echo on a terminal).
func readPassword(fromEnv string, stdin io.Reader, out io.Writer) (string, error) {
	if fromEnv != "" {
		return fromEnv, nil
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
		return "", commandLineError("admin", "no password: set ADMIN_PASSWORD or pipe it on stdin")
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
