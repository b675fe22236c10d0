package webmail

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/mail/message"
)

// FuzzParseQuery: the search box's parser never fails or panics, keeps
// its bounds, and every text term it passes on is long enough for the
// trigram index.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "budget", `from:anna subject:"budget 2027" after:2026-01-31`, "in:all has:attachment is:unread",
		`"unclosed phrase`, "before:2026-13-45 on:x", "a: :b ::", strings.Repeat("word ", 300), "\xff\xfe from:\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := parseQuery(s)
		for _, list := range [][]string{q.From, q.To, q.Subject, q.Body, q.Text} {
			for _, v := range list {
				if utf8.RuneCountInString(v) < minTextTerm || !utf8.ValidString(v) {
					t.Fatalf("term %q passed on", v)
				}
			}
		}
		if n := len(q.From) + len(q.To) + len(q.Subject) + len(q.Body) + len(q.Text); n > maxQueryTerms {
			t.Fatalf("%d terms", n)
		}
		q.criteria() // must not panic
	})
}

// FuzzCompletionTerm: what address completion looks up is bounded,
// valid UTF-8, lower case and holds no separator.
func FuzzCompletionTerm(f *testing.F) {
	for _, s := range []string{"", "anna", "x@y.example, Be", "a;b;  c ", strings.Repeat("z", 500), "\xff,\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		term := completionTerm(s)
		if utf8.RuneCountInString(term) > maxTermRunes || !utf8.ValidString(term) || strings.ContainsAny(term, ",;") || term != strings.ToLower(term) {
			t.Fatalf("completionTerm(%q) = %q", s, term)
		}
		matches(term, s, s) // must not panic
	})
}

// FuzzBuild: whatever the form holds, a message built from it parses with
// the header parser every part of caucus uses, has exactly the fields
// webmail writes (a subject or name cannot add one), and passes the
// author check that submission applies.
func FuzzBuild(f *testing.F) {
	f.Add("Anna", "ben@example.org", "cleo@example.org", "Hello", "body", "a.txt")
	f.Add("Ånna \"the\" <x>", "Ben <ben@example.org>, c@example.org", "", "x\r\nBcc: eve@evil.example", "line\r\n.\r\n", "../../etc/passwd\r\nX: y")
	f.Add("=?utf-8?q?Leader?=", "", "", "\u202egpj.exe", strings.Repeat("long ", 100), "ü.pdf")
	allowed := []string{"date", "from", "to", "cc", "bcc", "subject", "message-id", "in-reply-to", "references", "mime-version", "content-type", "content-transfer-encoding"}
	f.Fuzz(func(t *testing.T, name, to, cc, subject, body, fileName string) {
		d := &draft{From: "anna@example.org", FromName: name, To: to, Cc: cc, Bcc: cc, Subject: subject, Body: body, InReplyTo: subject, References: to,
			Attach: []attachment{{Name: fileName, Type: subject, Data: []byte(body)}}}
		msg, err := d.build(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC), "<id@example.org>", true)
		if err != nil {
			return // a form error, said to the member
		}
		h, err := message.Parse(msg)
		if err != nil {
			t.Fatalf("built message does not parse: %v\n%q", err, msg)
		}
		if err := h.Check(); err != nil {
			t.Fatalf("built message fails the author check: %v\n%q", err, msg)
		}
		for _, fl := range h.Fields {
			n := strings.ToLower(strings.TrimSpace(fl.Name))
			if !slices.Contains(allowed, n) {
				t.Fatalf("a field %q was written:\n%q", fl.Name, msg)
			}
		}
		if from, _ := h.From(); from.Addr() != "anna@example.org" {
			t.Fatalf("From is %q", from.Addr())
		}
	})
}

// FuzzInlineToken: an inline image URL's token, as a client may send
// anything, never panics the decoder and never passes unless it is one
// encode made for that message and is still valid; one that encode made
// passes for its message only.
func FuzzInlineToken(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	good := inlineToken{account: 7, session: 9, exp: now.Add(inlineTTL).Unix()}.encode(key, 3, 42)
	// The same bytes spelled with other trailing bits: the last character
	// of 40 bytes carries 2 bits and 4 unused ones.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := good[:len(good)-1] + string(alphabet[strings.IndexByte(alphabet, good[len(good)-1])^1])
	for _, s := range []string{"", good, good[:20], good + "A", "!!!", strings.Repeat("A", 54), "AAAAAAAAAAcAAAAAAAAACQ", last} {
		f.Add(s, int64(3), uint32(42))
	}
	f.Fuzz(func(t *testing.T, s string, mb int64, uid uint32) {
		tok, err := decodeInlineToken(key, s, mb, imap.UID(uid), now)
		if err != nil {
			if !errors.Is(err, errInline) {
				t.Fatalf("error %v does not wrap errInline", err)
			}
			return
		}
		if s != good || mb != 3 || uid != 42 || tok.account != 7 || tok.session != 9 {
			t.Fatalf("token %q passed for %d/%d: %+v", s, mb, uid, tok)
		}
	})
}
