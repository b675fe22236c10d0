package dav_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth/connauth"
	"github.com/caucus-org/caucus/files"
)

// TestAccountRequestLimit: an account may have as many WebDAV requests in
// flight as it may have IMAP connections open (issue 14 item 2: only IMAP
// limited connections per account). With 20 uploads in flight the next
// request is answered 429 with Retry-After; once an upload ends, requests
// are served again.
func TestAccountRequestLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	alice, u, _ := e.client(t, "alice@example.org")
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	for i := range connauth.DefaultMaxConnsPerAccount {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req, err := http.NewRequestWithContext(t.Context(), "PUT", alice.base+"/dav/Home/f"+strings.Repeat("x", i)+".txt", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(alice.login, alice.secret)
		wg.Go(func() {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
		pw.Write([]byte("partial"))
	}
	defer wg.Wait()
	defer func() {
		for _, pw := range pipes {
			pw.Close()
		}
	}()

	status := func() (int, string) {
		resp := alice.do("PROPFIND", "/dav/Home/", nil, "Depth", "0")
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	// Wait until every upload holds its place (registered with the
	// revocation hub, which comes after the per-account limit): a request
	// sent before then could take a place and have an upload refused.
	for i := 0; e.Auth.Hub().Live(u.Account.ID) < connauth.DefaultMaxConnsPerAccount; i++ {
		if i == 2000 { // a bound on a hang, not a timing
			t.Fatalf("only %d of %d uploads reached the handler", e.Auth.Hub().Live(u.Account.ID), connauth.DefaultMaxConnsPerAccount)
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, retry := status()
	if code != http.StatusTooManyRequests || retry == "" {
		t.Fatalf("with %d uploads in flight: %d (Retry-After %q), want 429 with Retry-After", connauth.DefaultMaxConnsPerAccount, code, retry)
	}
	pipes[0].Close()
	for range 1000 {
		if code, _ = status(); code != http.StatusTooManyRequests {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code != http.StatusMultiStatus {
		t.Errorf("after an upload ended: %d, want 207", code)
	}
}
