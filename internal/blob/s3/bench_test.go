package s3_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

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
