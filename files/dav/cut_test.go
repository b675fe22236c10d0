package dav_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/dav"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/web"
)

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
	resp, err := srv.Client().Do(req)
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
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the suspension the client read %d more bytes, then %v; want a connection reset", n, err)
	}
}
