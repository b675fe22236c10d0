// Package storagemove moves a party's storage from one engine to another:
// the metadata between SQLite and PostgreSQL, the blobs between a
// directory and an S3 bucket, and checks that both sides hold the same
// afterwards. It is the plumbing of `caucus storage migrate`; it knows no
// package's tables, and reads them from each engine's catalogue (SQLite's
// pragma_table_list, pragma_table_info and pragma_foreign_key_list;
// PostgreSQL's pg_catalog and information_schema).
package storagemove

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/caucus-org/caucus/internal/db"
)

// rebuilt are tables the copy leaves out because the target makes them
// itself: the full-text index of mail bodies (FTS5 virtual tables on
// SQLite, arrays of trigram keys on PostgreSQL) and blob_unindexed, the
// bodies still to be indexed. The target's index is made anew: every
// body is queued in blob_unindexed, which the store's indexer works
// through when the server starts (see [queueIndexing]). Also the files'
// usage of each space (files_usage, files_usage_blobs), which the
// target's triggers (named …_usage) fill as the versions are copied.
var rebuilt = []string{"message_text", "message_headers", "blob_unindexed", "files_usage", "files_usage_blobs"}

// skipped are tables no copy touches: the schema's versions, which the
// target's own migrations wrote, the marker of an unfinished move, and
// the housekeeping leases of running nodes (PostgreSQL's; no node runs
// during a move, and a node makes the table when it needs it).
var skipped = []string{"schema_migrations", markerTable, "leases"}

// table is one table of the catalogue.
type table struct {
	name    string
	cols    []column
	refs    []string // tables its foreign keys refer to (itself included)
	selfCol string   // the column of a foreign key to itself, if any
	selfTo  string   // the column that key refers to
}

// column is one column and its declared type, in lower case.
type column struct {
	name, typ string
	identity  bool // PostgreSQL: an identity column, whose sequence follows
}

// tables lists the tables of d to copy (neither [rebuilt] nor [skipped]),
// each with its columns and the tables it refers to.
func tables(ctx context.Context, d *db.DB) (map[string]*table, error) {
	names, err := tableNames(ctx, d)
	if err != nil {
		return nil, err
	}
	out := map[string]*table{}
	for _, n := range names {
		if slices.Contains(rebuilt, n) || slices.Contains(skipped, n) {
			continue
		}
		t := &table{name: n}
		if t.cols, err = columns(ctx, d, n); err != nil {
			return nil, err
		}
		if err := foreignKeys(ctx, d, t); err != nil {
			return nil, err
		}
		out[n] = t
	}
	return out, nil
}

// tableNames lists d's ordinary tables: on SQLite neither virtual tables
// nor their shadow tables (an FTS5 index's internals) nor SQLite's own.
func tableNames(ctx context.Context, d *db.DB) ([]string, error) {
	q := `SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'`
	if d.Engine() == db.Postgres {
		q = `SELECT c.relname FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relnamespace = current_schema()::regnamespace`
	}
	return strings1(ctx, d, q)
}

// strings1 runs q and returns its one column.
func strings1(ctx context.Context, d *db.DB, q string, args ...any) ([]string, error) {
	rows, err := d.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("storagemove: catalogue: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("storagemove: catalogue: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storagemove: catalogue: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// columns lists t's columns in their order.
func columns(ctx context.Context, d *db.DB, t string) ([]column, error) {
	q := `SELECT name, type, 0 FROM pragma_table_info(?) ORDER BY cid`
	if d.Engine() == db.Postgres {
		q = `SELECT column_name, data_type, CASE WHEN is_identity = 'YES' THEN 1 ELSE 0 END FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position`
	}
	rows, err := d.QueryContext(ctx, q, t)
	if err != nil {
		return nil, fmt.Errorf("storagemove: columns of %s: %w", t, err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		var id int64
		if err := rows.Scan(&c.name, &c.typ, &id); err != nil {
			return nil, fmt.Errorf("storagemove: columns of %s: %w", t, err)
		}
		c.typ, c.identity = strings.ToLower(c.typ), id == 1
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storagemove: columns of %s: %w", t, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("storagemove: table %s has no columns", t)
	}
	return out, nil
}

// foreignKeys fills t.refs, and t.selfCol and t.selfTo for a key that
// refers to t itself (a folder's parent), from the first column of each
// key.
func foreignKeys(ctx context.Context, d *db.DB, t *table) error {
	q := `SELECT "table", "from", COALESCE("to", '') FROM pragma_foreign_key_list(?) WHERE seq = 0`
	if d.Engine() == db.Postgres {
		q = `SELECT cf.relname, a.attname, af.attname FROM pg_constraint k
			JOIN pg_class c ON c.oid = k.conrelid
			JOIN pg_class cf ON cf.oid = k.confrelid
			JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
			JOIN pg_attribute af ON af.attrelid = k.confrelid AND af.attnum = k.confkey[1]
			WHERE k.contype = 'f' AND c.relname = ? AND c.relnamespace = current_schema()::regnamespace`
	}
	rows, err := d.QueryContext(ctx, q, t.name)
	if err != nil {
		return fmt.Errorf("storagemove: foreign keys of %s: %w", t.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ref, from, to string
		if err := rows.Scan(&ref, &from, &to); err != nil {
			return fmt.Errorf("storagemove: foreign keys of %s: %w", t.name, err)
		}
		if ref == t.name {
			if to == "" {
				to = "rowid" // SQLite: a key to the table's INTEGER PRIMARY KEY
			}
			t.selfCol, t.selfTo = from, to
		}
		t.refs = append(t.refs, ref)
	}
	return rows.Err()
}

// order returns the tables' names so that every table comes after the
// tables its foreign keys refer to (a key to itself aside). A cycle
// between tables is an error: no order of inserts would do.
func order(ts map[string]*table) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("storagemove: the foreign keys of %s form a cycle", n)
		case 2:
			return nil
		}
		state[n] = 1
		for _, r := range ts[n].refs {
			if r == n || ts[r] == nil {
				continue
			}
			if err := visit(r); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, n)
		return nil
	}
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// catalogues reads the tables of src and of dst.
func catalogues(ctx context.Context, src, dst *db.DB) (st, dt map[string]*table, err error) {
	if st, err = tables(ctx, src); err != nil {
		return nil, nil, err
	}
	if dt, err = tables(ctx, dst); err != nil {
		return nil, nil, err
	}
	return st, dt, nil
}

// matching checks that src and dst have the same tables, and returns
// the columns to copy per table: those both have, in the target's order.
// A column one engine's schema has and the other's not is named in
// notes: the target fills its own from its default (PostgreSQL's
// identity seq where SQLite orders by rowid, a lease several nodes take),
// and a source's own is left behind.
func matching(src, dst map[string]*table) (cols map[string][]string, notes []string, err error) {
	var missing, extra []string
	for n := range src {
		if dst[n] == nil {
			missing = append(missing, n)
		}
	}
	for n := range dst {
		if src[n] == nil {
			extra = append(extra, n)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		return nil, nil, fmt.Errorf("storagemove: the schemas differ: tables only in the source %v, only in the target %v", missing, extra)
	}
	cols = map[string][]string{}
	for n, t := range dst {
		have := map[string]bool{}
		for _, c := range src[n].cols {
			have[c.name] = true
		}
		for _, c := range t.cols {
			if !have[c.name] {
				notes = append(notes, fmt.Sprintf("%s.%s: only the target's, which fills it", n, c.name))
				continue
			}
			delete(have, c.name)
			cols[n] = append(cols[n], c.name)
		}
		for c := range have {
			notes = append(notes, fmt.Sprintf("%s.%s: only the source's, left behind", n, c))
		}
		if len(cols[n]) == 0 {
			return nil, nil, fmt.Errorf("storagemove: the schemas differ: table %s has no column in common", n)
		}
	}
	slices.Sort(notes)
	return cols, notes, nil
}

// sourceOrder is the ORDER BY of a read of table t from the source: an
// identity column the target lacks, which stands for SQLite's rowid (the
// order the rows were written in, which some reads rely on), so that the
// target's rowids come in that order.
func sourceOrder(t *table, cols []string) string {
	for _, c := range t.cols {
		if c.identity && !slices.Contains(cols, c.name) {
			return ` ORDER BY ` + quote(c.name)
		}
	}
	return ""
}

// quote quotes an identifier for both engines.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
