package dav_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/web"
)

// firstError is a client's TCP connection that keeps the first error
// any read or write on it returned. After a reset the kernel reports
// ECONNRESET once, to whichever call comes first (the HTTP/2 transport's
// reading goroutine, or a WINDOW_UPDATE it writes as the body is read),
// and end of file to every later read; after a graceful close the first
// error is the reads' end of file.
type firstError struct {
	net.Conn
	first *atomic.Pointer[error]
}

func (c firstError) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.first.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (c firstError) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		c.first.CompareAndSwap(nil, &err)
	}
	return n, err
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestSuspendResetsDownload is issue 12 item 8 end to end: an HTTP/2
// download of a member suspended half way gets its connection reset at
// once, instead of receiving what the server's kernel had queued.
func TestSuspendResetsDownload(t *testing.T) {
	t.Parallel()
	fe := filestest.New(t, files.Options{})
	mux := http.NewServeMux()
	dav.New(fe.Store, fe.Auth, nil, slog.New(slog.NewTextHandler(t.Output(), nil))).Register(mux)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = web.NewServer(mux, nil)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, a := fe.Person(t, "alice@example.org")
	home, _ := fe.Store.Stat(t.Context(), a, "/Home")
	const size = 64 << 20
	if _, err := fe.Store.Put(t.Context(), a, home.ID, "big.bin", io.LimitReader(zeros{}, size), size); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/dav/Home/big.bin", nil)
	req.SetBasicAuth(u.Account.Login, fe.AppPassword(t, u, "phone", auth.ScopeFiles))
	var first atomic.Pointer[error]
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := new(net.Dialer).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return firstError{c, &first}, nil
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: HTTP/%d %s", resp.ProtoMajor, resp.Status)
	}
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := fe.Auth.Revoke(t.Context(), "admin", u.Account.ID, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server reacts
	n, err := io.Copy(io.Discard, resp.Body)
	t.Logf("after the suspension: %d bytes, then %v", n, err)
	var connErr error
	if p := first.Load(); p != nil {
		connErr = *p
	}
	if err == nil || !errors.Is(connErr, syscall.ECONNRESET) {
		t.Fatalf("after the suspension the client read %d more bytes, then %v (its connection's first error: %v); want a connection reset", n, err, connErr)
	}
}
