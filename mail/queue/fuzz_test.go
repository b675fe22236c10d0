package queue

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// FuzzParsePolicy checks that ParsePolicy never panics and that what it
// accepts keeps the rules of RFC 8461 section 3.2.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		enforceMX, enforceWild, testingOther,
		"version: STSv1\nmode: none\nmax_age: 0\n",
		"version:STSv1\r\nmode:testing\r\nmx:*.a.b\r\nmx:c.d\r\nmax_age:31557600\r\nx-ext: 1\r\n",
		"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n",
		"version: STSv1\nversion: STSv1\n",
		":\n:\n",
		"mx: *.\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if p != nil {
				t.Fatal("policy and error")
			}
			return
		}
		switch p.Mode {
		case ModeEnforce, ModeTesting:
			if len(p.MX) == 0 {
				t.Fatalf("mode %s without mx", p.Mode)
			}
		case ModeNone:
		default:
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > maxMaxAge*time.Second {
			t.Fatalf("max_age %v", p.MaxAge)
		}
		for _, mx := range p.MX {
			if mx != strings.ToLower(mx) || !validHostname(strings.TrimPrefix(mx, "*.")) {
				t.Fatalf("mx pattern %q", mx)
			}
			host := strings.TrimPrefix(mx, "*.")
			if strings.HasPrefix(mx, "*.") {
				host = "x." + host
			}
			if !p.Matches(host) {
				t.Fatalf("pattern %q does not match %q", mx, host)
			}
			if p.Matches("a.b."+host) && !strings.HasPrefix(mx, "*.") {
				t.Fatalf("pattern %q matches a subdomain", mx)
			}
		}
	})
}

// FuzzParseSTSRecord checks the _mta-sts TXT record parser.
func FuzzParseSTSRecord(f *testing.F) {
	for _, s := range []string{stsTXT, "v=STSv1;id=1", "v=STSv1; id=a; id=b", "v=STSv1;;;", "v=STSv1; x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseSTSRecord(s)
		if err != nil {
			return
		}
		if id == "" || len(id) > 32 || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Fatalf("id %q", id)
		}
	})
}

// FuzzNotification: a remote server's reply (any code, enhanced code and
// text), a recipient the queue accepted and the header the sender wrote
// give a delivery status notification that parses as RFC 3464 asks: three
// parts of the right types, one block of known fields per recipient, a
// valid Status, the reply on one line of its own Diagnostic-Code field,
// and no line of caucus's own longer than 998 bytes (RFC 5322 section
// 2.1.1). Nothing the remote server says becomes a field of its own.
func FuzzNotification(f *testing.F) {
	f.Add(550, 5, 1, 1, "no such user\r\nX-Injected: yes", "bob@example.org", []byte("Subject: hi\r\nFrom: alice@example-party.org\r\n\r\nbody"), false)
	f.Add(451, 4, 7, 0, "try later", "bj\xc3\xb6rn@ex\xc3\xa4mple.org", []byte("Subject: =?utf-8?q?h=C3=A9?=\n\xc3\xa9: x\n"), true)
	f.Add(250, 2, 0, 0, "\x00\xff\t odd", "a@[192.0.2.1]", []byte(strings.Repeat("X: y", 2000)+"\r\n"), false)
	f.Add(999, 9, -1, 1000, "", "a;b c\"@d", []byte{}, true)
	known := []string{"Final-Recipient", "Action", "Status", "Remote-Mta", "Diagnostic-Code", "Last-Attempt-Date", "Will-Retry-Until"} // as textproto spells them
	f.Fuzz(func(t *testing.T, code, ec0, ec1, ec2 int, reply, rcpt string, header []byte, delayed bool) {
		if checkAddress(rcpt) != nil || rcpt == "carol@example.org" {
			t.Skip("the queue refuses this recipient")
		}
		o := fromReply(&smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{ec0, ec1, ec2}, Message: reply}, "mx.example.org[192.0.2.1]")
		if o.class != 4 && o.class != 5 || len(o.diag) > 500+len("999 5.0.0 ") {
			t.Fatalf("outcome %+v", o)
		}
		n := &notification{action: "failed", hostname: "mail.example-party.org", postmaster: "postmaster@example-party.org",
			to: "alice@example-party.org", arrival: time.Unix(1e9, 0), date: time.Unix(1e9+3600, 0),
			rcpts:    []string{rcpt, "carol@example.org"},
			outcomes: []outcome{o, permf("5.1.10", "", "domain example.org accepts no mail")},
			headers:  readHeaders(bytes.NewReader(header), maxQuotedHeader)}
		if delayed {
			n.action, n.retryUntil = "delayed", time.Unix(1e9+86400, 0)
		}
		raw := n.bytes()
		quoted := bytes.Index(raw, []byte("Content-Description: Undelivered message header\r\n"))
		if quoted < 0 {
			t.Fatalf("no header part:\n%s", raw)
		}
		for i, l := range bytes.Split(raw[:quoted], []byte("\r\n")) {
			if len(l) > 998 || bytes.ContainsAny(l, "\r\n") {
				t.Fatalf("line %d of %d bytes or with a line break: %q", i, len(l), l)
			}
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("notification: %v\n%s", err, raw)
		}
		mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
			t.Fatalf("Content-Type %q (%v)", m.Header.Get("Content-Type"), err)
		}
		utf8 := !isASCII(rcpt)
		types := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}
		if utf8 {
			types[1] = "message/global-delivery-status"
		}
		if utf8 || !isASCII(string(n.headers)) {
			types[2] = "message/global-headers"
		}
		mr := multipart.NewReader(m.Body, params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) && i == 3 {
				break
			}
			if err != nil || i == 3 {
				t.Fatalf("part %d: %v\n%s", i, err, raw)
			}
			if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != types[i] {
				t.Fatalf("part %d is %q, want %q", i, ct, types[i])
			}
			if i != 1 {
				continue
			}
			r := textproto.NewReader(bufio.NewReader(p))
			if _, err := r.ReadMIMEHeader(); err != nil {
				t.Fatalf("per-message fields: %v", err)
			}
			var blocks []textproto.MIMEHeader
			for {
				h, err := r.ReadMIMEHeader()
				if len(h) > 0 {
					blocks = append(blocks, h)
				}
				if err != nil {
					break
				}
			}
			if len(blocks) != 2 {
				t.Fatalf("%d recipient blocks: %v", len(blocks), blocks)
			}
			for _, b := range blocks {
				for k, v := range b {
					if !slices.Contains(known, k) || len(v) != 1 {
						t.Fatalf("field %s: %q in %v", k, v, b)
					}
				}
				if !validStatus(b.Get("Status")) {
					t.Fatalf("Status %q", b.Get("Status"))
				}
			}
			if got, want := blocks[0].Get("Diagnostic-Code"), "smtp; "+o.diag; got != strings.TrimSpace(want) {
				t.Fatalf("Diagnostic-Code %q, want %q", got, want)
			}
			if addrType := map[bool]string{false: "rfc822; ", true: "utf-8; "}[utf8]; blocks[0].Get("Final-Recipient") != addrType+rcpt ||
				blocks[1].Get("Final-Recipient") != addrType+"carol@example.org" || blocks[1].Get("Status") != "5.1.10" {
				t.Fatalf("recipients %v", blocks)
			}
		}
	})
}
