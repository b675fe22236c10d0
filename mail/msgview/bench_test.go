package msgview

import (
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// newsletter returns about size bytes of mail-like HTML: tables, inline
// styles, a style sheet, links, remote and cid images, entities.
func newsletter(size int) string {
	var b strings.Builder
	b.WriteString(`<html><head><style>@media (max-width:600px){td.c{width:100%!important}} .x{color:#333;font-family:"Helvetica Neue",Arial}</style></head><body><table width="600" cellpadding="0">`)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, `<tr><td class="c" style="padding:10px;color:rgb(0,0,0);background:url(https://t.example/%d.png)">`+
			`<a href="https://news.example/article/%d?utm=mail" style="color:#06c">Article %d &amp; more</a> `+
			`<img src="https://t.example/pixel/%d.gif" width="1" height="1"><img src="cid:img%d@x" alt="pic">`+
			`<p>Lorem ipsum dolor sit amet, <b>consectetur</b> adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p></td></tr>`+"\n", i, i, i, i, i%10)
	}
	b.WriteString(`</table></body></html>`)
	return b.String()
}

// htmlMessage wraps HTML in a multipart/alternative message, quoted-
// printable, with ten related images.
func htmlMessage(h string) []byte {
	var b strings.Builder
	b.WriteString("From: News <news@news.example>\r\nTo: anna@party.example\r\nSubject: News\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n")
	b.WriteString("--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the HTML.\r\n")
	b.WriteString("--alt\r\nContent-Type: multipart/related; boundary=rel\r\n\r\n--rel\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	io.WriteString(qp, h)
	qp.Close()
	for i := range 10 {
		fmt.Fprintf(&b, "\r\n--rel\r\nContent-Type: image/png\r\nContent-ID: <img%d@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=", i)
	}
	b.WriteString("\r\n--rel--\r\n--alt--\r\n")
	return []byte(b.String())
}

// cpuTime returns the CPU time (user and system) the process used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per operation since start: on a loaded
// machine it says more than the wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkParseSanitize1MB parses a message with 1 MB of HTML and writes
// its sanitized body, as webmail does to open it.
func BenchmarkParseSanitize1MB(b *testing.B) {
	msg := htmlMessage(newsletter(1 << 20))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		v, err := ParseBytes(msg, Options{Hostname: "mail.party.example"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.SanitizeBody(io.Discard, "https://caucus.test/m/1/part/{part}", SanitizeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPeerParseRender1MB is the peer: golang.org/x/net/html's tree
// parser and renderer on the same HTML, the least a tree-based sanitizer
// (bluemonday's policy walk, or a hand-written one on html.Parse) does.
func BenchmarkPeerParseRender1MB(b *testing.B) {
	h := newsletter(1 << 20)
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		doc, err := html.Parse(strings.NewReader(h))
		if err != nil {
			b.Fatal(err)
		}
		if err := html.Render(io.Discard, doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSanitize1MB is SanitizeHTML alone on the same HTML.
func BenchmarkSanitize1MB(b *testing.B) {
	h := newsletter(1 << 20)
	b.SetBytes(int64(len(h)))
	b.ReportAllocs()
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if _, err := SanitizeHTML(io.Discard, strings.NewReader(h), SanitizeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTMLToText1MB is HTMLToText on the same HTML.
func BenchmarkHTMLToText1MB(b *testing.B) {
	h := newsletter(1 << 20)
	b.SetBytes(int64(len(h)))
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		if err := HTMLToText(io.Discard, strings.NewReader(h)); err != nil {
			b.Fatal(err)
		}
	}
}
