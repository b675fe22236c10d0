package msgview

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// parse parses a message written with "\n" line ends.
func parse(t testing.TB, msg string, opt Options) *View {
	t.Helper()
	v, err := ParseBytes([]byte(crlf(msg)), opt)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return v
}

func hasNotice(v *View, n Notice) bool {
	for _, have := range v.Notices {
		if have == n {
			return true
		}
	}
	return false
}

// TestParseHeaders: encoded words in any charset, 8-bit bytes, unknown
// charsets, invisible and reordering characters.
func TestParseHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header  string
		subject, from string
	}{
		{"koi8-r encoded word", "From: =?koi8-r?b?98HTyczJyg==?= <v@x.example>\nSubject: =?windows-1251?q?=CF=F0=E8=E2=E5=F2?=", "Привет", "Василий"},
		{"raw utf-8", "From: Zoë <z@x.example>\nSubject: Grüße", "Grüße", "Zoë"},
		{"raw latin-1", "From: Zo\xeb <z@x.example>\nSubject: Gr\xfc\xdfe", "Grüße", "Zoë"},
		{"unknown charset", "From: =?x-unknown?q?abc?= <z@x.example>\nSubject: =?x-unknown?q?Hi?=", "Hi", "abc"},
		{"unknown charset, 8-bit", "From: =?x-unknown?q?Zo=EB?= <z@x.example>\nSubject: =?x-unknown?b?R3L832U=?=", "Grüße", "Zoë"},
		{"right-to-left override", "From: =?utf-8?q?Party_Leader_=E2=80=AE?= <l@evil.example>\nSubject: =?utf-8?q?Invoice_=E2=80=AEfdp.exe?=", "Invoice fdp.exe", "Party Leader"},
		{"zero-width", "From: =?utf-8?q?Par=E2=80=8Bty_Lea=E2=80=8Dder?= <l@evil.example>\nSubject: =?utf-8?q?a=EF=BB=BFb=C2=ADc?=", "abc", "Party Leader"},
		{"typed encoded-word", "From: =?utf-8?b?PT91dGYtOD9xP1RoZV9UcmVhc3VyZXI/PQ==?= <t@x.example>\nSubject: =?utf-8?b?UmU6ID0/dXRmLTg/cT9IaT89?=", "Re: =?utf-8?q?Hi?=", "=?utf-8?q?The_Treasurer?="},
		{"controls", "From: \"A\\\tB\" <a@x.example>\nSubject: =?utf-8?q?line1=0D=0Aline2=00?=", "line1 line2", "A B"},
		{"hangul filler", "From: =?utf-8?q?=E3=85=A4?= <a@x.example>\nSubject: x", "x", ""},
		{"unparsable from", "From: <<<@@@\nSubject: x", "x", "<<<@@@"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := parse(t, tc.header+"\n\nbody\n", Options{})
			if v.Header.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", v.Header.Subject, tc.subject)
			}
			if len(v.Header.From) != 1 || v.Header.From[0].Name != tc.from {
				t.Errorf("From = %+v, want name %q", v.Header.From, tc.from)
			}
		})
	}
}

// TestParseMalformedMIME: broken structure shows what can be read and a
// notice, never an error.
func TestParseMalformedMIME(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, msg string
		body      string // the body's text, "" for no body
		notice    Notice
	}{
		{"no boundary", "Content-Type: multipart/mixed\n\nhello\n", "hello\n", NoticeMalformedMIME},
		{"no close delimiter", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n", "hello", NoticeMalformedMIME},
		{"no parts", "Content-Type: multipart/mixed; boundary=b\n\njust text\n", "", NoticeNoBody},
		{"bad content-type", "Content-Type: ;;;garbage\n\nhello\n", "hello\n", ""},
		{"bad base64", "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVsbG8=!!!=d29ybGQ\n", "hello", ""},
		{"bad quoted-printable", "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nab=ZZcd\n", "ab=ZZcd\n", ""},
		{"unknown charset", "Content-Type: text/plain; charset=x-klingon\n\nGr\xfc\xdfe\n", "Grüße\n", ""},
		{"unknown charset, utf-8 text", "Content-Type: text/plain; charset=x-klingon\n\nGrüße\n", "Grüße\n", ""},
		{"header fault", "From: a@x.example\nbad line\nSubject: hidden\n\nbody\n", "", NoticeMalformedHeader},
		{"no header end", "Subject: x", "", ""},
		{"part header fault", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nfirst\n--b\nno colon here\n\nsecond\n--b--\n", "first", NoticeMalformedMIME},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseBytes([]byte(tc.msg), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.notice != "" && !hasNotice(v, tc.notice) {
				t.Errorf("Notices = %v, want %s", v.Notices, tc.notice)
			}
			var b strings.Builder
			if err := v.BodyText(&b); err != nil {
				t.Fatal(err)
			}
			if tc.body != "" && b.String() != tc.body {
				t.Errorf("body = %q, want %q", b.String(), tc.body)
			}
			b.Reset()
			if _, err := v.SanitizeBody(&b, "", SanitizeOptions{}); err != nil {
				t.Fatal(err)
			}
			checkInert(t, b.String())
		})
	}
}

// TestParseManyAttachments: 10,000 attachments are listed; the one
// beyond MaxParts is counted in a notice.
func TestParseManyAttachments(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("From: a@x.example\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n")
	for i := range DefaultMaxParts {
		fmt.Fprintf(&b, "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"f%d.bin\"\n\nx\n", i)
	}
	b.WriteString("--b--\n")
	v := parse(t, b.String(), Options{})
	if len(v.Attachments) != DefaultMaxParts-1 || !hasNotice(v, NoticeTooManyParts) {
		t.Errorf("%d attachments, notices %v", len(v.Attachments), v.Notices)
	}
	if a := v.Attachments[len(v.Attachments)-1]; a.Filename != fmt.Sprintf("f%d.bin", DefaultMaxParts-2) || a.Size != 1 {
		t.Errorf("last attachment %+v", a)
	}
	var out strings.Builder
	if _, err := v.WritePart(&out, "5000"); err != nil || out.String() != "x" {
		t.Errorf("WritePart(5000) = %q, %v", out.String(), err)
	}
	if _, err := v.WritePart(&out, "10001"); err == nil {
		t.Errorf("WritePart beyond the list: no error")
	}
}

// TestParseDeepNesting: multiparts nested beyond MaxDepth are not opened.
func TestParseDeepNesting(t *testing.T) {
	t.Parallel()
	const depth = 2000
	var b strings.Builder
	b.WriteString("From: a@x.example\nContent-Type: multipart/mixed; boundary=b0\n\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\nContent-Type: text/plain\n\ndeep\n", depth-1)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	v := parse(t, b.String(), Options{})
	if !hasNotice(v, NoticeTooDeep) || len(v.Parts) != DefaultMaxMIMEDepth {
		t.Errorf("%d parts, notices %v", len(v.Parts), v.Notices)
	}
}

// TestParseTooLarge: only MaxBytes are read.
func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	msg := "Subject: big\n\n" + strings.Repeat("0123456789\n", 100000)
	v := parse(t, msg, Options{MaxBytes: 1000})
	if !hasNotice(v, NoticeTooLarge) || v.Body == nil || v.Body.Size > 1100 {
		t.Errorf("notices %v, body %+v", v.Notices, v.Body)
	}
}

// TestParsePlainBody: a text/plain body is escaped in the frame.
func TestParsePlainBody(t *testing.T) {
	t.Parallel()
	v := parse(t, "Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\n<script>alert(1)</script> Gr\xfc\xdfe\n", Options{})
	var b strings.Builder
	if _, err := v.SanitizeBody(&b, "", SanitizeOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "&lt;script&gt;alert(1)&lt;/script&gt; Grüße") {
		t.Errorf("frame:\n%s", b.String())
	}
	checkInert(t, b.String())
}

// TestParsePreferText: PreferText picks text/plain from an alternative.
func TestParsePreferText(t *testing.T) {
	t.Parallel()
	msg := "Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/plain\n\nplain\n--a\nContent-Type: text/html\n\n<b>html</b>\n--a--\n"
	if v := parse(t, msg, Options{}); v.Body == nil || v.Body.Type != "text/html" || len(v.Attachments) != 0 {
		t.Errorf("default: body %+v, attachments %d", v.Body, len(v.Attachments))
	}
	if v := parse(t, msg, Options{PreferText: true}); v.Body == nil || v.Body.Type != "text/plain" {
		t.Errorf("PreferText: body %+v", v.Body)
	}
}

// TestSanitizeFilename: names cannot reach a path, hide their extension
// or be empty of meaning.
func TestSanitizeFilename(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"../../etc/passwd":                "passwd",
		`C:\Windows\evil.bat`:             "evil.bat",
		"Invoice\u202Efdp.exe":            "Invoicefdp.exe",
		"...hidden":                       "hidden",
		"a<b>c:d\"e|f?g*h.txt":            "a_b_c_d_e_f_g_h.txt",
		"new\nline.txt":                   "new line.txt",
		strings.Repeat("a", 300) + ".pdf": strings.Repeat("a", 196) + ".pdf",
	}
	for in, want := range tests {
		if got := SanitizeFilename(in); got != want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseHTMLMetaCharset: an HTML part without a charset parameter is
// read in the charset its <meta> names.
func TestParseHTMLMetaCharset(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"meta latin-1", "<html><head><meta charset=\"iso-8859-1\"></head><body>Gr\xfc\xdfe</body></html>", "Grüße"},
		{"http-equiv koi8-r", "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=koi8-r\"><p>\xf0\xd2\xc9\xd7\xc5\xd4</p>", "Привет"},
		{"no meta, utf-8", "<p>Grüße</p>", "Grüße"},
		{"no meta, 8-bit", "<p>Gr\xfc\xdfe</p>", "Grüße"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := parse(t, "Content-Type: text/html\n\n"+tc.body, Options{})
			var b strings.Builder
			if err := v.BodyText(&b); err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(b.String()) != tc.want {
				t.Errorf("text = %q, want %q", b.String(), tc.want)
			}
		})
	}
}

// TestPartServing: parts are served as inline images or as opaque
// downloads, never as HTML or SVG; cid: maps only to inline images.
func TestPartServing(t *testing.T) {
	t.Parallel()
	msg := "Content-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n<img src=\"cid:a\"><img src=\"cid:b\"><img src=\"cid:c\">\n" +
		"--r\nContent-Type: image/png\nContent-ID: <a>\n\npng\n" +
		"--r\nContent-Type: image/svg+xml\nContent-ID: <b>\n\n<svg onload=alert(1)/>\n" +
		"--r\nContent-Type: text/html\nContent-ID: <c>\nContent-Disposition: inline\n\n<script>alert(1)</script>\n" +
		"--r\nContent-Type: text/plain; charset=x-klingon\nContent-Disposition: attachment\n\nx\n--r--\n"
	v := parse(t, msg, Options{})
	want := map[string][2]string{
		"2": {"image/png", "part-2.png"},
		"3": {"application/octet-stream", "part-3.bin"},
		"4": {"application/octet-stream", "part-4.html"},
		"5": {"application/octet-stream", "part-5.txt"},
	}
	for id, w := range want {
		p := v.PartByID(id)
		if p == nil || p.ServeType() != w[0] || p.DownloadName() != w[1] {
			t.Errorf("part %s: %+v", id, p)
		}
	}
	if !hasNotice(v, NoticeUnknownCharset) {
		t.Errorf("Notices = %v, want unknown-charset", v.Notices)
	}
	var b strings.Builder
	if _, err := v.SanitizeBody(&b, "https://caucus.test/part/{part}", SanitizeOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "https://caucus.test/part/") != 1 || !strings.Contains(b.String(), "/part/2") {
		t.Errorf("cid images:\n%s", b.String())
	}
}

// TestPlainLinks: URLs in a text/plain body become safe links; nothing
// else becomes markup.
func TestPlainLinks(t *testing.T) {
	t.Parallel()
	v := parse(t, "Content-Type: text/plain\n\nSee https://party.example/a?b=1&c=2. Or (http://x.example/).\n<a href=\"javascript:x\">no</a> javascript:alert(1) https://\n", Options{})
	var b strings.Builder
	res, err := v.SanitizeBody(&b, "", SanitizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		`<a href="https://party.example/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer"`, `>https://party.example/a?b=1&amp;c=2</a>. Or (`,
		`<a href="http://x.example/"`, `>http://x.example/</a>).`, `&lt;a href=&#34;javascript:x&#34;&gt;no&lt;/a&gt; javascript:alert(1) https://`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("frame lacks %q:\n%s", want, out)
		}
	}
	if res.Links != 2 {
		t.Errorf("Links = %d", res.Links)
	}
	checkInert(t, out)
}

// TestViewConcurrent: a parsed View serves its body and parts to
// several requests at once (run with -race).
func TestViewConcurrent(t *testing.T) {
	t.Parallel()
	v := parse(t, altMessage, Options{Hostname: "mail.party.example"})
	done := make(chan error)
	for i := range 8 {
		go func() {
			var b strings.Builder
			var err error
			switch i % 3 {
			case 0:
				_, err = v.SanitizeBody(&b, "/p/{part}", SanitizeOptions{})
			case 1:
				_, err = v.WritePart(&b, "2")
			default:
				err = v.BodyText(&b)
			}
			if err == nil && b.Len() == 0 {
				err = fmt.Errorf("nothing written (%d)", i%3)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestAttachedMessage: a forwarded message opens as its own View, whose
// Authentication-Results are not believed.
func TestAttachedMessage(t *testing.T) {
	t.Parallel()
	msg := "Authentication-Results: mail.party.example; spf=pass; dkim=pass header.d=x.example; dmarc=pass header.from=x.example\n" +
		"From: a@x.example\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee below\n" +
		"--b\nContent-Type: message/rfc822\n\nAuthentication-Results: mail.party.example; dmarc=pass header.from=party.example\n" +
		"From: Party Leader <leader@party.example>\nSubject: =?utf-8?q?inner_=E2=80=AEsubject?=\n\n<inner body>\n--b--\n"
	v := parse(t, msg, Options{Hostname: "mail.party.example"})
	if !v.Findings.Checked {
		t.Fatalf("outer findings %+v", v.Findings)
	}
	in, err := v.AttachedMessage("2", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if in.Header.Subject != "inner subject" || in.Findings.Checked || in.Findings.Level != LevelUnchecked {
		t.Errorf("inner: %q %+v", in.Header.Subject, in.Findings)
	}
	var b strings.Builder
	if err := in.BodyText(&b); err != nil || b.String() != "<inner body>" {
		t.Errorf("inner body %q, %v", b.String(), err)
	}
	if _, err := v.AttachedMessage("1", 1<<20); err == nil {
		t.Errorf("text part opened as a message")
	}
	if _, err := v.AttachedMessage("2", 10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("bound: %v", err)
	}
}
