package blobtest

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/cache"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

// Engine is a [blob.Store] implementation that tests run on.
type Engine struct {
	// Name names it in subtests: "dir", "s3".
	Name string
	// Open returns a new, empty store that lasts until t ends.
	Open func(t testing.TB) blob.Store
}

// Engines returns every implementation: the directory store, and the S3
// store (without and with a cache on the node's disk) on a real S3
// server (package s3test) started for t, over HTTPS,
// each store in
// a bucket of its own, encrypted under a key of its own, with the smallest
// part S3 allows so that a few MiB take the multipart path. Without the
// server installed, the S3 engine's Open skips its subtest (fails it under
// CI=true).
func Engines(t testing.TB) []Engine {
	t.Helper()
	var srv *s3test.Server
	if s3test.Installed() {
		srv = s3test.StartTLS(t) // as in production: signed over TLS
	}
	return []Engine{
		{Name: "dir", Open: func(t testing.TB) blob.Store {
			s, err := blob.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{Name: "s3", Open: func(t testing.TB) blob.Store {
			if srv == nil {
				s3test.Need(t)
			}
			return OpenS3(t, srv, srv.Bucket(t))
		}},
		{Name: "s3-cached", Open: func(t testing.TB) blob.Store {
			if srv == nil {
				s3test.Need(t)
			}
			return openS3Cached(t, srv, srv.Bucket(t))
		}},
	}
}

// openS3Cached is OpenS3 reading through a cache of 4 MiB on t's disk
// (objects up to 256 KiB kept, larger ones streamed).
func openS3Cached(t testing.TB, srv *s3test.Server, bucket string) *s3.Store {
	t.Helper()
	c, err := cache.New(t.TempDir(), 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Wait) // before the directory goes
	return openS3(t, srv, bucket, c)
}

// OpenS3 returns an S3 store in bucket of srv (over HTTPS if srv has a
// certificate), under a new random key, spilling into a temporary
// directory of t.
func OpenS3(t testing.TB, srv *s3test.Server, bucket string) *s3.Store {
	t.Helper()
	return openS3(t, srv, bucket, nil)
}

func openS3(t testing.TB, srv *s3test.Server, bucket string, c *cache.Cache) *s3.Store {
	t.Helper()
	key := make([]byte, s3.KeySize)
	rand.Read(key)
	st, err := s3.New(context.Background(), s3.Config{
		Endpoint:  srv.Endpoint,
		Insecure:  srv.RootCAs == nil,
		RootCAs:   srv.RootCAs,
		Bucket:    bucket,
		AccessKey: srv.AccessKey,
		SecretKey: srv.SecretKey,
		Key:       key,
		SpillDir:  t.TempDir(),
		PartSize:  s3.MinPartSize,
		Cache:     c,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Each runs fn as a subtest on every engine, with the engine's Open.
func Each(t *testing.T, fn func(t *testing.T, open func(t *testing.T) blob.Store)) {
	for _, e := range Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			fn(t, func(t *testing.T) blob.Store { return e.Open(t) })
		})
	}
}
