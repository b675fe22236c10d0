package db

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// mappedResident returns how many bytes of the file at path are resident
// in this process through memory maps (the Rss of its mappings in
// /proc/self/smaps, proc(5)), one count per map.
func mappedResident(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int64
	ours := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			ours = len(fields) >= 6 && strings.Join(fields[5:], " ") == path
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ours && ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			n += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// openOneConn opens a database whose pool has one connection (so that
// every statement runs on it) holding a table of about 16 MB, read once
// through the connection's memory map; it returns the database and the
// file's path.
func openOneConn(t *testing.T) (*DB, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/smaps")
	}
	d := open(t)
	d.SetMaxOpenConns(1)
	ctx := t.Context()
	if _, err := d.ExecContext(ctx, `CREATE TABLE big (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	err := d.Tx(ctx, func(tx *sql.Tx) error {
		for range 1024 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO big (v) VALUES (randomblob(16384))`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `PRAGMA main.wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err) // the pages in the database file, where the map reads them
	}
	readBig(t, ctx, d)
	path := d.path
	if m := mappedResident(t, path); m < 4<<20 {
		t.Fatalf("%d bytes of the database mapped after reading its 16 MB table through the map, want 4 MB or more", m)
	}
	return d, path
}

// readBig reads every row of the table big with q (the pages that
// length() reads: not every overflow page, about half the table's).
func readBig(t *testing.T, ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) {
	t.Helper()
	var n int64
	if err := q.QueryRowContext(ctx, `SELECT sum(length(v)) FROM big`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 1024*16384 {
		t.Fatalf("read %d bytes, want %d or more", n, 1024*16384)
	}
}

// checkMapsAgain checks that d's one connection reads through its map.
func checkMapsAgain(t *testing.T, d *DB, path string) {
	t.Helper()
	var size int64
	if err := d.QueryRowContext(t.Context(), `PRAGMA mmap_size`).Scan(&size); err != nil || size != mmapSize {
		t.Errorf("mmap_size after an unmapped transaction: %d (%v), want %d", size, err, mmapSize)
	}
	readBig(t, t.Context(), d)
	if m := mappedResident(t, path); m < 4<<20 {
		t.Errorf("%d bytes of the database mapped after a read that followed an unmapped transaction, want 4 MB or more (the map again)", m)
	}
}

// TestGroupDoUnmapped checks that a group's commits, of Do and of
// DoUnmapped (a mailbox import's batch) alike, read without the memory
// map: they run on the group's kept connection, which is never mapped
// (see keptConn), and that the connection maps the file again once the
// group has given it back to the pool.
func TestGroupDoUnmapped(t *testing.T) {
	t.Parallel()
	d, path := openOneConn(t)
	ctx := t.Context()
	g := d.NewGroup(64, nil)
	for _, q := range []string{`SAVEPOINT job`, `RELEASE job`} {
		// Prepared now: preparing them in the group's transaction would
		// wait for a second connection.
		if _, err := d.Prepared(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	inGroup := func(do func(context.Context, func(context.Context, *sql.Tx) error) error) int64 {
		var inside int64
		err := do(ctx, func(ctx context.Context, tx *sql.Tx) error {
			readBig(t, ctx, tx)
			inside = mappedResident(t, path)
			_, err := tx.ExecContext(ctx, `INSERT INTO big (v) VALUES (x'00')`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return inside
	}
	if m := inGroup(g.Do); m > 1<<20 {
		t.Errorf("%d bytes of the database mapped while a group read 16 MB, want none", m)
	}
	if m := inGroup(g.DoUnmapped); m > 1<<20 {
		t.Errorf("%d bytes of the database mapped while an unmapped group read 16 MB, want none", m)
	}
	g.conn.close() // the pool's one connection, back
	checkMapsAgain(t, d, path)
}

// TestReadUnmapped checks that a read of ReadUnmapped leaves none of the
// pages it read resident (a finished import's totals scanned a table of
// every message it copied: after a 5 GB import, one connection's map held
// 103 MB), and that the connection maps the file again afterwards.
func TestReadUnmapped(t *testing.T) {
	t.Parallel()
	d, path := openOneConn(t)
	ctx := t.Context()
	var inside int64
	err := d.ReadUnmapped(ctx, func(c *sql.Conn) error {
		readBig(t, ctx, c)
		inside = mappedResident(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inside > 1<<20 {
		t.Errorf("%d bytes of the database mapped while an unmapped read read 16 MB, want none", inside)
	}
	checkMapsAgain(t, d, path)
}
