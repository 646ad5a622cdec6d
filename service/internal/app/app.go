// Package app wires the service together and runs its subcommands: it builds
// the pool, stores and domain services from the configuration and owns the
// process lifecycle (signal → drain → shutdown → close).
package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/config"
	"github.com/gopherops/gopherops/service/internal/database"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/schema"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/internal/throttle"
)

// Options adjust how the app is built; tests use them to make hashing cheap.
type Options struct {
	PasswordParams *password.Params
	// Stdout receives what is printed for the developer rather than logged
	// (the development admin's one-time password); nil means os.Stdout.
	Stdout io.Writer
	// Serving, when set, is called once both listeners accept connections,
	// with their addresses: how devrun says when the server is really up.
	Serving func(httpAddr, adminAddr net.Addr)
}

func (o Options) stdout() io.Writer {
	if o.Stdout != nil {
		return o.Stdout
	}
	return os.Stdout
}

// databaseOptions resolves the database settings, including the Secrets
// Manager credentials when DATABASE_SECRET_ARN is set.
func databaseOptions(ctx context.Context, cfg config.Config) (database.Options, error) {
	opts := database.Options{URL: cfg.DatabaseURL, MaxConns: cfg.DatabaseMaxConns, ApplicationName: "gopherops"}
	if cfg.DatabaseSecretARN != "" {
		creds, err := database.NewSecretCredentials(ctx, cfg.DatabaseSecretARN, database.SecretOptions{})
		if err != nil {
			return database.Options{}, err
		}
		opts.Credentials = creds
	}
	return opts, nil
}

// connConfig is a single-connection config for migrations and one-shot commands.
func connConfig(ctx context.Context, cfg config.Config) (*pgx.ConnConfig, error) {
	opts, err := databaseOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return database.ConnConfig(ctx, opts)
}

// openPool opens the connection pool.
func openPool(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	opts, err := databaseOptions(ctx, cfg)
	if err != nil {
		return nil, err
	}
	pcfg, err := database.PoolConfig(opts)
	if err != nil {
		return nil, err
	}
	return database.Open(ctx, pcfg)
}

// newAccounts builds the accounts service on pool.
func newAccounts(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, log *slog.Logger, o Options, onVerify func(outcome string)) (*accounts.Service, error) {
	blobs, err := blob.Open(ctx, cfg.BlobStore, blob.S3Options{Endpoint: cfg.S3Endpoint})
	if err != nil {
		return nil, err
	}
	params := password.DefaultParams
	if o.PasswordParams != nil {
		params = *o.PasswordParams
	}
	return accounts.NewService(accounts.Options{
		Store:  postgres.New(pool),
		Hasher: password.NewHasher(params),
		Blobs:  blobs,
		// Ten tries at once per client address, then one every six seconds.
		ClientLimiter: throttle.New(6*time.Second, 10),
		Logger:        log,
		OnVerify:      onVerify,
		TokenTTL:      cfg.TokenTTL,
		TokenMaxTTL:   cfg.TokenMaxTTL,
		PasswordsOff:  !cfg.PasswordSignIn,
	})
}

// withAccounts runs fn with an accounts service on a pool of its own, for
// one-shot commands.
func withAccounts(ctx context.Context, cfg config.Config, log *slog.Logger, fn func(*accounts.Service) error) error {
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc, err := newAccounts(ctx, cfg, pool, log, Options{}, nil)
	if err != nil {
		return err
	}
	return fn(svc)
}

// Migrate runs the embedded migrations up, retrying while the database is
// still starting (compose and Kubernetes start it in parallel).
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	deadline := time.Now().Add(60 * time.Second)
	for attempt := 1; ; attempt++ {
		err := withMigrator(ctx, cfg, func(m *schema.Migrator) error {
			if err := m.Up(); err != nil {
				return err
			}
			v, _, err := m.Version()
			if err == nil {
				log.InfoContext(ctx, "database schema is current", "version", v)
			}
			return err
		})
		if err == nil || errors.Is(err, schema.ErrDirty) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		log.WarnContext(ctx, "database not ready for migrations; retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// withMigrator opens a migrator, runs fn and closes it.
func withMigrator(ctx context.Context, cfg config.Config, fn func(*schema.Migrator) error) error {
	cc, err := connConfig(ctx, cfg)
	if err != nil {
		return err
	}
	m, err := schema.New(cc)
	if err != nil {
		return err
	}
	return errors.Join(fn(m), m.Close())
}

// errUsage marks errors in how a command was invoked (exit code 2).
var errUsage = errors.New("usage")

// IsUsage reports whether err is a command-line usage error.
func IsUsage(err error) bool { return errors.Is(err, errUsage) }
