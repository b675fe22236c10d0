package files_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/db"
)

// BenchmarkPut stores 10 KB files one after another: the cost of one
// durable upload (blob fsyncs and one SQLite commit).
func BenchmarkPut(b *testing.B) {
	e := filestest.New(b, files.Options{})
	a := e.Member(b, "alice@example.org")
	home, err := e.Store.Stat(b.Context(), a, "/Home")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 10<<10)
	for i := 0; b.Loop(); i++ {
		buf[0], buf[1], buf[2] = byte(i), byte(i>>8), byte(i>>16)
		if _, err := e.Store.Put(b.Context(), a, home.ID, fmt.Sprintf("f%d", i), bytes.NewReader(buf), int64(len(buf))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStat resolves a path three folders deep.
func BenchmarkStat(b *testing.B) {
	e := filestest.New(b, files.Options{})
	a := e.Member(b, "alice@example.org")
	n, _ := e.Store.Stat(b.Context(), a, "/Home")
	for _, name := range []string{"a", "b", "c"} {
		n, _ = e.Store.Mkdir(b.Context(), a, n.ID, name)
	}
	for b.Loop() {
		if _, err := e.Store.Stat(b.Context(), a, "/Home/a/b/c"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenRead opens and reads a file's content, kept in the
// database (inline: "cold" with no content cache, "warm" from it; "wal"
// with the contents still in SQLite's write-ahead log, else checkpointed
// into the database file, as older contents are) or in a blob file, at
// 10 to 128 KiB.
func BenchmarkOpenRead(b *testing.B) {
	for _, size := range []int{10 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10} {
		for _, where := range []struct {
			name   string
			inline int
			cold   bool
			logged bool // the contents still in the write-ahead log, not checkpointed into the database file
		}{{"inline-cold-wal", 128 << 10, true, true}, {"inline-cold", 128 << 10, true, false}, {"inline-warm", 128 << 10, false, false}, {"blob", -1, false, false}} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, where.name), func(b *testing.B) {
				opts := files.Options{InlineBytes: where.inline}
				if where.cold {
					opts.ContentCache = -1
				}
				e := filestest.New(b, opts)
				a := e.Member(b, "alice@example.org")
				home, err := e.Store.Stat(b.Context(), a, "/Home")
				if err != nil {
					b.Fatal(err)
				}
				const n = 100
				ids := make([]int64, n)
				buf := make([]byte, size)
				for i := range n {
					buf[0] = byte(i)
					f, err := e.Store.Put(b.Context(), a, home.ID, fmt.Sprintf("f%d", i), bytes.NewReader(buf), int64(size))
					if err != nil {
						b.Fatal(err)
					}
					ids[i] = f.ID
				}
				if !where.logged && e.DB.Engine() == db.SQLite {
					if _, err := e.DB.ExecContext(b.Context(), `PRAGMA main.wal_checkpoint(TRUNCATE)`); err != nil {
						b.Fatal(err)
					}
				}
				b.SetBytes(int64(size))
				var cpu0 time.Duration
				for i := 0; b.Loop(); i++ {
					if i == 0 {
						cpu0 = processCPU()
					}
					f, _, err := e.Store.Open(b.Context(), a, ids[i%n])
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.Copy(io.Discard, f); err != nil {
						b.Fatal(err)
					}
					f.Close()
				}
				b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// BenchmarkPutParallel stores files of 10 KiB (kept in the database),
// 64 KiB and 1 MiB (blob files) from 8 goroutines at once, as a WebDAV
// client with 8 transfers in flight does, through Store.Put (the HTTP
// layer aside), each into a folder of its own run, and reports the CPU
// time (this process's) per upload, and of it the user time:
//
//	go test ./files -run '^$' -bench PutParallel -benchtime 2000x
func BenchmarkPutParallel(b *testing.B) {
	for _, size := range []int{10 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			e := filestest.New(b, files.Options{})
			a := e.Member(b, "alice@example.org")
			home, err := e.Store.Stat(b.Context(), a, "/Home")
			if err != nil {
				b.Fatal(err)
			}
			dir, err := e.Store.Mkdir(b.Context(), a, home.ID, fmt.Sprintf("run%d", b.N))
			if err != nil {
				b.Fatal(err)
			}
			var seq atomic.Int64
			b.SetParallelism(4) // 8 on 2 cores
			b.SetBytes(int64(size))
			cpu0, user0 := processCPU(), userCPU()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, size)
				rand.Read(buf)
				for pb.Next() {
					i := seq.Add(1)
					binary.BigEndian.PutUint64(buf, uint64(i))
					if _, err := e.Store.Put(b.Context(), a, dir.ID, fmt.Sprintf("f%d", i), bytes.NewReader(buf), int64(size)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			// The process's own work, without the kernel's: on a busy
			// host the kernel's share of a file's creation varies most
			// (ext4 without a journal passes over every inode freed in
			// the last 30 s, by any process, when it makes a file).
			b.ReportMetric(float64((userCPU()-user0).Microseconds())/float64(b.N), "user-µs/op")
			if n, pages := walSize(b, e.DB); n >= 0 {
				// The write-ahead log's high-water mark (SQLite does not
				// shrink it), and the database file's size: contents
				// kept in the database pass through both.
				b.ReportMetric(float64(n)/(1<<20), "wal-MB")
				b.ReportMetric(float64(pages)/(1<<20), "db-MB")
			}
		})
	}
}

// walSize returns the size of d's write-ahead log file and of its
// database file; -1 if d is not SQLite.
func walSize(b *testing.B, d *db.DB) (wal, file int64) {
	if d.Engine() != db.SQLite {
		return -1, -1
	}
	var seq int
	var name, path string
	if err := d.QueryRowContext(b.Context(), `SELECT seq, name, file FROM pragma_database_list WHERE name = 'main'`).Scan(&seq, &name, &path); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		b.Fatal(err)
	}
	di, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size(), di.Size()
}

// userCPU returns the CPU time this process has used in user mode.
func userCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano())
}

// processCPU returns the CPU time, user and system, this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
