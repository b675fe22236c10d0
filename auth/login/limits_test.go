package login

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
)

// levels counts log records at ERROR and keeps their text.
type levels struct {
	mu     sync.Mutex
	errors []string
}

func (h *levels) Enabled(context.Context, slog.Level) bool { return true }
func (h *levels) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *levels) WithGroup(string) slog.Handler            { return h }
func (h *levels) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.errors = append(h.errors, r.Message)
	}
	return nil
}

// TestSlowLoginBody is issue 12 item 14: a POST /login whose body trickles
// in past the server's read timeout was answered 500 with an ERROR log
// line (the request's context ended and the account lookup failed). It is
// the client's doing: a 4xx (408 for the login form) and no ERROR, on the
// other sign-in forms too.
func TestSlowLoginBody(t *testing.T) {
	t.Parallel()
	h := &levels{}
	log := slog.New(h)
	ts := httptest.NewUnstartedServer(nil)
	origin := "https://" + ts.Listener.Addr().String()
	svc, _ := newService(t, origin, log)
	ts.Config.Handler = newHandler(t, svc, log)
	ts.Config.ReadTimeout = 300 * time.Millisecond // the body's deadline; not asserted on
	ts.StartTLS()
	defer ts.Close()
	tok, err := svc.CreateInvite(context.Background(), testAdmin, auth.NewAccount{Login: "slow@example.org", DisplayName: "Slow", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/login", "/enrol/" + tok} {
		c, err := tls.Dial("tcp", ts.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := "login=slow%40example.org&password=" + strings.Repeat("x", 40)
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
			path, ts.Listener.Addr(), len(body), body[:10]) // the rest never comes
		c.SetReadDeadline(time.Now().Add(time.Minute))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode >= 500 || path == "/login" && resp.StatusCode != http.StatusRequestTimeout {
			t.Errorf("%s with a slow body: status %d, want 408 (a 4xx)", path, resp.StatusCode)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errors) > 0 {
		t.Errorf("ERROR log lines for a slow client: %q", h.errors)
	}
}

// TestThrottledAnswer is issue 12 item 14: a throttled sign-in answered
// 401 and could say "Wait 0s". It answers 429 with Retry-After, and the
// wait it names is at least one second.
func TestThrottledAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, m := e.enrol(t, "anna@example.org")
	b.post("/logout", url.Values{"csrf": {b.get("/account").csrf()}}).redirect("/login")
	var r *resp
	for i := 0; ; i++ {
		r = b.post("/login", url.Values{"login": {m.login}, "password": {"guess-number-" + strconv.Itoa(i)}})
		if r.code != http.StatusUnauthorized || i > 20 {
			break
		}
	}
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("throttled sign-in: status %d, want 429; body:\n%s", r.code, r.body)
	}
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want a number of seconds >= 1", r.header.Get("Retry-After"))
	}
	// Less than half a second left: never "Wait 0s".
	e.clk.Advance(800 * time.Millisecond)
	r = b.post("/login", url.Values{"login": {m.login}, "password": {"one-more-guess"}})
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("still throttled: status %d, want 429", r.code)
	}
	if strings.Contains(r.body, "Wait 0 seconds") || !strings.Contains(r.body, "Wait 1 second ") {
		t.Errorf("200 ms left: body says %q, want \"Wait 1 second\"", between(r.body, "Too many", "again"))
	}
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("200 ms left: Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
}

// between returns the text of s from start to end, for messages.
func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j+len(end)]
}

// TestGuesserCannotLockOutMembersBrowser is issue 12 item 5 on the web:
// while someone guessed a member's password, her own sign-in said "Wait
// 3m14s". A browser that has signed in to the account before (it holds a
// device cookie) is limited on its own, not by the guesser's failures.
func TestGuesserCannotLockOutMembersBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b, m := e.enrol(t, "anna@example.org")
	b.post("/logout", url.Values{"csrf": {b.get("/account").csrf()}}).redirect("/login")
	b.signIn(m) // her laptop, remembered
	b.post("/logout", url.Values{"csrf": {b.get("/account").csrf()}}).redirect("/login")

	guesser := e.browser(t)
	for i := range 10 {
		guesser.post("/login", url.Values{"login": {m.login}, "password": {"guess-" + strconv.Itoa(i)}})
	}
	guesser.post("/login", url.Values{"login": {m.login}, "password": {m.password}}).want(http.StatusTooManyRequests)
	// Her own browser: the right password is checked and taken.
	b.post("/login", url.Values{"login": {m.login}, "password": {m.password}}).redirect("/login/second?next=%2Faccount")
	// Wrong passwords from her browser are limited too, on their own.
	other := e.browser(t)
	other.jar = b.jar
	other.c.Jar = b.jar
	var r *resp
	for i := range 7 {
		r = other.post("/login", url.Values{"login": {m.login}, "password": {"typo-" + strconv.Itoa(i)}})
	}
	r.want(http.StatusTooManyRequests)
}
