// Package pgtest starts a private PostgreSQL server for the tests and
// benchmarks that run caucus's storage on PostgreSQL (the engine a party
// that outgrows one machine runs; see the several-nodes issue). The
// cluster is made by initdb in a temporary directory, the server listens on
// 127.0.0.1 with a random port and on a Unix socket in that directory, and
// it is stopped and removed when the test ends: it touches nothing else on
// the machine and never the system's own cluster.
//
// PostgreSQL comes from Debian (package postgresql, which installs the
// server programs under /usr/lib/postgresql/<major>/bin, off PATH).
// A missing server skips the test, and fails it when CI=true, as
// [testtool.Need] does. PostgreSQL refuses to run as root: under root the
// server runs as the Debian package's postgres user.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/caucus-org/caucus/internal/db"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Options says how the server runs.
type Options struct {
	// Durable keeps fsync and synchronous_commit on, as in production:
	// benchmarks compare with SQLite's synchronous=FULL. Tests that do not
	// measure leave it off and run faster.
	Durable bool
	// Settings are further server settings, each "name=value" as
	// postgres -c takes it, applied after pgtest's own (so that they win):
	// a benchmark passes [Production] to run the cluster as an operator
	// would. Tests leave it empty.
	Settings []string
}

// Server is a running PostgreSQL cluster.
type Server struct {
	Addr string // host:port on 127.0.0.1
	Dir  string // the cluster's directory (also holds the Unix socket)
	// User is the cluster's superuser, who signs in without a password
	// from 127.0.0.1 only (trust for loopback, nothing else listens).
	User string
	// PID is the postmaster's process id: its children are the
	// cluster's other processes (see [Server.Usage]).
	PID int

	nextDB atomic.Int64 // names the databases of Nodes
}

// DSN returns a connection string for database db (libpq keyword form,
// which pgx and psql both read).
func (s *Server) DSN(db string) string {
	host, port, _ := net.SplitHostPort(s.Addr)
	return fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable", host, port, s.User, db)
}

// binDir finds the newest server installed by Debian's packages.
func binDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Dir(dirs[0])
}

// major reads the version number out of /usr/lib/postgresql/<n>/bin/postgres.
func major(p string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
	return n
}

// Start makes a cluster, starts it and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if !Installed() {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL is required under CI=true but was not found (install postgresql in .ci/run)")
		}
		t.Skip("PostgreSQL not installed; skipping (install postgresql from Debian, or run bash .ci/run)")
	}
	s, stop, err := StartServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// Installed reports whether Debian's PostgreSQL server programs are here.
func Installed() bool { return binDir() != "" }

// StartServer makes a cluster and starts it, for a caller that is not one
// test (a package's TestMain); stop stops the server and removes its
// directory.
func StartServer(o Options) (s *Server, stop func(), err error) {
	bin := binDir()
	if bin == "" {
		return nil, nil, errors.New("pgtest: PostgreSQL is not installed (Debian package postgresql)")
	}
	cred, err := credential()
	if err != nil {
		return nil, nil, err
	}
	// Not t.TempDir: under root its parent is private to root, and the
	// server runs as postgres.
	dir, err := os.MkdirTemp("", "caucus-pg-")
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*Server, func(), error) {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	s = &Server{Dir: dir, User: "caucus"}
	data := filepath.Join(dir, "data")
	if out, err := run(cred, filepath.Join(bin, "initdb"), "-D", data, "-U", s.User,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions"); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	s.Addr = ln.Addr().String()
	_, port, _ := net.SplitHostPort(s.Addr)
	ln.Close()
	args := []string{"-D", data, "-h", "127.0.0.1", "-p", port, "-k", dir,
		"-c", "max_connections=300", "-c", "shared_buffers=64MB"}
	if !o.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, kv := range o.Settings {
		args = append(args, "-c", kv)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	s.PID = cmd.Process.Pid
	stop = func() {
		// SIGINT is PostgreSQL's fast shutdown: no waiting for clients.
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	if err := s.wait(bin, cred); err != nil {
		stop()
		return nil, nil, fmt.Errorf("%v\n%s", err, out.Bytes())
	}
	return s, stop, nil
}

// wait waits until the server accepts connections (pg_isready), a few
// seconds at most.
func (s *Server) wait(bin string, cred *syscall.Credential) error {
	host, port, _ := net.SplitHostPort(s.Addr)
	var out []byte
	var err error
	for i := 0; i < 300; i++ {
		out, err = run(cred, filepath.Join(bin, "pg_isready"), "-h", host, "-p", port, "-U", s.User, "-d", "postgres", "-t", "1")
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("pgtest: server on %s not ready: %v: %s", s.Addr, err, out)
}

// CreateDatabase makes an empty database named name, so that each test
// (or each caucus node set) has its own.
func (s *Server) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	cred, err := credential()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	out, err := run(cred, filepath.Join(binDir(), "createdb"), "-h", host, "-p", port, "-U", s.User, name)
	if err != nil {
		t.Fatalf("createdb %s: %v\n%s", name, err, out)
	}
	return s.DSN(name)
}

// Psql runs one SQL command through psql and returns its unaligned output.
func (s *Server) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	cred, err := credential()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	out, err := run(cred, filepath.Join(binDir(), "psql"), "-h", host, "-p", port, "-U", s.User,
		"-d", db, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return string(bytes.TrimSpace(out))
}

// credential is who runs the server programs: nil (the caller) unless the
// caller is root, whom PostgreSQL refuses; then Debian's postgres user.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs the postgres user (Debian's postgresql package makes it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// run runs a server program as cred and returns what it printed.
func run(cred *syscall.Credential, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// The programs look for their home and locale; keep them away from
	// the caller's environment (root's HOME is not theirs).
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=/tmp"}
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

// Nodes starts a server and opens one new database on it n times, each
// with its own connection pool, as n caucus nodes sharing it do; they are
// closed when the test ends.
func Nodes(t testing.TB, n int) []*db.DB {
	t.Helper()
	s := Start(t, Options{})
	return s.Nodes(t, n)
}

// Nodes opens one new database on s n times; see [Nodes].
func (s *Server) Nodes(t testing.TB, n int) []*db.DB {
	t.Helper()
	name := "nodes_" + strconv.Itoa(int(s.nextDB.Add(1)))
	dsn := s.CreateDatabase(t, name)
	nodes := make([]*db.DB, n)
	for i := range nodes {
		d, err := db.OpenPostgres(context.Background(), dsn, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		nodes[i] = d
	}
	return nodes
}
