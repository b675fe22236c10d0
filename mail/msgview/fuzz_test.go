package msgview

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// hostileSeeds are HTML inputs for the fuzz targets.
var hostileSeeds = []string{
	`<p>hi</p><script>alert(1)</script>`,
	`<img src=x onerror=alert(1)><img src="https://t.example/p.gif">`,
	`<a href="jav&#x09;ascript:alert(1)">x</a><a href="https://evil.example/">www.mybank.de</a>`,
	`<style>@import url(x); p{background:u\72l(x)}</style><div style="color:red;background:url(x)">x</div>`,
	`<svg><script>alert(1)</script></svg><math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	`<form action=x><input><button formaction=x>b</button></form><meta http-equiv=refresh content=0;url=x>`,
	`<table background="https://t.example/bg"><tr><td>x<a href="#a">y</td></tr></table>`,
	`<!--<img src=x onerror=alert(1)>--><![CDATA[<script>]]><p dir=rtl>‮x</p>`,
	strings.Repeat("<div>", 300) + "x",
}

// FuzzSanitize: whatever the input, SanitizeHTML does not panic, stays
// within its output bound, and its output, parsed as a browser would,
// holds no script, handler, dangerous URL or fetching CSS.
func FuzzSanitize(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var b strings.Builder
		cid := func(id string) (string, bool) { return "https://caucus.test/part/1", id == "a" }
		res, err := SanitizeHTML(&b, strings.NewReader(in), SanitizeOptions{CID: cid, MaxOutput: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if b.Len() > 1<<20+4096 {
			t.Fatalf("output %d bytes", b.Len())
		}
		if res.RemoteBlocked < 0 || len(res.Mismatches) > maxMismatches {
			t.Fatalf("result %+v", res)
		}
		checkInert(t, b.String())
		// Sanitizing the output again changes nothing that matters.
		var again strings.Builder
		if _, err := SanitizeHTML(&again, strings.NewReader(b.String()), SanitizeOptions{CID: cid}); err != nil {
			t.Fatal(err)
		}
		checkInert(t, again.String())
	})
}

// FuzzHTMLToText: no panic, UTF-8 in gives UTF-8 out, bounded output, no
// control characters but line ends and tabs.
func FuzzHTMLToText(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	f.Add("<p>a</p><ul><li>b<li>c</ul><pre>  d\n e</pre><a href=\"https://x.example/\">y</a>")
	f.Fuzz(func(t *testing.T, in string) {
		var b bytes.Buffer
		if err := HTMLToText(&b, strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if b.Len() > MaxTextOutput {
			t.Fatalf("output %d bytes", b.Len())
		}
		out := b.String()
		if utf8.ValidString(in) && !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q: %q", in, out)
		}
		for _, r := range out {
			if r < ' ' && r != '\n' && r != '\t' || invisible(r) {
				t.Fatalf("control or invisible %U in %q", r, out)
			}
		}
		// "<script" in the text comes from text that says so, once
		// control and invisible characters are removed ("<\x1bscript"
		// is the text "<script"), or from a character reference.
		clean := strings.ToLower(strings.Map(dropControl, in))
		if strings.Contains(strings.ToLower(out), "<script") && !strings.Contains(clean, "<script") && !strings.Contains(clean, "&") {
			t.Fatalf("script tag made up: %q", out)
		}
	})
}

// FuzzParse: whatever the message, Parse does not panic or fail on a
// readable input, every listed part can be written, and the body's frame
// is inert.
func FuzzParse(f *testing.F) {
	f.Add([]byte(crlf(altMessage)))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\nContent-Transfer-Encoding: base64\n\nPHNjcmlwdD4=\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nx\n--c--\n--b--\n"))
	f.Add([]byte("From: =?x?q?a?= <a@b>\nSubject: \xff\xfe\nContent-Type: text/html; charset=x-none\n\n<img src=cid:a onerror=x>"))
	f.Add([]byte("Content-Type: multipart/related; boundary=\"\"\n\n--\n\n"))
	f.Add([]byte("Content-Type: text/plain; format=flowed; delsp=yes\n\n> a \n>> b \n c\n-- \nhttps://x.example/ <b>\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := ParseBytes(msg, Options{Hostname: "mail.party.example", Directory: party{}, MaxParts: 50})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Parts) > 50 {
			t.Fatalf("%d parts", len(v.Parts))
		}
		for _, p := range v.Parts {
			if p.opened {
				continue
			}
			var b bytes.Buffer
			if _, err := v.WritePart(&b, p.ID); err != nil {
				t.Fatalf("WritePart(%s): %v", p.ID, err)
			}
			if !p.IsMultipart() && int64(b.Len()) != p.Size {
				t.Fatalf("part %s: wrote %d, listed %d", p.ID, b.Len(), p.Size)
			}
		}
		var b strings.Builder
		if _, err := v.SanitizeBody(&b, "https://caucus.test/part/{part}", SanitizeOptions{}); err != nil {
			t.Fatal(err)
		}
		checkInert(t, b.String())
		if err := v.BodyText(&bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		for _, a := range v.Attachments {
			if strings.ContainsAny(a.Filename, "/\\\x00") {
				t.Fatalf("file name %q", a.Filename)
			}
		}
	})
}

// FuzzTagName: the sanitizer's reading of a tag's name from its raw text
// (rawTagName, which spares the tokenizer's copy) gives what the
// tokenizer's TagName gives, whenever it answers at all.
func FuzzTagName(f *testing.F) {
	for _, s := range hostileSeeds {
		f.Add(s)
	}
	for _, s := range []string{"<TD>x</Td\t>", "</p/>", "<a\x00b>", "<é>x</é>", "<p\fclass=x>", "</br >", "<textarea></TEXTAREA >", "<" + strings.Repeat("x", 40) + ">", "</a", "<b/c>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		z := html.NewTokenizer(strings.NewReader(in))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				return
			}
			if tt != html.StartTagToken && tt != html.EndTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			var buf [maxFastName]byte
			fast, ok := rawTagName(z.Raw(), buf[:])
			want, _ := z.TagName()
			if ok && !bytes.Equal(fast, want) {
				t.Fatalf("%q: raw name %q, TagName %q", z.Raw(), fast, want)
			}
		}
	})
}
