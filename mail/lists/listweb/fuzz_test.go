package listweb

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/mail/lists"
)

// FuzzPublic sends the pages anyone may reach without signing in (a
// signed unsubscribe or confirmation link, an open list's help page and
// subscription form) any method, path, query and form. They never fail
// with a server error, never make an address active or unsubscribed
// without the link's token (which the fuzzer cannot forge), and every
// confirmation request they mail has one To, the address asked for: a
// form cannot add a recipient or a header field.
func FuzzPublic(f *testing.F) {
	e := newEnv(f)
	id := strconv.FormatInt(e.list, 10)
	for _, s := range [][3]string{
		{"/mail/lists/" + id + "/subscribe", "", "address=new@example.org"},
		{"/mail/lists/" + id + "/subscribe", "", "address=x@example.org%0D%0ABcc:+y@example.org"},
		{"/mail/lists/" + id + "/subscribe", "", "address=%22a+b%22@example.org&address=c@d"},
		{"/mail/lists/" + id + "/subscribe", "", "address=news@example-party.org"},
		{"/mail/lists/" + id + "/help", "n=asked", ""},
		{"/mail/lists/unsubscribe", "l=" + id + "&a=bob@example-party.org&t=AAAA", "List-Unsubscribe=One-Click"},
		{"/mail/lists/confirm", "l=" + id + "&a=new@example.org&t=", ""},
		{"/mail/lists/confirm", "l=-1&a=&t=%ff", "x"},
		{"/mail/lists/9223372036854775807/help", "", ""},
	} {
		for m := range 2 {
			f.Add(uint8(m), s[0], s[1], s[2])
		}
	}
	h := e.ts.Config.Handler
	f.Fuzz(func(t *testing.T, m uint8, path, query, form string) {
		e.sent.mu.Lock()
		clear(e.sent.msgs)
		e.sent.mu.Unlock()
		// A day passes between requests, so that the per-address limit on
		// subscription requests does not answer every later one.
		e.a.Clock.Advance(25 * time.Hour)
		req := httptest.NewRequestWithContext(t.Context(), []string{http.MethodGet, http.MethodPost}[m%2], "https://mail.example-party.org/", strings.NewReader(form))
		req.URL.Path, req.URL.RawQuery = path, query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q ? %q (%q): %d %s", req.Method, path, query, form, rec.Code, rec.Body)
		}
		subs, err := e.svc.Subscribers(t.Context(), e.list)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if s.State != lists.StatePending {
				t.Fatalf("%s %q ? %q (%q) made %s %s without a token", req.Method, path, query, form, s.Address, s.State)
			}
		}
		e.sent.mu.Lock()
		defer e.sent.mu.Unlock()
		for rcpt, msg := range e.sent.msgs {
			m, err := mail.ReadMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatalf("confirmation request to %q: %v\n%s", rcpt, err, msg)
			}
			to, err := m.Header.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != rcpt || len(m.Header["To"]) != 1 || m.Header.Get("Bcc") != "" || m.Header.Get("Cc") != "" {
				t.Fatalf("confirmation request to %q has To %v (%v):\n%s", rcpt, to, err, msg)
			}
		}
	})
}
