package autoreply

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/caucus-org/caucus/mail/route"
)

// FuzzCompose: whatever header a message has, the answer to it is one
// well-formed message (lines of at most 998 characters, a UTF-8 subject
// that reads as the question's did) that answers its Message-ID and whose References hold only well-formed
// IDs.
func FuzzCompose(f *testing.F) {
	f.Add([]byte("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <a@b>\r\nReferences: <x@y> junk <z@w>\r\n\r\n"))
	f.Add([]byte("Subject: a\r\n\tb\r\nMessage-ID: <a@b\r\n\r\n"))
	f.Add([]byte("Message-ID: <a\r\n@b>\r\nIn-Reply-To: <<<>>>\r\n\r\n"))
	f.Add([]byte("Subject: Caf\xe9 =?x-unknown?q?a?=\r\n\r\n"))
	r := New(Config{Hostname: "mx.example-party.org"}, Deps{})
	f.Fuzz(func(t *testing.T, header []byte) {
		m, err := mail.ReadMessage(bytes.NewReader(header))
		if err != nil {
			return
		}
		answerable(m.Header)
		addressedTo(m.Header)
		out, err := r.compose("alice@example-party.org", "Alice", "carol@elsewhere.example", route.AutoReply{Body: "gone"}, m.Header)
		if err != nil {
			t.Fatal(err)
		}
		ans, err := mail.ReadMessage(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("answer does not parse: %v\n%s", err, out)
		}
		if got := ans.Header.Get("Auto-Submitted"); got != "auto-replied" {
			t.Fatalf("Auto-Submitted %q\n%s", got, out)
		}
		if n := len(msgIDs(ans.Header.Get("References"))); n > maxReferences {
			t.Fatalf("%d references", n)
		}
		// RFC 5322 section 2.1.1: lines of at most 998 characters,
		// ended by CRLF; no CR or LF alone.
		for line := range bytes.SplitSeq(bytes.TrimSuffix(out, []byte("\r\n")), []byte("\r\n")) {
			if len(line) > 998 || bytes.ContainsAny(line, "\r\n") {
				t.Fatalf("line %q\n%s", line, out)
			}
		}
		// The subject is text a reader's program can show: UTF-8, as the
		// encoded word says, on one line, and it reads as "Auto:" and
		// the subject the question's reader saw (its raw text if that
		// does not decode), cut to the limit.
		subject, err := new(mime.WordDecoder).DecodeHeader(ans.Header.Get("Subject"))
		if err != nil || !utf8.ValidString(subject) || !strings.HasPrefix(subject, "Auto:") || strings.ContainsAny(subject, "\r\n") {
			t.Fatalf("subject %q (%v)\n%s", subject, err, out)
		}
		seen, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			seen = m.Header.Get("Subject")
		}
		if want := strings.TrimSpace("Auto: " + clip(oneLine(seen), route.MaxAutoReplySubject)); subject != want {
			t.Fatalf("subject %q reads as %q, want %q\n%s", m.Header.Get("Subject"), subject, want, out)
		}
		if mid := msgIDs(m.Header.Get("Message-Id")); len(mid) == 1 && ans.Header.Get("In-Reply-To") != mid[0] {
			t.Fatalf("In-Reply-To %q, answering %q", ans.Header.Get("In-Reply-To"), mid[0])
		}
	})
}
