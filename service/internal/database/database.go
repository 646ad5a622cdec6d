// Package database opens the service's PostgreSQL connection pool (pgx/v5),
// with credentials either in the URL / PG* variables or fetched from a
// Credentials source such as AWS Secrets Manager.
package database

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Credentials supplies a user name and password for each new connection, so a
// rotated secret is picked up without a restart.
type Credentials interface {
	Credentials(ctx context.Context) (user, password string, err error)
}

// Options tune the pool.
type Options struct {
	// URL is a PostgreSQL URL or key/value DSN; empty means PG* variables only.
	URL string
	// MaxConns caps the pool; 0 keeps pgx's default.
	MaxConns int32
	// Credentials, when set, overrides the user and password of every connection.
	Credentials Credentials
	// ApplicationName shows up in pg_stat_activity.
	ApplicationName string
}

// PoolConfig parses opts into a pool configuration. Parsing honours the libpq
// PG* environment variables, like psql does.
func PoolConfig(opts Options) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		// pgx's message may echo the URL, password included: keep it out.
		return nil, fmt.Errorf("database: the database URL cannot be parsed (check DATABASE_URL's syntax)")
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.MaxConnLifetime = 30 * time.Minute
	cfg.MaxConnLifetimeJitter = 2 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if opts.ApplicationName != "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = opts.ApplicationName
	}
	if opts.Credentials != nil {
		creds := opts.Credentials
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			user, password, err := creds.Credentials(ctx)
			if err != nil {
				return fmt.Errorf("database: credentials: %w", err)
			}
			cc.User, cc.Password = user, password
			return nil
		}
	}
	return cfg, nil
}

// ConnConfig is the single-connection configuration for opts, with the
// credentials resolved now (for migrations and one-shot commands).
func ConnConfig(ctx context.Context, opts Options) (*pgx.ConnConfig, error) {
	cfg, err := PoolConfig(opts)
	if err != nil {
		return nil, err
	}
	cc := cfg.ConnConfig.Copy()
	if opts.Credentials != nil {
		user, password, err := opts.Credentials.Credentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("database: credentials: %w", err)
		}
		cc.User, cc.Password = user, password
	}
	return cc, nil
}

// Open creates the pool. It does not wait for the database: the service starts
// (and reports not-ready) while the database is still coming up.
func Open(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database: open pool: %w", err)
	}
	return pool, nil
}
