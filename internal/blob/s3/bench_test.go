package s3_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/cache"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

// BenchmarkUpload stores a 12 MiB blob in one PUT (parts of 16 MiB) and
// in parts to a temporary key copied by the server to the blob's (parts
// of 5 MiB): what the copy that dates a multipart blob at its completion
// costs.
//
//	go test ./internal/blob/s3/ -run '^$' -bench BenchmarkUpload -count 3
func BenchmarkUpload(b *testing.B) {
	srv := s3test.Start(b)
	const size = 12 << 20
	buf := bytes.Repeat([]byte("caucus "), size/7+1)[:size]
	for _, c := range []struct {
		name string
		part int64
	}{{"one-put", 16 << 20}, {"parts+copy", s3.MinPartSize}} {
		b.Run(c.name, func(b *testing.B) {
			st, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: srv.Bucket(b),
				AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: make([]byte, s3.KeySize), SpillDir: b.TempDir(), PartSize: c.part})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			i := uint64(0)
			for b.Loop() {
				binary.BigEndian.PutUint64(buf, i)
				i++
				if _, _, err := st.Put(context.Background(), bytes.NewReader(buf), 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopy keeps contents of 64 KiB (the largest a files store keeps
// in its database) as copies in a cache on the node's disk, and reads
// them back: what a small content that falls out of the files store's
// memory costs the node when it is kept (KeepCopy, in the background:
// cpu-µs/op counts this process's CPU, the background's with it) and
// when it is read (ReadCopy), to set beside a read of it from PostgreSQL.
//
//	go test ./internal/blob/s3/ -run '^$' -bench BenchmarkCopy -benchtime 2000x
func BenchmarkCopy(b *testing.B) {
	srv := s3test.Start(b)
	c, err := cache.New(b.TempDir(), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	st, err := s3.New(context.Background(), s3.Config{Endpoint: srv.Endpoint, Insecure: true, Bucket: srv.Bucket(b),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: make([]byte, s3.KeySize), SpillDir: b.TempDir(), Cache: c})
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 10
	var refs []blob.Ref
	content := func(i int) []byte {
		buf := bytes.Repeat([]byte("caucus "), size/7+1)[:size]
		binary.BigEndian.PutUint64(buf, uint64(i))
		return buf
	}
	b.Run("keep", func(b *testing.B) {
		start := cpuTime()
		for b.Loop() {
			data := content(len(refs))
			ref := refOf(data)
			refs = append(refs, ref)
			st.KeepCopy(ref, data)
			c.Wait() // one at a time: none dropped for the writes waiting
		}
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	})
	b.Run("read", func(b *testing.B) {
		if len(refs) == 0 {
			b.Skip("nothing kept")
		}
		start := cpuTime()
		i := 0
		for b.Loop() {
			if _, ok := st.ReadCopy(refs[i%len(refs)], size); !ok {
				b.Fatal("no copy")
			}
			i++
		}
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
	})
}

// cpuTime is the CPU time, user and system, this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
