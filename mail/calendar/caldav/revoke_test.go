package caldav_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
)

// TestOffboardingCutsRequest starts a PUT whose body trickles in, then
// offboards its member: the request ends without storing anything, and
// the app password opens nothing any more.
func TestOffboardingCutsRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.person(t, "alice", auth.ScopeCalendar)
	u := alice.home() + "personal/cut.ics"
	ev := event("cut", "20260610T090000Z", "20260610T100000Z", "")
	pr, pw := io.Pipe()
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", e.srv.URL+u, pr)
	req.SetBasicAuth(alice.login, alice.secret)
	req.Header.Set("Content-Type", "text/calendar")
	req.ContentLength = int64(len(ev))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				t.Errorf("the PUT succeeded after the offboarding: %s", resp.Status)
			}
		}
		done <- err
	}()
	if _, err := io.WriteString(pw, ev[:40]); err != nil { // the server is reading the body
		t.Fatal(err)
	}
	for e.Auth.Hub().Live(alice.id) == 0 { // the server has signed the PUT in
		time.Sleep(5 * time.Millisecond)
	}
	rep, err := e.Auth.Revoke(t.Context(), "admin", alice.id, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connections != 1 {
		t.Fatalf("the revocation closed %d connections, want the PUT's", rep.Connections)
	}
	// The client sends the rest: had the server not cut the request, it
	// would store the event.
	t.Cleanup(func() { pr.Close() })
	go func() {
		io.WriteString(pw, ev[40:])
		pw.Close()
	}()
	select {
	case err := <-done:
		t.Logf("the client saw: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the PUT still runs 30 s after the offboarding")
	}
	if code, _, _ := e.do(t, alice, "GET", u, ""); code != http.StatusUnauthorized {
		t.Fatalf("GET after the offboarding: %d, want 401", code)
	}
	if _, err := e.store.Get(t.Context(), storeMember(alice), "personal", "cut.ics"); err == nil || !strings.Contains(err.Error(), "no such") {
		t.Fatalf("the cut PUT stored its object: %v", err)
	}
}
