package store

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestSearchAddressParsed: FROM, TO, CC and BCC match the parsed
// addresses (display name, mailbox@host) as well as the raw field text,
// so comments, quoting and folding inside an address do not hide it
// (issue 13 item 9: "From: <user (comment)@ (comment) domain.org>" did
// not match user@domain.org).
func TestSearchAddressParsed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	msg := func(hdr string) string {
		return strings.ReplaceAll(hdr+"\nSubject: x\nDate: Mon, 01 Jun 2026 10:00:00 +0000\n\nbody\n", "\n", "\r\n")
	}
	e.append(t, acct, "INBOX", msg("From: <user (comment)@ (comment) domain.org>\nTo: \"Anna\n B.\" <anna(work)@example.org>"))
	e.append(t, acct, "INBOX", msg("From: \"Bob\" <bob@domain.org>\nCc: team: carol @ example.org, dave@example.org;\nBcc: =?utf-8?q?Eve_M=C3=BCller?= <eve@example.org>"))
	hdr := func(k, v string) *imap.SearchCriteria {
		return &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: k, Value: v}}}
	}
	for _, tc := range []struct {
		c    *imap.SearchCriteria
		want []imap.UID
	}{
		{hdr("From", "user@domain.org"), []imap.UID{1}},
		{hdr("FROM", "USER@DOMAIN.ORG"), []imap.UID{1}},
		{hdr("From", "@domain.org"), []imap.UID{1, 2}},
		{hdr("From", "comment"), []imap.UID{1}}, // the raw text still matches
		{hdr("From", "bob <bob@"), []imap.UID{2}},
		{hdr("To", "anna b."), []imap.UID{1}},
		{hdr("To", "anna@example.org"), []imap.UID{1}},
		{hdr("Cc", "carol@example.org"), []imap.UID{2}},
		{hdr("Bcc", "eve müller <eve@example.org>"), []imap.UID{2}},
		{hdr("From", "nobody@domain.org"), nil},
		{hdr("To", "user@domain.org"), nil},
		{&imap.SearchCriteria{Not: []imap.SearchCriteria{*hdr("From", "user@domain.org")}}, []imap.UID{2}},
	} {
		got, err := e.s.Search(ctx, mb.ID, tc.c)
		if err != nil {
			t.Fatalf("%+v: %v", tc.c, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: %v, want %v", tc.c.Header[0].Key, tc.c.Header[0].Value, got, tc.want)
		}
	}
}

// TestSearchTooComplex: criteria nested deeper than SQLite's expression
// depth, or too many of them, are refused with ErrSearchTooComplex before
// any SQL runs, instead of failing inside SQLite (issue 12 item 15).
func TestSearchTooComplex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	acct := e.account(t, 1)
	mb := e.mailbox(t, acct, "INBOX")
	e.append(t, acct, "INBOX", msgPlain)
	nested := func(depth int) *imap.SearchCriteria {
		c := imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}
		for range depth {
			c = imap.SearchCriteria{Not: []imap.SearchCriteria{c}}
		}
		return &c
	}
	ored := func(depth int) *imap.SearchCriteria {
		c := imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}
		for range depth {
			c = imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{c, {Body: []string{"x"}}}}}
		}
		return &c
	}
	wide := &imap.SearchCriteria{}
	for range 5000 {
		wide.NotFlag = append(wide.NotFlag, imap.FlagDeleted)
	}
	for _, c := range []*imap.SearchCriteria{nested(2000), ored(600), wide} {
		if _, err := e.s.Search(ctx, mb.ID, c); !errors.Is(err, ErrSearchTooComplex) {
			t.Errorf("search: %v, want ErrSearchTooComplex", err)
		}
	}
	// What real clients send stays well inside the bounds.
	for _, c := range []*imap.SearchCriteria{nested(MaxSearchDepth - 1), ored(MaxSearchDepth - 1)} {
		if _, err := e.s.Search(ctx, mb.ID, c); err != nil {
			t.Errorf("search at the depth bound: %v", err)
		}
	}
}

func TestSearchAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`<user (comment)@ (comment) domain.org>`, ` <user@domain.org>`},
		{`"Anna B." <anna(work)@example.org>`, `Anna B. <anna@example.org>`},
		{`Anna (the (nested) one) <anna@example.org>, bob @ example . org`, `Anna <anna@example.org>, bob@example.org`},
		{`team: carol@example.org, "Dave, D." <dave@example.org>;`, `carol@example.org, Dave, D. <dave@example.org>`},
		{`<@route1,@route2:user@domain>`, ` <user@domain>`},
		{`"quoted \" pair" <a@b>`, `quoted " pair <a@b>`},
		{`undisclosed-recipients:;`, ``},
		{`"unterminated <a@b>`, `unterminated <a@b>`},
		{`(((`, ``},
	} {
		if got := searchAddresses(tc.in); got != tc.want {
			t.Errorf("searchAddresses(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzSearchAddresses: the lenient address rewriting never panics, stays
// within a small multiple of its input, and keeps a plain address intact.
func FuzzSearchAddresses(f *testing.F) {
	for _, s := range []string{`<user (comment)@ (comment) domain.org>`, `a: b@c, "d\"" <e@f>;`, `<@r:u@d>`, `((\`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := searchAddresses(s)
		if len(out) > 6*len(s)+6 {
			t.Fatalf("searchAddresses(%q): %d bytes", s, len(out))
		}
		plain := s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"\()<>,;:@`, r) })
		if plain && out != s {
			t.Fatalf("searchAddresses(%q) = %q", s, out)
		}
	})
}
