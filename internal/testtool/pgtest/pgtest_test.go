package pgtest

import (
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/testtool"
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

// TestUsage checks that Usage finds the checkpointer by its title and
// counts a connection's CPU after the connection has ended (its backend
// reaped by the postmaster).
func TestUsage(t *testing.T) {
	s := Start(t, Options{})
	before, err := s.Usage()
	if err != nil {
		t.Fatal(err)
	}
	s.Psql(t, "postgres", "CREATE TABLE t AS SELECT g FROM generate_series(1, 100000) g")
	s.Psql(t, "postgres", "CHECKPOINT")
	// A query that takes far more than one clock tick (10 ms) of CPU.
	s.Psql(t, "postgres", "SELECT count(*) FROM generate_series(1, 3000000)")
	// The last backend ends once psql has gone; the postmaster reaps it
	// soon after, and only then are its times in the postmaster's cutime.
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, err := s.Usage()
		if err != nil {
			t.Fatal(err)
		}
		d := u.Sub(before)
		if d.Checkpointer <= 0 {
			t.Fatalf("a CHECKPOINT did not count for the checkpointer: %+v", d)
		}
		if d.Other >= 5*testtool.ClockTick {
			t.Logf("usage: %+v", d)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ended connections' CPU is not counted: %+v", d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestProduction checks that Production asks for a quarter of the
// memory in huge pages only when the host has that many free, since
// huge_pages=on refuses to start otherwise.
func TestProduction(t *testing.T) {
	const gib = 1 << 20 // in kB
	for _, c := range []struct {
		mem, free, size int64
		want            string
	}{
		{24 * gib, 0, 2048, ""},
		{24 * gib, 3300, 2048, "shared_buffers=6144MB huge_pages=on"},
		{24 * gib, 3072, 2048, ""}, // the buffers alone, not the rest
		{24 * gib, 7, 1 << 20, "shared_buffers=6144MB huge_pages=on"},
		{24 * gib, 3300, 0, ""},
	} {
		if got := strings.Join(production(c.mem, c.free, c.size), " "); got != c.want {
			t.Errorf("production(%d kB, %d free of %d kB) = %q, want %q", c.mem, c.free, c.size, got, c.want)
		}
	}
}
