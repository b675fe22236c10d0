package storagemove

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// markerTable marks a target database that a move is writing: [Begin]
// creates it before anything else, [Finish] drops it once the copy is
// verified, and [CheckFinished] (which the server calls at start)
// refuses a database that holds it.
const markerTable = "storage_migrate_unfinished"

// ErrUnfinished is [CheckFinished]'s error for a database that a move
// was writing into and did not finish.
var ErrUnfinished = errors.New("this database is the target of a `caucus storage migrate` that did not finish: run the migration again, or set [storage] back to the source")

// ErrTargetInUse is [Begin]'s error for a target database that already
// holds a party's schema and is no unfinished move's target.
var ErrTargetInUse = errors.New("the target database already holds a caucus database")

// batchRows is how many rows one transaction of the copy inserts.
const batchRows = 500

// CheckFinished returns an error wrapping [ErrUnfinished] when d is the
// target of a move that did not finish.
func CheckFinished(ctx context.Context, d *db.DB) error {
	ok, err := exists(ctx, d, markerTable)
	if err != nil {
		return err
	}
	if ok {
		return ErrUnfinished
	}
	return nil
}

// exists reports whether d has the table name.
func exists(ctx context.Context, d *db.DB, name string) (bool, error) {
	q := `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?)`
	if d.Engine() == db.Postgres {
		q = `SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = ? AND relnamespace = current_schema()::regnamespace)`
	}
	var ok bool
	if err := d.QueryRowContext(ctx, q, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("storagemove: looking for %s: %w", name, err)
	}
	return ok, nil
}

// Begin marks dst as the target of a move before its schema is made, so
// that a server refuses it until [Finish]. A target that already holds a
// schema is refused with [ErrTargetInUse], unless it is an unfinished
// move's, which the copy then empties.
func Begin(ctx context.Context, dst *db.DB, now time.Time) error {
	marked, err := exists(ctx, dst, markerTable)
	if err != nil || marked {
		return err
	}
	has, err := exists(ctx, dst, "schema_migrations")
	if err != nil {
		return err
	}
	if has {
		var n int64
		if err := dst.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			return fmt.Errorf("storagemove: %w", err)
		}
		if n > 0 {
			return ErrTargetInUse
		}
	}
	_, err = dst.ExecContext(ctx, `CREATE TABLE `+markerTable+` (since TEXT NOT NULL)`)
	if err == nil {
		_, err = dst.ExecContext(ctx, `INSERT INTO `+markerTable+` (since) VALUES (?)`, now.UTC().Format(time.RFC3339))
	}
	if err != nil {
		return fmt.Errorf("storagemove: marking the target: %w", err)
	}
	return nil
}

// Finish drops the mark of [Begin]: the target is ready for a server.
func Finish(ctx context.Context, dst *db.DB) error {
	if _, err := dst.ExecContext(ctx, `DROP TABLE `+markerTable); err != nil {
		return fmt.Errorf("storagemove: finishing: %w", err)
	}
	return nil
}

// CopyDatabase copies every row of every table of src into dst, which
// has the same schema (both migrated by the same components) and is
// marked by [Begin]: it empties dst's tables first, copies them parents
// first ([order]), batchRows rows per transaction, sets PostgreSQL's
// identity sequences past the copied ids, and queues every mail body for
// the target's full-text indexer ([rebuilt]). It prints a line per table
// on out.
func CopyDatabase(ctx context.Context, src, dst *db.DB, out io.Writer) error {
	st, dt, err := catalogues(ctx, src, dst)
	if err != nil {
		return err
	}
	cols, notes, err := matching(st, dt)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintf(out, "  note: %s\n", n)
	}
	if err := insertTriggers(ctx, dst, dt); err != nil {
		return err
	}
	names, err := order(dt)
	if err != nil {
		return err
	}
	if err := empty(ctx, dst, names); err != nil {
		return err
	}
	for _, n := range names {
		c := copier{src: src, dst: dst, t: dt[n], cols: cols[n], order: sourceOrder(st[n], cols[n])}
		rows, err := c.run(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-28s %8d rows\n", n, rows)
	}
	if err := sequences(ctx, dst, dt); err != nil {
		return err
	}
	return queueIndexing(ctx, dst, dt, out)
}

// insertTriggers refuses a target whose tables have triggers that fire
// on INSERT: they would add rows the copy does not expect (the schemas
// have none; a future one must be accounted for here). Triggers named
// …_notify only NOTIFY the nodes' caches (files' and auth's), which no
// node hears while the party is stopped: they are let be. So are those
// named …_usage, which keep a table of [rebuilt] (the files' usage).
func insertTriggers(ctx context.Context, d *db.DB, ts map[string]*table) error {
	q := `SELECT tbl_name FROM sqlite_schema WHERE type = 'trigger' AND upper(sql) LIKE '% INSERT ON %'
		AND name NOT LIKE '%\_usage' ESCAPE '\'`
	if d.Engine() == db.Postgres {
		q = `SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
			WHERE NOT g.tgisinternal AND (g.tgtype & 4) <> 0 AND c.relnamespace = current_schema()::regnamespace
			AND g.tgname NOT LIKE '%\_notify' AND g.tgname NOT LIKE '%\_usage'`
	}
	names, err := strings1(ctx, d, q)
	if err != nil {
		return err
	}
	for _, n := range names {
		if ts[n] != nil {
			return fmt.Errorf("storagemove: table %s has a trigger on INSERT, which the copy would fire", n)
		}
	}
	return nil
}

// empty deletes every row of the target's tables (children first), and
// of the rebuilt ones that are ordinary tables there: rows its
// migrations made, or an earlier, unfinished copy. A row deleted may
// make a trigger note another (a vanished message), so it goes round
// until all are empty.
func empty(ctx context.Context, d *db.DB, names []string) error {
	all, err := tableNames(ctx, d)
	if err != nil {
		return err
	}
	del := slices.Clone(names)
	slices.Reverse(del)
	for _, r := range rebuilt {
		if slices.Contains(all, r) {
			del = append([]string{r}, del...)
		}
	}
	for range 3 {
		var left int64
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			for _, n := range del {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+quote(n)); err != nil {
					return fmt.Errorf("storagemove: emptying %s: %w", n, err)
				}
			}
			for _, n := range del {
				var c int64
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quote(n)).Scan(&c); err != nil {
					return fmt.Errorf("storagemove: emptying %s: %w", n, err)
				}
				left += c
			}
			return nil
		})
		if err != nil || left == 0 {
			return err
		}
	}
	return errors.New("storagemove: the target's tables do not stay empty")
}

// copier copies one table.
type copier struct {
	src, dst *db.DB
	t        *table // the target's
	cols     []string
	order    string // the ORDER BY of the source's read, or ""

	ins     string
	batch   [][]any
	n       int64
	done    map[string]bool // self-referencing tables: the keys inserted
	pending [][]any         // and the rows whose parent is not yet in
}

// run copies the table and returns how many rows it copied.
func (c *copier) run(ctx context.Context) (int64, error) {
	qc := make([]string, len(c.cols))
	ph := make([]string, len(c.cols))
	for i, n := range c.cols {
		qc[i], ph[i] = quote(n), "?"
	}
	c.ins = `INSERT INTO ` + quote(c.t.name) + ` (` + strings.Join(qc, ", ") + `) VALUES (` + strings.Join(ph, ", ") + `)`
	if c.t.selfCol != "" {
		c.done = map[string]bool{}
	}
	rows, err := c.src.QueryContext(ctx, `SELECT `+strings.Join(qc, ", ")+` FROM `+quote(c.t.name)+c.order)
	if err != nil {
		return 0, fmt.Errorf("storagemove: reading %s: %w", c.t.name, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, len(c.cols))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, fmt.Errorf("storagemove: reading %s: %w", c.t.name, err)
		}
		if err := c.add(ctx, vals); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("storagemove: reading %s: %w", c.t.name, err)
	}
	if err := c.drainPending(ctx); err != nil {
		return 0, err
	}
	return c.n, c.flush(ctx)
}

// typ returns the target's type of the i-th column copied.
func (c *copier) typ(i int) string {
	for _, col := range c.t.cols {
		if col.name == c.cols[i] {
			return col.typ
		}
	}
	return ""
}

// index returns the position of column name, or -1.
func (c *copier) index(name string) int { return slices.Index(c.cols, name) }

// add queues one row, or keeps it aside while the row it refers to in
// its own table is not yet queued.
func (c *copier) add(ctx context.Context, vals []any) error {
	if c.done != nil {
		if p := vals[c.index(c.t.selfCol)]; p != nil && !c.done[canon(p)] {
			c.pending = append(c.pending, vals)
			return nil
		}
		if i := c.index(c.t.selfTo); i >= 0 {
			c.done[canon(vals[i])] = true
		}
	}
	for i, v := range vals {
		vals[i] = convert(v, c.typ(i), c.dst.Engine())
	}
	c.batch = append(c.batch, vals)
	c.n++
	if len(c.batch) >= batchRows {
		return c.flush(ctx)
	}
	return nil
}

// drainPending queues the rows kept aside, as their parents come in.
func (c *copier) drainPending(ctx context.Context) error {
	for len(c.pending) > 0 {
		rest := c.pending
		c.pending = nil
		for _, vals := range rest {
			if err := c.add(ctx, vals); err != nil {
				return err
			}
		}
		if len(c.pending) == len(rest) {
			return fmt.Errorf("storagemove: %d rows of %s refer to rows of it that are not there", len(rest), c.t.name)
		}
	}
	return nil
}

// flush inserts the queued rows in one transaction.
func (c *copier) flush(ctx context.Context) error {
	if len(c.batch) == 0 {
		return nil
	}
	err := c.dst.Tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, c.ins)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, vals := range c.batch {
			if _, err := stmt.ExecContext(ctx, vals...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storagemove: writing %s: %w", c.t.name, err)
	}
	c.batch = c.batch[:0]
	return nil
}

// convert turns a value read from one engine into what the target
// column takes: SQLite gives a BLOB's bytes or a TEXT's string whatever
// the column says, PostgreSQL's BYTEA, TEXT and integer columns want
// theirs; Go booleans go into SQLite as 0 and 1.
func convert(v any, typ string, e db.Engine) any {
	switch x := v.(type) {
	case string:
		if typ == "bytea" || typ == "blob" {
			return []byte(x)
		}
	case []byte:
		if typ == "bytea" || typ == "blob" {
			return x
		}
		return string(x)
	case bool:
		if e == db.SQLite || strings.Contains(typ, "int") {
			if x {
				return int64(1)
			}
			return int64(0)
		}
	case float64:
		if strings.Contains(typ, "int") && x == math.Trunc(x) {
			return int64(x)
		}
	}
	return v
}

// sequences sets each identity column's sequence on PostgreSQL past the
// largest id copied, as the rows came with their ids.
func sequences(ctx context.Context, d *db.DB, ts map[string]*table) error {
	if d.Engine() != db.Postgres {
		return nil
	}
	for _, t := range ts {
		for _, c := range t.cols {
			if !c.identity {
				continue
			}
			q := `SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX(` + quote(c.name) + `) FROM ` + quote(t.name) + `), 0) + 1, false)`
			if _, err := d.ExecContext(ctx, q, quote(t.name), c.name); err != nil {
				return fmt.Errorf("storagemove: the sequence of %s.%s: %w", t.name, c.name, err)
			}
		}
	}
	return nil
}

// queueIndexing notes every mail body in the target's blob_unindexed, so
// that the store's indexer makes the full-text index anew when the
// server starts on it (the source's index is the other engine's and is
// not copied).
func queueIndexing(ctx context.Context, d *db.DB, ts map[string]*table, out io.Writer) error {
	if ts["blobs"] == nil {
		return nil
	}
	res, err := d.ExecContext(ctx, `INSERT INTO blob_unindexed (blob_id) SELECT id FROM blobs`)
	if err != nil {
		return fmt.Errorf("storagemove: queueing the bodies for indexing: %w", err)
	}
	n, _ := res.RowsAffected()
	fmt.Fprintf(out, "  %-28s %8d bodies to index at the server's start\n", "(full-text index)", n)
	return nil
}
