package webmail

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth/login"
)

// BenchmarkList is issue 15's "open INBOX of 100,000 messages": the server
// time of the first page of the list (sign-in check, the folders, 50
// messages, the page rendered), next to a page deep in the mailbox and to
// the same first page of a mailbox of 100 messages; a search for a rare
// word and for one in every message; a message's page with its
// conversation. The mailbox is filled
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
		defer reportCPU(b, cpuTime())
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
	b.Run("search-all-of-100000", func(b *testing.B) { serve(b, anna, "/mail/search?q=budget") })
	// A message's page holds its conversation, searched for across the
	// mailbox by Message-ID, References and In-Reply-To: here the
	// 100,000 copies share one Message-ID, a conversation of 100,000.
	b.Run("message-of-100000", func(b *testing.B) { serve(b, anna, msgHref(in.ID, 50_000)) })
	// The usual case: a message whose conversation is itself and a
	// reply, in the same mailbox of 100,000.
	hdr := "To: anna@example.org\r\nDate: Mon, 1 Jun 2026 09:00:00 +0000\r\n"
	alone := anna.put(b, "INBOX", hdr+"From: Ben <ben@example.org>\r\nSubject: Leaflets\r\nMessage-ID: <leaflets@example.org>\r\n\r\nhow many?\r\n")
	anna.put(b, "INBOX", hdr+"From: Carl <carl@example.org>\r\nSubject: Re: Leaflets\r\nMessage-ID: <re@example.org>\r\nIn-Reply-To: <leaflets@example.org>\r\n\r\n200\r\n")
	b.Run("message-alone-of-100000", func(b *testing.B) { serve(b, anna, msgHref(in.ID, alone)) })
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

// BenchmarkRead1MB is issue 15's "open a 1 MB HTML message": the server
// time of the message page (parse, findings, the sanitizer's counts, the
// conversation search) and of its frame (the sanitized body), next to a
// small text message.
func BenchmarkRead1MB(b *testing.B) {
	e := newEnv(b)
	anna := e.member(b, "anna")
	var h strings.Builder
	for i := 0; h.Len() < 1<<20; i++ {
		fmt.Fprintf(&h, `<table><tr><td style="padding:8px;color:#333"><h2>News item %d</h2><p>Our campaign <b>grows</b>: read <a href="https://news.example.com/item/%d">the full story</a>.`+
			`<img src="https://tracker.example.com/p/%d.gif" width="1" height="1"></p></td></tr></table>`+"\n", i, i, i)
	}
	big := "From: News <news@outside.example>\r\nTo: anna@example.org\r\nSubject: Newsletter\r\nDate: Mon, 1 Jun 2026 09:00:00 +0000\r\n" +
		"Message-ID: <news@outside.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + h.String()
	bigUID := anna.put(b, "INBOX", big)
	smallUID := anna.put(b, "INBOX", mail("x@outside.example", "anna@"+domain, "short", "a few words"))
	in := anna.box(b, "INBOX")
	mux := http.NewServeMux()
	e.h.Register(mux)
	serve := func(b *testing.B, path string) {
		defer reportCPU(b, cpuTime())
		for b.Loop() {
			req := httptest.NewRequest("GET", path, nil)
			req.AddCookie(&http.Cookie{Name: login.SessionCookie, Value: anna.u.Session})
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%s: %d", path, w.Code)
			}
		}
	}
	b.Run("page-1MB-html", func(b *testing.B) { serve(b, msgHref(in.ID, bigUID)) })
	b.Run("frame-1MB-html", func(b *testing.B) { serve(b, msgHref(in.ID, bigUID)+"/frame") })
	b.Run("page-small-text", func(b *testing.B) { serve(b, msgHref(in.ID, smallUID)) })
	b.Run("frame-small-text", func(b *testing.B) { serve(b, msgHref(in.ID, smallUID)+"/frame") })
}

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per operation since start: on a machine
// shared with other work it says more than the wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}
