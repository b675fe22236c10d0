package dav_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/web"
)

// writeCounter counts the writes to the connections it accepts, below
// TLS: one per TLS record sent.
type writeCounter struct {
	net.Listener
	writes atomic.Int64
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, n: &l.writes}, nil
}

type countedConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// TestH2OneRecordPerFrame: over HTTP/2, to a client that takes frames of
// 16 KiB (SETTINGS_MAX_FRAME_SIZE left at its default, as curl and
// browsers leave it), a download goes out in about one TLS record per
// frame. Go's HTTP/2 server cuts a large write into frames of 16,384
// bytes, which crypto/tls sends as two records (16,384 and 9 bytes): 130
// records for 1 MiB before web.FrameWrites.
func TestH2OneRecordPerFrame(t *testing.T) {
	t.Parallel()
	fe := filestest.New(t, files.Options{})
	mux := http.NewServeMux()
	dav.New(fe.Store, fe.Auth, nil, slog.New(slog.NewTextHandler(t.Output(), nil))).Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	counter := &writeCounter{Listener: srv.Listener}
	srv.Listener = counter
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := fe.Person(t, "anna@example.org")
	secret := fe.AppPassword(t, u, "laptop", auth.ScopeFiles)

	hc := srv.Client()
	tr := hc.Transport.(*http.Transport)
	tr.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: 16 << 10}
	do := func(method string, body []byte) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+"/dav/Home/big.bin", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("anna@example.org", secret)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.ProtoMajor != 2 || resp.StatusCode >= 300 {
			t.Fatalf("%s: %s %s, %v", method, resp.Proto, resp.Status, err)
		}
		return got
	}
	content := make([]byte, 1<<20)
	rand.Read(content)
	do("PUT", content)

	before := counter.writes.Load()
	got := do("GET", nil)
	records := counter.writes.Load() - before
	if !bytes.Equal(got, content) {
		t.Fatalf("GET: %d bytes, not what was PUT", len(got))
	}
	frames := int64(len(content)+web.H2FrameData-1) / web.H2FrameData
	if records > frames+8 {
		t.Errorf("GET of 1 MiB over HTTP/2: %d TLS records, want at most %d (%d frames and a few more)", records, frames+8, frames)
	}
	t.Logf("GET of 1 MiB over HTTP/2: %d TLS records", records)
}
