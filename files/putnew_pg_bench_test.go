package files_test

import (
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
)

// BenchmarkPutNewPG measures what PostgreSQL itself spends on the
// statement that commits a new file (putNewPG), for contents of 10 and
// 64 KiB kept in the database, in transactions of four uploads into
// folders of 100 files, as the group commit sends them (one statement
// per upload, without the pipelining: the server's work per statement
// is the same). Besides time, which on a shared host swings 2-3x with
// the load of others, it reports counts that do not: the WAL records and
// bytes per upload (pg_stat_wal, the cluster's, which no other test
// writes to meanwhile) and, when this process can read the backend's
// /proc entries (same host, root or the server's user), the backend's
// CPU time (pg-cpu-µs/op) and its minor page faults (pg-faults/op): its
// first touch of each page of PostgreSQL's shared memory, such as a
// buffer the insert of a content just took, is a fault, which on the
// project's virtual machine costs about 18 µs. Only the commit is
// measured: the folders are made before.
//
// The cluster is the tests' shared one (dbtest), which runs with
// fsync, synchronous_commit and full_page_writes off: the figures leave
// out the flush at COMMIT and the full-page images a durable cluster
// writes after each checkpoint, so they show the statement's own work,
// not what a durable server spends (BenchmarkDAVManyFiles's caucus-pg
// runs a durable cluster).
//
//	CAUCUS_TEST_ENGINE=postgres go test ./files -run '^$' -bench BenchmarkPutNewPG
func BenchmarkPutNewPG(b *testing.B) {
	for _, size := range []int{10 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			e := filestest.New(b, files.Options{})
			d := files.DB(e.Store)
			if d.Engine() != db.Postgres {
				b.Skip("putNewPG is PostgreSQL's")
			}
			s, ctx := e.Store, b.Context()
			a := e.Member(b, "alice@example.org")
			home, err := s.Stat(ctx, a, "/Home")
			if err != nil {
				b.Fatal(err)
			}
			conn, err := d.Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var tx *sql.Tx
			defer func() {
				// A failed upload leaves its transaction open, and
				// Conn.Close waits for it to end.
				if tx != nil {
					tx.Rollback()
				}
				conn.Close()
			}()
			var pid int
			if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				b.Fatal(err)
			}
			// Folders for n uploads, made before the clock runs; later
			// uploads go into them again under new names.
			const n, group = 4000, 4
			folders := make([]int64, n/100)
			for k := range folders {
				f, err := s.Mkdir(ctx, a, home.ID, fmt.Sprintf("d%d", k))
				if err != nil {
					b.Fatal(err)
				}
				folders[k] = f.ID
			}
			// One random (incompressible) content, made new for each
			// upload by its number in its first bytes, under a reference
			// made from that number: the statement does not check the
			// reference, and hashing here would add ~61 µs a 64 KiB upload
			// to ns/op that PostgreSQL does not spend.
			data := make([]byte, size)
			rand.Read(data)
			content := func(i int) ([]byte, string) {
				binary.BigEndian.PutUint64(data, uint64(i))
				return data, fmt.Sprintf("%064x", i) // the form of a blob.Ref
			}
			wal0 := walStats(b, conn)
			cpu0, faults0, procOK := backendStats(pid)
			i := 0
			for b.Loop() {
				if i%group == 0 {
					if tx, err = conn.BeginTx(ctx, nil); err != nil {
						b.Fatal(err)
					}
				}
				c, ref := content(i)
				st := files.PutNewFile(s, files.SpaceHome, a.ID, folders[(i%n)/100], fmt.Sprintf("f%d", i), ref, c, int64(i+1), "alice")
				var id sql.NullInt64
				var path string
				if err := tx.QueryRowContext(ctx, st[0].(string), st[1:]...).Scan(&id, &path); err != nil || !id.Valid {
					b.Fatalf("upload %d: %v (committed: %t)", i, err, id.Valid)
				}
				if i++; i%group == 0 {
					if err := tx.Commit(); err != nil {
						b.Fatal(err)
					}
					tx = nil
				}
			}
			if tx != nil {
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			wal1 := walStats(b, conn)
			cpu1, faults1, _ := backendStats(pid)
			per := func(v int64) float64 { return float64(v) / float64(i) }
			b.ReportMetric(per(wal1.records-wal0.records), "wal-records/op")
			b.ReportMetric(per(wal1.bytes-wal0.bytes), "wal-B/op")
			if procOK {
				b.ReportMetric(per((cpu1 - cpu0).Microseconds()), "pg-cpu-µs/op")
				b.ReportMetric(per(faults1-faults0), "pg-faults/op")
			}
		})
	}
}

// walCounts are the cluster's WAL figures of pg_stat_wal.
type walCounts struct{ records, bytes int64 }

// walStats returns pg_stat_wal's figures as of conn's last transaction:
// a backend adds its own to them when it goes idle, at most once a
// second unless asked sooner (pg_stat_force_next_flush, PostgreSQL 15).
func walStats(b *testing.B, conn *sql.Conn) walCounts {
	ctx := b.Context()
	if _, err := conn.ExecContext(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		b.Fatal(err)
	}
	var w walCounts
	if err := conn.QueryRowContext(ctx, `SELECT wal_records, wal_bytes::bigint FROM pg_stat_wal`).Scan(&w.records, &w.bytes); err != nil {
		b.Fatal(err)
	}
	return w
}

// backendStats returns the CPU time and minor page faults so far of the
// process pid (a PostgreSQL backend on this host), from /proc (proc(5));
// ok is false if they cannot be read.
func backendStats(pid int) (cpu time.Duration, faults int64, ok bool) {
	cpu, err := testtool.ProcCPU(pid)
	if err != nil {
		return 0, 0, false
	}
	st, err := testtool.ReadProcStat(pid)
	if err != nil {
		return 0, 0, false
	}
	return cpu, st.Field(10), true
}
