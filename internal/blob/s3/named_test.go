package s3_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/s3"
	"github.com/caucus-org/caucus/internal/testtool/s3test"
)

// TestPutNamed checks that PutNamed looks whether the store holds the
// content (a HEAD request) only when the caller says a row names it, and
// that Put always looks: the request methods a proxy in front of the
// store sees, and the content read back.
func TestPutNamed(t *testing.T) {
	srv := s3test.Start(t)
	target, err := url.Parse("http://" + strings.TrimPrefix(strings.TrimPrefix(srv.Endpoint, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the Host header the request was signed with
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	st, err := s3.New(context.Background(), s3.Config{Endpoint: strings.TrimPrefix(proxy.URL, "http://"), Insecure: true, Bucket: srv.Bucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Key: bytes.Repeat([]byte{5}, s3.KeySize), SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	methods := func() string {
		mu.Lock()
		defer mu.Unlock()
		out := strings.Join(seen, " ")
		seen = nil
		return out
	}
	methods()
	for _, tc := range []struct {
		name  string
		named func(blob.Ref) (bool, error) // nil: Put
		want  string
	}{
		{"named by no row", func(blob.Ref) (bool, error) { return false, nil }, "PUT"},
		{"named by a row", func(blob.Ref) (bool, error) { return true, nil }, "HEAD"}, // stored above
		{"Put", nil, "HEAD"},
	} {
		body := bytes.Repeat([]byte("minutes "), 8<<10) // 64 KiB, spilled
		var ref blob.Ref
		if tc.named != nil {
			ref, _, err = st.PutNamed(t.Context(), struct{ *bytes.Reader }{bytes.NewReader(body)}, 0, tc.named)
		} else {
			ref, _, err = st.Put(t.Context(), struct{ *bytes.Reader }{bytes.NewReader(body)}, 0)
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := methods(); got != tc.want {
			t.Errorf("%s: requests %q, want %q", tc.name, got, tc.want)
		}
		if got, err := readAll(st, ref); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: read back %d bytes, %v", tc.name, len(got), err)
		}
		methods()
	}
}
