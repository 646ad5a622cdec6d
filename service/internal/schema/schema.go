// Package schema applies the embedded SQL migrations (golang-migrate) to a
// PostgreSQL database. Concurrent runs are safe: the driver serialises them with
// a PostgreSQL advisory lock, so many replicas may call Up at once.
package schema

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gopherops/gopherops/migrations"
)

// ErrDirty reports a database left half-migrated by a failed migration; it
// needs `migrate force V` after a human has looked at it.
var ErrDirty = errors.New("schema: database is dirty (a migration failed part-way); inspect it, then run `gopherops migrate force <version>`")

// Latest is the newest migration version embedded in this binary: the version
// the database must be at for the service to be ready.
func Latest() uint {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return 0
	}
	versions := make([]uint, 0, len(entries))
	for _, e := range entries {
		head, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(head, 10, 32)
		if err == nil {
			versions = append(versions, uint(v))
		}
	}
	if len(versions) == 0 {
		return 0
	}
	sort.Slice(versions, func(i, j int) bool { return versions[i] < versions[j] })
	return versions[len(versions)-1]
}

// Migrator runs migrations against one database.
type Migrator struct {
	m  *migrate.Migrate
	db *sql.DB
}

// New opens a migrator for the database described by cfg.
func New(cfg *pgx.ConnConfig) (*Migrator, error) {
	db := stdlib.OpenDB(*cfg)
	drv, err := pgxmigrate.WithInstance(db, &pgxmigrate.Config{})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("schema: connect: %w", err)
	}
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("schema: read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("schema: %w", err)
	}
	return &Migrator{m: m, db: db}, nil
}

// Up applies every pending migration. A database already at Latest is not an error.
func (mg *Migrator) Up() error {
	if err := mg.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return mg.wrap("up", err)
	}
	return nil
}

// Down reverts the newest n applied migrations.
func (mg *Migrator) Down(n int) error {
	if n <= 0 {
		return fmt.Errorf("schema: down needs a positive number of steps, got %d", n)
	}
	if err := mg.m.Steps(-n); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return mg.wrap("down", err)
	}
	return nil
}

// Version reports the applied version and whether it is dirty; version 0 means none applied.
func (mg *Migrator) Version() (version uint, dirty bool, err error) {
	v, d, err := mg.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("schema: version: %w", err)
	}
	return v, d, nil
}

// Force records version v as applied and clean without running anything.
func (mg *Migrator) Force(v int) error {
	if err := mg.m.Force(v); err != nil {
		return fmt.Errorf("schema: force %d: %w", v, err)
	}
	return nil
}

// Close releases the migrator's connection.
func (mg *Migrator) Close() error {
	srcErr, dbErr := mg.m.Close()
	return errors.Join(srcErr, dbErr, mg.db.Close())
}

func (mg *Migrator) wrap(op string, err error) error {
	var dirty migrate.ErrDirty
	if errors.As(err, &dirty) {
		return fmt.Errorf("schema: %s: version %d: %w", op, dirty.Version, ErrDirty)
	}
	return fmt.Errorf("schema: %s: %w", op, err)
}
