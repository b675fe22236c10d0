package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Every connection runs with SQLite's query planner stability guarantee
// (SQLITE_DBCONFIG_ENABLE_QPSG, https://sqlite.org/c3ref/c_dbconfig_defensive.html):
// a statement's plan never depends on the values bound to it, so binding new
// values never makes SQLite prepare the statement again.
//
// Without it, SQLite's planner guesses that a term "column = ?" it does not
// look up by index is a boolean when ? is bound to -1, 0 or 1, and marks
// the statement to be prepared again whenever a later value crosses between
// those and any other (sqlite3ExprIsInteger's "small integer" rule, called
// from whereLoopOutputAdjust). FTS5 looks each term up in every segment of
// its index with one cached statement, "SELECT pgno FROM %_idx WHERE
// segid=? AND term<=? ORDER BY term DESC LIMIT 1", binding each segment's
// id: segment 1, then the others, so on every MATCH that statement was
// parsed and planned again from its SQL text, once per crossing (six times
// per MATCH over six segments in TestPlannerStable; 12-26% of the CPU of
// an IMAP text SEARCH in BenchmarkSearchAccounts). Caucus runs no ANALYZE,
// so the planner had no other use for bound values.
//
// The driver offers no setting for it (its DSN knows busy_timeout, pragmas,
// _dqs and _defensive), and no PRAGMA turns it on; [plannerStable] reaches
// the connection's handle the way the driver's own methods do.
// TestPlannerStable fails if a new driver version moves it.

// connector opens the driver's connections and turns the guarantee on for
// each before database/sql uses it.
type connector struct {
	driver.Connector
	attach string // the index file to attach read-only, if not ""
}

// Connect opens a connection with the query planner stability guarantee,
// the index file attached if c has one (see [IndexSchema]).
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := plannerStable(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	if c.attach != "" {
		if err := attachIndex(ctx, conn, c.attach); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// newConnector returns the connector for dsn, whose connections attach
// the index file at attach if it is not "".
func newConnector(dsn, attach string) (driver.Connector, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return connector{c, attach}, nil
}

// errNoHandle reports that the driver's connection no longer has the
// fields plannerStable reads.
var errNoHandle = errors.New("db: the sqlite driver's connection has no db and tls fields")

// rawHandle returns the SQLite handle of a connection of the modernc
// driver and the C runtime state it is used with: the connection's
// unexported fields db (uintptr) and tls (*libc.TLS).
func rawHandle(conn any) (*libc.TLS, uintptr, error) {
	v := reflect.ValueOf(conn)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, 0, errNoHandle
	}
	db, tls := v.Elem().FieldByName("db"), v.Elem().FieldByName("tls")
	if !db.IsValid() || db.Kind() != reflect.Uintptr || !tls.IsValid() || tls.Type() != reflect.TypeFor[*libc.TLS]() {
		return nil, 0, errNoHandle
	}
	if db.Uint() == 0 || tls.IsNil() {
		return nil, 0, errNoHandle
	}
	return (*libc.TLS)(tls.UnsafePointer()), uintptr(db.Uint()), nil
}

// plannerStable turns on the query planner stability guarantee on conn
// and checks that it took.
func plannerStable(conn any) error {
	tls, db, err := rawHandle(conn)
	if err != nil {
		return err
	}
	on, err := dbConfigBool(tls, db, sqlite3.SQLITE_DBCONFIG_ENABLE_QPSG, 1)
	if err != nil {
		return err
	}
	if !on {
		return errors.New("db: the query planner stability guarantee did not take")
	}
	return nil
}

// dbConfigBool calls sqlite3_db_config(db, op, set, &result) for one of
// the boolean options (set: 1 on, 0 off, -1 leave it) and returns the
// option's state afterwards.
//
// The arguments and the int SQLite writes the state to are in the C
// runtime's memory (tls.Alloc), not Go's: SQLite's code turns the pointer
// it is given, a uintptr, back into a pointer, which Go's rules for
// unsafe.Pointer allow only outside the Go heap. With a Go pointer there
// the process aborted under -race, whose checkptr instrumentation checks
// every such conversion ("pointer arithmetic result points to invalid
// allocation", at every SQLite connection opened).
func dbConfigBool(tls *libc.TLS, db uintptr, op, set int32) (bool, error) {
	const size = 3 * 8 // two 8-byte slots for the arguments, then the result
	mem := tls.Alloc(size)
	defer tls.Free(size)
	// mem is outside the Go heap, so a pointer made from it is valid
	// (unsafe.Add: vet's unsafeptr check cannot know where mem lies).
	res := (*int32)(unsafe.Add(nil, mem+16))
	*res = -1
	if rc := sqlite3.Xsqlite3_db_config(tls, db, op, libc.VaList(mem, set, mem+16)); rc != sqlite3.SQLITE_OK {
		return false, fmt.Errorf("db: sqlite3_db_config(%d): result code %d", op, rc)
	}
	return *res == 1, nil
}
