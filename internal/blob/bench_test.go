package blob_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/blobtest"
)

// BenchmarkEngines stores and reads blobs of a mail's size (10 KiB) and a
// document's (1 MiB) on each engine in the same run: the directory store
// (fsync, rename, directory fsync) and the S3 store on versitygw on this
// machine (spill, hash, encrypt, PUT; ranged GETs, decrypt). Run with
// -count to alternate them:
//
//	go test ./internal/blob/ -run '^$' -bench BenchmarkEngines -count 3
func BenchmarkEngines(b *testing.B) {
	engines := blobtest.Engines(b)
	for _, size := range []int{10 << 10, 1 << 20} {
		name := fmt.Sprintf("%dKiB", size>>10)
		for _, e := range engines {
			b.Run("put-"+name+"/"+e.Name, func(b *testing.B) { benchPut(b, e.Open(b), size) })
			b.Run("open-"+name+"/"+e.Name, func(b *testing.B) { benchOpen(b, e.Open(b), size) })
		}
	}
}

// unique returns size bytes of content that differs with i, so that no
// Put is deduplicated.
func unique(buf []byte, i int) []byte {
	binary.BigEndian.PutUint64(buf, uint64(i))
	return buf
}

func benchPut(b *testing.B, s blob.Store, size int) {
	buf := bytes.Repeat([]byte("caucus "), size/7+1)[:size]
	b.SetBytes(int64(size))
	i := 0
	for b.Loop() {
		if _, _, err := s.Put(context.Background(), bytes.NewReader(unique(buf, i)), 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchOpen(b *testing.B, s blob.Store, size int) {
	buf := bytes.Repeat([]byte("caucus "), size/7+1)[:size]
	const blobs = 16
	refs := make([]blob.Ref, blobs)
	for i := range refs {
		ref, _, err := s.Put(context.Background(), bytes.NewReader(unique(buf, i)), 0)
		if err != nil {
			b.Fatal(err)
		}
		refs[i] = ref
	}
	b.SetBytes(int64(size))
	i := 0
	for b.Loop() {
		f, err := s.Open(refs[i%blobs])
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, f); err != nil || n != int64(size) {
			b.Fatalf("read %d bytes, %v", n, err)
		}
		f.Close()
		i++
	}
}
