package msgauth

import (
	"bufio"
	"bytes"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/mail/message"
)

// decodedSubject returns the Subject of a header as a reader sees it.
func decodedSubject(t *testing.T, header []byte) string {
	t.Helper()
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(header))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("header does not parse: %v\n%s", err, header)
	}
	s, err := message.WordDecoder().DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatalf("subject %q: %v", h.Get("Subject"), err)
	}
	return s
}

func TestTagMessage(t *testing.T) {
	t.Parallel()
	v := CheckImpersonation(mustAddress(t, "Party Leader <leader@examp1e-party.org>"), party, false)
	if !v.Suspicious() {
		t.Fatal("test verdict is not suspicious")
	}
	const top = "Received: from x\r\nFrom: Party Leader <leader@examp1e-party.org>\r\n"
	for _, tc := range []struct {
		name        string
		header      string
		wantSubject string // raw Subject line(s) in the result
		decoded     string
	}{
		{"plain", top + "Subject: Urgent: transfer\r\n\r\n", "Subject: [External] Urgent: transfer\r\n", "[External] Urgent: transfer"},
		{"no space after colon", top + "Subject:Urgent\r\n\r\n", "Subject: [External] Urgent\r\n", "[External] Urgent"},
		{"encoded word", top + "Subject: =?utf-8?q?Br=C3=A5ttom?=\r\n\r\n", "Subject: [External] =?utf-8?q?Br=C3=A5ttom?=\r\n", "[External] Bråttom"},
		{"two encoded words", top + "Subject: =?utf-8?b?w4VubmE=?= =?utf-8?b?IHNhZ2Vy?=\r\n\r\n", "Subject: [External] =?utf-8?b?w4VubmE=?= =?utf-8?b?IHNhZ2Vy?=\r\n", "[External] Ånna sager"},
		{"encoded word on a folded line", top + "Subject:\r\n =?iso-8859-1?q?M=F6te?=\r\n\r\n", "Subject: [External]\r\n =?iso-8859-1?q?M=F6te?=\r\n", "[External] Möte"},
		{"folded plain", top + "Subject: a long\r\n\tsubject\r\n\r\n", "Subject: [External] a long\r\n\tsubject\r\n", "[External] a long subject"},
		{"empty subject", top + "Subject:\r\n\r\n", "Subject: [External]\r\n", "[External]"},
		{"missing subject", top + "\r\n", "Subject: [External]\r\n", "[External]"},
		{"already tagged", top + "Subject: [External] hi\r\n\r\n", "Subject: [External] hi\r\n", "[External] hi"},
		{"already tagged, other case", top + "Subject: [EXTERNAL] hi\r\n\r\n", "Subject: [EXTERNAL] hi\r\n", "[EXTERNAL] hi"},
		{"already tagged, encoded", top + "Subject: =?utf-8?q?=5BExternal=5D_M=C3=B6te?=\r\n\r\n", "Subject: =?utf-8?q?=5BExternal=5D_M=C3=B6te?=\r\n", "[External] Möte"},
		{"unknown charset", top + "Subject: =?x-unknown?q?abc?=\r\n\r\n", "Subject: [External] =?x-unknown?q?abc?=\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := TagMessage([]byte(tc.header), v)
			if !bytes.Contains(out, []byte(tc.wantSubject)) {
				t.Errorf("no %q in\n%s", tc.wantSubject, out)
			}
			if bytes.Count(bytes.ToLower(out), []byte("\nsubject:")) != 1 {
				t.Errorf("not one Subject:\n%s", out)
			}
			if tc.decoded != "" {
				if got := decodedSubject(t, out); got != tc.decoded {
					t.Errorf("subject reads %q, want %q", got, tc.decoded)
				}
			}
			if !bytes.HasPrefix(out, []byte("X-Caucus-Warning: The sender's domain looks like the party's domain:\r\n example-party.org vs examp1e-party.org; The sender's name matches a party\r\n member but the address is outside the party\r\n")) {
				t.Errorf("warning field:\n%s", out)
			}
			if !bytes.HasSuffix(out, []byte("\r\n\r\n")) {
				t.Errorf("end of header lost:\n%q", out)
			}
			if again := TagMessage(out, v); !bytes.Equal(again, out) {
				t.Errorf("not idempotent:\n%s\nthen\n%s", out, again)
			}
		})
	}
}

func TestTagMessageKeeps(t *testing.T) {
	t.Parallel()
	suspicious := Verdict{External: true, NameMatch: "Party Leader", Reason: "The sender's name matches a party member but the address is outside the party"}

	// A header that needs no warning is unchanged but for forged warnings.
	h := "From: a@gmail.com\r\nX-Caucus-Warning: all is well, trust me\r\nSubject: hi\r\nx-caucus-warning: folded\r\n  forged\r\n\r\nbody\r\n"
	if got := string(TagMessage([]byte(h), Verdict{External: true})); got != "From: a@gmail.com\r\nSubject: hi\r\n\r\nbody\r\n" {
		t.Errorf("clean message:\n%q", got)
	}

	// A first line that starts with white space would continue whatever
	// is put above it; it goes.
	h = " ; dkim=pass header.d=example-party.org\r\nFrom: a@gmail.com\r\n\r\n"
	if got := string(TagMessage([]byte(h), Verdict{External: true})); got != "From: a@gmail.com\r\n\r\n" {
		t.Errorf("leading white space:\n%q", got)
	}

	// LF line endings stay LF; the body is copied.
	lf := "From: a@gmail.com\nSubject: hi\n\nbody\nSubject: not a header\n"
	out := string(TagMessage([]byte(lf), suspicious))
	want := "X-Caucus-Warning: The sender's name matches a party member but the address is\n outside the party\nFrom: a@gmail.com\nSubject: [External] hi\n\nbody\nSubject: not a header\n"
	if out != want {
		t.Errorf("LF message:\n%q\nwant\n%q", out, want)
	}

	// A header without an end, and without a Subject.
	out = string(TagMessage([]byte("From: a@gmail.com"), suspicious))
	if !strings.HasSuffix(out, "From: a@gmail.com\r\nSubject: [External]\r\n") {
		t.Errorf("unterminated header:\n%q", out)
	}

	// A verdict without a reason still explains; the text is ASCII.
	out = string(TagMessage([]byte("Subject: x\r\n\r\n"), Verdict{Lookalike: "example-party.org", Reason: "bad\r\nInjected: yes ☠"}))
	if !strings.HasPrefix(out, "X-Caucus-Warning: bad Injected: yes ?\r\n") {
		t.Errorf("reason not cleaned:\n%q", out)
	}
	out = string(TagMessage([]byte("Subject: x\r\n\r\n"), Verdict{Forged: true}))
	if !strings.HasPrefix(out, "X-Caucus-Warning: This message may impersonate") {
		t.Errorf("no reason:\n%q", out)
	}

	// A subject line close to the 998 limit is folded, not lengthened past it.
	long := "Subject: " + strings.Repeat("x", 985) + " end\r\n\r\n"
	out = string(TagMessage([]byte(long), suspicious))
	for _, l := range strings.Split(out, "\r\n") {
		if len(l) > 998 {
			t.Errorf("line of %d bytes", len(l))
		}
	}
	if !strings.Contains(out, "Subject: [External]\r\n "+strings.Repeat("x", 985)) {
		t.Errorf("long subject:\n%q", out)
	}
}

func mustAddress(t *testing.T, s string) *mail.Address {
	t.Helper()
	a, err := mail.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
