// Package dbtest gives storage tests their database, and runs a package's
// tests on both of caucus's engines: SQLite (the default, one file) and
// PostgreSQL (several nodes).
//
// A package opts in with
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
// and opens every database through [Open] (or [Create]). Main runs the
// tests on SQLite, then starts a private PostgreSQL cluster
// ([pgtest.StartServer]) and runs the same test binary again with the same
// flags on it, so that every test of the package is a test of both
// engines. The environment variable CAUCUS_TEST_ENGINE=sqlite or
// =postgres runs one pass only; benchmarks, fuzzing and -list run one pass
// (SQLite unless the variable says otherwise). Without PostgreSQL
// installed the second pass is skipped, and fails under CI=true, as
// [testtool.Need] does.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool/pgtest"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the cluster's own database
)

const (
	// envEngine chooses the pass: "sqlite", "postgres", or unset for both.
	envEngine = "CAUCUS_TEST_ENGINE"
	// envServer tells the PostgreSQL pass where the cluster is:
	// "host:port user".
	envServer = "CAUCUS_TEST_PG"
	// database is the one database of a pass; each test gets its own
	// schema in it (a schema costs a fraction of a millisecond to make, a
	// database a third of a second).
	database = "caucus_test"
)

// Main runs m on SQLite and then on PostgreSQL (see the package comment)
// and exits with the result.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	switch os.Getenv(envEngine) {
	case string(db.SQLite):
		return m.Run()
	case string(db.Postgres):
		if os.Getenv(envServer) != "" {
			return m.Run()
		}
		// Asked for PostgreSQL alone (a benchmark on it): start a cluster
		// for this process.
		srv, stop, err := startCluster()
		if err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
			return 1
		}
		defer stop()
		os.Setenv(envServer, srv.Addr+" "+srv.User)
		return m.Run()
	case "":
	default:
		fmt.Fprintf(os.Stderr, "dbtest: %s=%q: want sqlite or postgres\n", envEngine, os.Getenv(envEngine))
		return 2
	}
	if code := m.Run(); code != 0 {
		return code
	}
	if onePass() {
		return 0
	}
	if !pgtest.Installed() {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "dbtest: PostgreSQL is required under CI=true but was not found (install postgresql in .ci/run)")
			return 1
		}
		fmt.Println("dbtest: PostgreSQL not installed; these tests ran on SQLite only")
		return 0
	}
	srv, stop, err := startCluster()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		return 1
	}
	defer stop()
	fmt.Println("=== dbtest: the same tests on PostgreSQL")
	cmd := exec.Command(os.Args[0], childArgs(os.Args[1:])...)
	cmd.Env = append(os.Environ(), envEngine+"="+string(db.Postgres), envServer+"="+srv.Addr+" "+srv.User)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "dbtest: FAIL on PostgreSQL: %v\n", err)
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

// startCluster starts the private cluster of the PostgreSQL pass and makes
// its database, with the extensions a migration may ask for already in its
// public schema (a test's schema is dropped when it ends, and an extension
// made in it would go with it, under the feet of the others).
func startCluster() (*pgtest.Server, func(), error) {
	srv, stop, err := pgtest.StartServer(pgtest.Options{})
	if err != nil {
		return nil, nil, err
	}
	err = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := sql.Open("pgx", srv.DSN("postgres"))
		if err != nil {
			return err
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+database); err != nil {
			return fmt.Errorf("creating the test database: %w", err)
		}
		d, err := sql.Open("pgx", srv.DSN(database))
		if err != nil {
			return err
		}
		defer d.Close()
		for _, ext := range []string{"pg_trgm", "unaccent", "citext"} {
			if _, err := d.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS `+ext+` SCHEMA public`); err != nil {
				return fmt.Errorf("creating extension %s: %w", ext, err)
			}
		}
		return nil
	}()
	if err != nil {
		stop()
		return nil, nil, err
	}
	return srv, stop, nil
}

// onePass reports whether this run benchmarks, fuzzes or lists, which
// run on one engine only.
func onePass() bool {
	for _, name := range []string{"test.bench", "test.fuzz", "test.list"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}

// childArgs are the flags of the PostgreSQL pass: the same as this run's,
// without the files that only one process may write (profiles, the go
// command's test log).
func childArgs(args []string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "test.testlogfile", "test.cpuprofile", "test.memprofile", "test.blockprofile",
			"test.mutexprofile", "test.trace", "test.coverprofile", "test.outputdir":
			continue
		}
		out = append(out, a)
	}
	return out
}

// Engine returns the engine of this pass.
func Engine() db.Engine {
	if os.Getenv(envEngine) == string(db.Postgres) && os.Getenv(envServer) != "" {
		return db.Postgres
	}
	return db.SQLite
}

// Database is an empty database made for one test, which the test may open
// (and, after closing it, open again, as a restarted server would).
type Database struct {
	Engine db.Engine
	Path   string // the SQLite file
	DSN    string // the PostgreSQL connection string
}

// Create makes an empty database on this pass's engine, removed when the
// test ends. On PostgreSQL it is a schema of its own in the pass's
// database (the connection string sets search_path to it, then public):
// tables, sequences and the migrations' record are apart; the
// cluster-wide write lock of [db.DB.Tx] is shared by the package's tests
// running in parallel, which it only serialises.
func Create(t testing.TB) Database {
	t.Helper()
	if Engine() == db.SQLite {
		return Database{Engine: db.SQLite, Path: filepath.Join(t.TempDir(), "caucus.db")}
	}
	addr, user, ok := strings.Cut(os.Getenv(envServer), " ")
	if !ok {
		t.Fatalf("dbtest: %s=%q: want \"host:port user\"", envServer, os.Getenv(envServer))
	}
	srv := pgtest.Server{Addr: addr, User: user}
	var b [8]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	exec := func(q string) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		d, err := sql.Open("pgx", srv.DSN(database))
		if err != nil {
			return err
		}
		defer d.Close()
		_, err = d.ExecContext(ctx, q)
		return err
	}
	if err := exec(`CREATE SCHEMA ` + name); err != nil {
		t.Fatalf("dbtest: creating schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(`DROP SCHEMA ` + name + ` CASCADE`); err != nil {
			t.Errorf("dbtest: dropping schema: %v", err)
		}
	})
	return Database{Engine: db.Postgres, DSN: srv.DSN(database) + " search_path=" + name + ",public"}
}

// Open opens d; it is closed when the test ends.
func (d Database) Open(t testing.TB) *db.DB {
	t.Helper()
	var (
		conn *db.DB
		err  error
	)
	if d.Engine == db.Postgres {
		conn, err = db.OpenPostgres(t.Context(), d.DSN, "", nil)
	} else {
		conn, err = db.Open(t.Context(), d.Path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Open makes an empty database on this pass's engine and opens it.
func Open(t testing.TB) *db.DB {
	t.Helper()
	return Create(t).Open(t)
}
