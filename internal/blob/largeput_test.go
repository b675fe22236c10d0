package blob

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// waitOps are the system's fileOps, adding up the time Puts spend in
// each step that waits for the disk (see waitSteps).
type waitOps struct {
	osOps
	ns [len(waitSteps)]atomic.Int64
	// calls counts the sync system calls: fdatasync(2), fsync(2) and
	// syncfs(2), each of which ends with a cache flush on ext4.
	calls atomic.Int64
}

// waitSteps name waitOps' steps: fdatasync(2) of a blob's data, fsync(2)
// of its inode once named, fsync of a directory, and a cycle's syncfs(2)
// and flush (fsGroup).
var waitSteps = [...]string{"fdatasync", "fsync", "dirsync", "group"}

func (o *waitOps) timed(step int, f func() error) error {
	o.calls.Add(1)
	t := time.Now()
	err := f()
	o.ns[step].Add(int64(time.Since(t)))
	return err
}

func (o *waitOps) syncData(f *os.File) error {
	return o.timed(0, func() error { return o.osOps.syncData(f) })
}
func (o *waitOps) sync(f *os.File) error { return o.timed(1, func() error { return o.osOps.sync(f) }) }
func (o *waitOps) syncDir(dir string) (size int64, err error) {
	err = o.timed(2, func() error {
		var err error
		size, err = o.osOps.syncDir(dir)
		return err
	})
	return size, err
}
func (o *waitOps) syncFS(f *os.File) error {
	return o.timed(3, func() error { return o.osOps.syncFS(f) })
}
func (o *waitOps) flush(f *os.File) error {
	return o.timed(3, func() error { return o.osOps.flush(f) })
}

// arriving yields its content as an upload arrives: in TLS records of
// 16 KiB, pausing after every 64 KiB for the next packets.
type arriving struct {
	r     io.Reader
	read  int
	pause time.Duration
}

func (a *arriving) Read(b []byte) (int, error) {
	if a.read > 0 && a.read%(64<<10) == 0 {
		time.Sleep(a.pause)
	}
	n, err := a.r.Read(b[:min(len(b), 16<<10, 64<<10-a.read%(64<<10))])
	a.read += n
	return n, err
}

// BenchmarkPutLarge puts 1 MiB blobs, 8 at a time (the WebDAV
// benchmark's curl --parallel-max) on a 2-core host, each read as an
// upload arrives, and reports the process's CPU per Put, the sync system
// calls per Put (syncs/op: fdatasync(2), fsync(2) and syncfs(2); on ext4
// without a journal each ends with a cache flush), and the time spent in
// each kind of sync per Put (waitSteps; group-µs/op is the time fsGroup's
// cycles took, shared by the Puts each served): what durability adds to
// a large upload, which Apache's mod_dav does not pay (issue 21). A new
// store syncs each fan-out directory the first time a Put names a blob in
// it on its own (its durable size is not known yet), so dirsync-µs/op
// falls as b.N grows past the 256 directories. It measures the blob
// store's large-content path without HTTP and TLS, whose load moves the
// WebDAV benchmark's figures:
//
//	go test ./internal/blob -run '^$' -bench PutLarge -benchtime 400x -count 3
func BenchmarkPutLarge(b *testing.B) {
	s, err := OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	o := &waitOps{}
	s.ops = o
	var seq atomic.Int64
	b.SetParallelism(4) // 8 on 2 cores
	b.SetBytes(1 << 20)
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 1<<20)
		for pb.Next() {
			binary.BigEndian.PutUint64(buf, uint64(seq.Add(1))) // never deduplicated
			r := &arriving{r: bytes.NewReader(buf), pause: 100 * time.Microsecond}
			if _, _, err := s.Put(context.Background(), r, 0); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(o.calls.Load())/float64(b.N), "syncs/op")
	for i, step := range waitSteps {
		b.ReportMetric(float64(o.ns[i].Load())/1e3/float64(b.N), step+"-µs/op")
	}
}
