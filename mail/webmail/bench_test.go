package webmail

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth/login"
)

// BenchmarkList is issue 15's "open INBOX of 100,000 messages": the server
// time of the first page of the list (sign-in check, the folders, 50
// messages, the page rendered), next to a page deep in the mailbox and to
// the same first page of a mailbox of 100 messages. The mailbox is filled
// by copying its messages onto themselves (bodies shared), as IMAP COPY
// does.
func BenchmarkList(b *testing.B) {
	e := newEnv(b)
	anna := e.member(b, "anna")
	small := e.member(b, "ben")
	anna.put(b, "INBOX", mail("Treasurer <treasurer@outside.example>", "anna@"+domain, "Quarterly budget", "numbers"))
	in := anna.box(b, "INBOX")
	for n := 1; n < 100_000; n *= 2 {
		uids, err := e.st.UIDs(b.Context(), in.ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(uids) > 100_000-n {
			uids = uids[:100_000-n]
		}
		if _, _, _, err := e.st.Copy(b.Context(), in.ID, uids, anna.u.Account.ID, "INBOX"); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		small.put(b, "INBOX", mail("x@outside.example", "ben@"+domain, "hello", "x"))
	}
	if in = anna.box(b, "INBOX"); in.Messages != 100_000 {
		b.Fatalf("%d messages", in.Messages)
	}
	mux := http.NewServeMux()
	e.h.Register(mux)
	serve := func(b *testing.B, m *member, path string) {
		for b.Loop() {
			req := httptest.NewRequest("GET", path, nil)
			req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: m.u.Session})
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%s: %d", path, w.Code)
			}
		}
	}
	b.Run("first-of-100000", func(b *testing.B) { serve(b, anna, fmt.Sprintf("/mail/box/%d", in.ID)) })
	b.Run("deep-of-100000", func(b *testing.B) { serve(b, anna, fmt.Sprintf("/mail/box/%d?before=50000", in.ID)) })
	b.Run("first-of-100", func(b *testing.B) { serve(b, small, fmt.Sprintf("/mail/box/%d", small.box(b, "INBOX").ID)) })
	b.Run("search-rare-of-100000", func(b *testing.B) { serve(b, anna, "/mail/search?q=nowhere-to-be-found") })
}

// BenchmarkEventStreamMemory measures what one open live-update stream
// costs the server: heap and goroutines per stream, over 200 streams held
// open by raw TLS clients in this process (whose own TLS state and read
// buffers are counted in, so the figure is high). The bound is
// what one IMAP IDLE connection costs: mail/imapserver's
// BenchmarkIdleMemory, with its clients in another process.
func BenchmarkEventStreamMemory(b *testing.B) {
	e := newEnv(b)
	anna := e.member(b, "anna")
	const n = 200
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		conns := make([]*tls.Conn, 0, n)
		for range n {
			c, err := tls.Dial("tcp", e.ts.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(c, "GET /mail/events HTTP/1.1\r\nHost: x\r\nCookie: %s=%s\r\n\r\n", login.SessionCookie, anna.u.Session)
			br := bufio.NewReaderSize(c, 4096)
			if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "200") {
				b.Fatalf("%q %v", line, err)
			}
			conns = append(conns, c)
		}
		time.Sleep(100 * time.Millisecond) // the streams write their first event
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-bytes/stream")
		b.ReportMetric(float64(int64(after.StackInuse)-int64(before.StackInuse))/n, "stack-bytes/stream")
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/n, "goroutines/stream")
		for _, c := range conns {
			c.Close()
		}
	}
}
