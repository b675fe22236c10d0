package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"
)

var errTestRevoked = errors.New("test: revoked")

// cutServer serves a download that writes until its context is ended
// with a cause (as auth's revocation does) by a send on revoke; the client
// reads slowly, so data are queued in the server's socket then.
func cutServer(t *testing.T, h2 bool) (*httptest.Server, chan struct{}) {
	revoke := make(chan struct{})
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		go func() {
			select {
			case <-revoke:
				cancel(errTestRevoked)
			case <-ctx.Done():
			}
		}()
		d := NewDeadlines(ctx, w)
		defer d.Stop()
		sw := SlideWrites(d, w)
		chunk := strings.Repeat("x", 64<<10)
		for {
			if _, err := io.WriteString(sw, chunk); err != nil {
				return
			}
		}
	}), nil)
	if h2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts, revoke
}

// afterRevoke reads 1 MiB from body, has the transfer revoked, waits for
// the server's socket to be closed or reset, and reads the rest.
func afterRevoke(t *testing.T, body io.Reader, revoke chan struct{}) (int64, error) {
	if _, err := io.CopyN(io.Discard, body, 1<<20); err != nil {
		t.Fatal(err)
	}
	close(revoke)
	time.Sleep(100 * time.Millisecond) // the server reacts
	return io.Copy(io.Discard, body)
}

// TestRevokedTransferReset is issue 12 item 8: when a transfer's context
// ends with a cause of its own (a revocation), the connection is reset:
// what the server's kernel had queued for the client is dropped and the
// client sees a reset, rather than receiving megabytes more and a clean
// end.
func TestRevokedTransferReset(t *testing.T) {
	t.Parallel()
	t.Run("HTTP/1.1", func(t *testing.T) {
		t.Parallel()
		ts, revoke := cutServer(t, false)
		c, err := net.Dial("tcp", ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		n, err := afterRevoke(t, c, revoke)
		t.Logf("after the revocation: %d bytes, then %v", n, err)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("after the revocation the client read %d bytes and then %v; want a connection reset", n, err)
		}
	})
	t.Run("HTTP/2", func(t *testing.T) {
		t.Parallel()
		ts, revoke := cutServer(t, true)
		resp, err := ts.Client().Get(ts.URL + "/big")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d", resp.ProtoMajor)
		}
		n, err := afterRevoke(t, resp.Body, revoke)
		t.Logf("after the revocation: %d bytes, then %v", n, err)
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("after the revocation the client read %d bytes and then %v; want a connection reset", n, err)
		}
	})
}

// TestEndedRequestNoReset: a transfer whose request merely ends (the
// client went away: the cause is context.Canceled) does not reset the
// connection, which HTTP/2 shares with the client's other requests.
func TestEndedRequestNoReset(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		d := NewDeadlines(ctx, w)
		defer d.Stop()
		if r.URL.Path == "/cancel" {
			cancel()
			time.Sleep(50 * time.Millisecond) // the reaction runs
		}
		cancel()
		io.WriteString(w, "ok")
	}), nil)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	if resp, err := ts.Client().Get(ts.URL + "/cancel"); err == nil { // its stream is reset
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	reused := false
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", ts.URL+"/after", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !reused {
		t.Fatal("the connection did not survive a request that ended without a cause")
	}
}

// TestMinReadRate is issue 12 item 6's slow senders: a body that arrives
// slower than the minimum rate is cut once the grace period is over; one
// at a good pace is read whole.
func TestMinReadRate(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := NewDeadlines(r.Context(), w)
		defer d.Stop()
		d.MinReadRate(1<<20, 200*time.Millisecond)
		SlideReads(d, r)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		io.WriteString(w, strings.ToUpper(string(b[:2])))
	}))
	defer ts.Close()

	resp, err := ts.Client().Post(ts.URL, "text/plain", strings.NewReader("ok"+strings.Repeat("x", 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "OK" {
		t.Fatalf("a fast body: %s %q", resp.Status, b)
	}

	pr, pw := io.Pipe()
	go func() {
		for range 60 { // a byte every 50 ms: 3 s in all
			if _, err := pw.Write([]byte("z")); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		pw.Close()
	}()
	defer pw.Close()
	resp, err = ts.Client().Post(ts.URL, "text/plain", pr)
	if err == nil {
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("a body trickling at 20 bytes/s was read whole: %q", b)
		}
	}
}
