package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Migration is one step of a component's schema.
type Migration struct {
	Version int    // 1, 2, 3 … consecutive per component
	SQL     string // one or more statements, run in one transaction
	// Postgres is the same step for PostgreSQL, when SQL is not in the
	// subset both engines take (SQLite's INTEGER PRIMARY KEY, BLOB, FTS5,
	// WITHOUT ROWID, triggers). Empty means SQL serves both. A component
	// may build its whole current schema on PostgreSQL in the first
	// migration that has this field and leave the older ones' as
	// [NoPostgres] (no PostgreSQL database predates the engine).
	Postgres string
}

// NoPostgres is a migration's Postgres step that does nothing, for a step
// that an earlier PostgreSQL migration of the same component already
// includes.
const NoPostgres = "SELECT 1"

// sql returns m's statements for engine e.
func (m Migration) sql(e Engine) string {
	if e == Postgres && m.Postgres != "" {
		return m.Postgres
	}
	return m.SQL
}

// Component is a package that owns tables, with the migrations that build
// them, oldest first. Migrations are never edited once released; a change is
// a new migration with the next version.
type Component struct {
	Name       string // e.g. "auth", "mail"
	Migrations []Migration
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	component  TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	applied_at TEXT    NOT NULL,
	PRIMARY KEY (component, version)
)`

// Migrate brings each component's tables up to its latest migration. All
// components are validated first (non-empty, unique names; versions 1..n in
// order); nothing is written if one is invalid. Each missing migration then
// runs in its own transaction together with its schema_migrations row, so a
// failing migration leaves no trace. If the database records a version that
// a component does not know, Migrate returns an error wrapping
// [ErrNewerSchema]. Running Migrate again applies nothing.
//
// Migration SQL runs inside a transaction, so it must not contain statements
// that SQLite refuses there (VACUUM, PRAGMA foreign_keys, BEGIN/COMMIT).
func (db *DB) Migrate(ctx context.Context, comps ...Component) error {
	if err := validate(comps); err != nil {
		return err
	}
	// The tables of this package, made under the write lock: nodes of
	// one PostgreSQL database starting together would otherwise race to
	// make them (CREATE TABLE IF NOT EXISTS is not atomic there).
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		for _, q := range db.ownTables() {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("db: migrate: creating its own tables: %w", err)
	}
	for _, c := range comps {
		if err := db.migrate(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// ownTables are the statements that make this package's tables.
func (db *DB) ownTables() []string {
	if db.engine == Postgres {
		return []string{createMigrationsTable, createBlobHoldsTablePG, createLeasesTablePG}
	}
	return []string{createMigrationsTable, createBlobHoldsTable}
}

// validate checks components before anything touches the database.
func validate(comps []Component) error {
	seen := make(map[string]bool, len(comps))
	for _, c := range comps {
		if c.Name == "" {
			return fmt.Errorf("db: migrate: component with empty name")
		}
		if seen[c.Name] {
			return fmt.Errorf("db: migrate: component %q given twice", c.Name)
		}
		seen[c.Name] = true
		for i, m := range c.Migrations {
			if m.Version != i+1 {
				return fmt.Errorf("db: migrate: component %q: migration #%d has version %d, want %d (versions must be 1, 2, 3 … in order)", c.Name, i+1, m.Version, i+1)
			}
		}
	}
	return nil
}

// migrate applies the missing migrations of one component.
func (db *DB) migrate(ctx context.Context, c Component) error {
	known := len(c.Migrations)
	current, err := version(ctx, db.DB, c, known)
	if err != nil {
		return err
	}
	for _, m := range c.Migrations[current:] {
		applied := false
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			// Another process may have migrated since we looked; the
			// transaction holds the write lock, so look again.
			cur, err := version(ctx, tx, c, known)
			if err != nil {
				return err
			}
			if cur >= m.Version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql(db.engine)); err != nil {
				return fmt.Errorf("db: migrate %s %d: %w", c.Name, m.Version, err)
			}
			_, err = tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)`,
				c.Name, m.Version, time.Now().UTC().Format(time.RFC3339Nano))
			if err != nil {
				return fmt.Errorf("db: migrate %s %d: recording version: %w", c.Name, m.Version, err)
			}
			applied = true
			return nil
		})
		if err != nil {
			return err
		}
		if applied {
			db.log.Info("db: applied migration", "component", c.Name, "version", m.Version)
		}
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// version returns the highest version recorded for c, checking that it is
// one this binary knows and that no version below it is missing.
func version(ctx context.Context, q querier, c Component, known int) (int, error) {
	var top, count int
	err := q.QueryRowContext(ctx,
		`SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations WHERE component = ?`,
		c.Name).Scan(&top, &count)
	if err != nil {
		return 0, fmt.Errorf("db: migrate %s: reading version: %w", c.Name, err)
	}
	if top > known {
		return 0, fmt.Errorf("%w: component %s is at version %d, this binary knows up to %d", ErrNewerSchema, c.Name, top, known)
	}
	if count != top {
		return 0, fmt.Errorf("db: migrate %s: schema_migrations records %d versions up to %d; some are missing", c.Name, count, top)
	}
	return top, nil
}

// Pending reports whether [DB.Migrate] of comps would apply a migration to
// a database that already has a schema (a fresh database has nothing to
// lose), and returns the versions recorded now as "auth3-mail5…" (the
// components in the order given), for naming a snapshot taken before the
// migration.
func (db *DB) Pending(ctx context.Context, comps ...Component) (pending bool, versions string, err error) {
	if err := validate(comps); err != nil {
		return false, "", err
	}
	var exists bool
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations')`
	if db.engine == Postgres {
		q = `SELECT to_regclass('schema_migrations') IS NOT NULL`
	}
	if err := db.QueryRowContext(ctx, q).Scan(&exists); err != nil {
		return false, "", fmt.Errorf("db: pending: %w", err)
	}
	if !exists {
		return false, "", nil
	}
	some := false
	var b strings.Builder
	for _, c := range comps {
		v, err := version(ctx, db.DB, c, len(c.Migrations))
		if err != nil {
			return false, "", err
		}
		if v > 0 {
			some = true
		}
		if v < len(c.Migrations) {
			pending = true
		}
		if b.Len() > 0 {
			b.WriteByte('-')
		}
		fmt.Fprintf(&b, "%s%d", c.Name, v)
	}
	return pending && some, b.String(), nil
}
