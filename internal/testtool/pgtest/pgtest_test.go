package pgtest

import (
	"strings"
	"testing"
)

// TestStart starts a cluster, makes two databases and checks that what is
// written in one is read back there and is not seen in the other, and
// that the server listens only on the loopback address it was given.
func TestStart(t *testing.T) {
	s := Start(t, Options{})
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("server address %s is not on 127.0.0.1", s.Addr)
	}
	s.CreateDatabase(t, "a")
	s.CreateDatabase(t, "b")
	s.Psql(t, "a", "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')")
	if got := s.Psql(t, "a", "SELECT v FROM t"); got != "kept" {
		t.Fatalf("read back %q, want %q", got, "kept")
	}
	if got := s.Psql(t, "b", "SELECT count(*) FROM pg_tables WHERE tablename = 't'"); got != "0" {
		t.Fatalf("database b sees a's table: count %q", got)
	}
	if got := s.Psql(t, "a", "SHOW listen_addresses"); got != "127.0.0.1" {
		t.Fatalf("listen_addresses = %q", got)
	}
	if got := s.Psql(t, "a", "SHOW server_encoding"); got != "UTF8" {
		t.Fatalf("server_encoding = %q", got)
	}
}

// TestDurable checks that Options.Durable keeps fsync on, as benchmarks
// that compare with SQLite's synchronous=FULL need.
func TestDurable(t *testing.T) {
	for _, o := range []struct {
		durable bool
		want    string
	}{{true, "on"}, {false, "off"}} {
		s := Start(t, Options{Durable: o.durable})
		if got := s.Psql(t, "postgres", "SHOW fsync"); got != o.want {
			t.Errorf("Durable=%v: fsync = %q, want %q", o.durable, got, o.want)
		}
	}
}
