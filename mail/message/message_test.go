package message

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// TestFromAttacks: every way the attack of issue 12 item 1 dressed a
// message as the leader's is refused by Check, and From names the one
// author clients show when there is exactly one.
func TestFromAttacks(t *testing.T) {
	t.Parallel()
	pad := "X-Pad: " + strings.Repeat("a", 900) + "\r\n"
	tests := []struct {
		name   string
		header string
		want   error
	}{
		{"one From", "From: \"Party Leader\" <leader@party.example>\r\n", nil},
		{"second From line", "From: \"Party Leader\" <leader@party.example>\r\nFrom: x@evil.example\r\n", ErrDuplicate},
		{"space before colon", "From : \"Party Leader\" <leader@party.example>\r\nFrom: bob@party.example\r\n", ErrDuplicate},
		{"tab before colon", "From\t: \"Party Leader\" <leader@party.example>\r\nfrom: bob@party.example\r\n", ErrDuplicate},
		{"two addresses in one From", "From: \"Party Leader\" <leader@party.example>, x@evil.example\r\n", ErrFrom},
		{"group in From", "From: team: leader@party.example;\r\n", ErrFrom},
		{"only Sender", "Sender: \"Party Leader\" <leader@party.example>\r\n", ErrFrom},
		{"no From", "Subject: hi\r\n", ErrFrom},
		{"From does not parse", "From: Party Leader leader@party.example\r\n", ErrFrom},
		{"empty From", "From:\r\n", ErrFrom},
		{"address literal", "From: x@[192.0.2.1]\r\n", ErrFrom},
		{"From after 1 MiB", strings.Repeat(pad, MaxHeader/len(pad)+1) + "From: leader@party.example\r\n", ErrTooLong},
		{"line without colon hides the next From", "From: x@evil.example\r\nnot a field\r\nFrom: leader@party.example\r\n", ErrMalformed},
		{"NUL in From", "From: leader@party.example\x00\r\n", ErrMalformed},
		{"bare CR splits From", "From: x@evil.example\rFrom: leader@party.example\r\n", ErrMalformed},
		{"name with space", "Fr om: leader@party.example\r\nFrom: x@evil.example\r\n", ErrMalformed},
		{"non-ASCII name", "Fr\u043em: leader@party.example\r\nFrom: x@evil.example\r\n", ErrMalformed},
		{"first line continues nothing", " From: leader@party.example\r\nFrom: x@evil.example\r\n", ErrMalformed},
		{"two Sender", "From: a@party.example\r\nSender: a@party.example\r\nSender: leader@party.example\r\n", ErrDuplicate},
		{"Sender of two", "From: a@party.example\r\nSender: a@party.example, leader@party.example\r\n", ErrAddress},
		{"two Reply-To", "From: a@party.example\r\nReply-To: a@party.example\r\nReply-To: x@evil.example\r\n", ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Parse([]byte(tt.header + "\r\nbody\r\n"))
			if err == nil {
				err = h.Check()
			}
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				a, err := h.From()
				if err != nil || a.Name != "Party Leader" || a.Addr() != "leader@party.example" {
					t.Fatalf("From = %+v, %v", a, err)
				}
			}
		})
	}
}

// TestParseFields: names are read as readers read them, and Len ends the
// header where the body starts.
func TestParseFields(t *testing.T) {
	t.Parallel()
	msg := "From : A <a@b.example>\r\nSubject: one\r\n two\r\nX-Empty:\r\n\r\nbody\r\n\r\n"
	h, err := Parse([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range h.Fields {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"From", "Subject", "X-Empty"}) {
		t.Errorf("names %q", names)
	}
	if got := h.First("subject"); got != "one two" {
		t.Errorf("Subject %q", got)
	}
	if msg[h.Len:] != "body\r\n\r\n" {
		t.Errorf("Len %d leaves %q", h.Len, msg[h.Len:])
	}
	h, err = Parse([]byte("From: a@b.example\nTo: c@d.example\n\nbody"))
	if err != nil || len(h.Fields) != 2 || h.Len != len("From: a@b.example\nTo: c@d.example\n\n") {
		t.Errorf("LF header: %+v %v", h, err)
	}
	h, err = Parse([]byte("From: a@b.example\r\n"))
	if err != nil || len(h.Fields) != 1 || h.Len != 19 {
		t.Errorf("header without body: %+v %v", h, err)
	}
}

// TestAddressList: the address forms of RFC 5322 sections 3.4 and 4.4.
func TestAddressList(t *testing.T) {
	t.Parallel()
	mb := func(name, local, host string) Address {
		return Address{Name: name, Mailbox: local, Host: host}
	}
	tests := []struct {
		in   string
		want []Address
	}{
		{"a@b.example", []Address{mb("", "a", "b.example")}},
		{`"Party Leader" <leader@party.example>`, []Address{mb("Party Leader", "leader", "party.example")}},
		{"Party Leader <leader@party.example>", []Address{mb("Party Leader", "leader", "party.example")}},
		{"John Q. Public <jqp@x.example>", []Address{mb("John Q. Public", "jqp", "x.example")}},
		{"leader@party.example (Party Leader)", []Address{mb("Party Leader", "leader", "party.example")}},
		{"<user (comment)@ (comment) domain.org>", []Address{mb("", "user", "domain.org")}},
		{"=?utf-8?q?Party?= =?utf-8?q?_Leader?= <l@p.example>", []Address{mb("Party Leader", "l", "p.example")}},
		{`"=?utf-8?q?Party_Leader?=" <l@p.example>`, []Address{mb("Party Leader", "l", "p.example")}},
		{`"john doe"@x.example`, []Address{mb("", "john doe", "x.example")}},
		{"john . doe @ x . example", []Address{mb("", "john.doe", "x.example")}},
		{"a@[192.0.2.1]", []Address{mb("", "a", "[192.0.2.1]")}},
		{"a@b.example,, c@d.example,", []Address{mb("", "a", "b.example"), mb("", "c", "d.example")}},
		{"Anna Ö <anna@exämple.org>", []Address{mb("Anna Ö", "anna", "exämple.org")}},
		{"<@route.example,@other.example:user@domain.example>", []Address{{Route: "@route.example,@other.example", Mailbox: "user", Host: "domain.example"}}},
		{"undisclosed-recipients:;", []Address{{Kind: GroupStart, Name: "undisclosed-recipients"}, {Kind: GroupEnd}}},
		{"A Group: a@b.example, C <c@d.example>;, e@f.example", []Address{
			{Kind: GroupStart, Name: "A Group"}, mb("", "a", "b.example"), mb("C", "c", "d.example"), {Kind: GroupEnd}, mb("", "e", "f.example"),
		}},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := ParseAddressList(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{
		"leader", "<>", "a@", "@b", "<a@b", `"a@b`, "a@b c@d", "g: a@b", "g: h: a@b;;", "<@:a@b>", "a@[x[y]",
		"Leader, Party <l@p.example>", "a@b.example (unterminated",
	} {
		if _, err := ParseAddressList(bad); !errors.Is(err, ErrAddress) {
			t.Errorf("%q: got %v, want ErrAddress", bad, err)
		}
	}
}

// TestAddr: local parts that are no dot-atom come back quoted.
func TestAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a.b@x.example":            "a.b@x.example",
		`"a b"@x.example`:          `"a b"@x.example`,
		`"a\"b"@x.example`:         `"a\"b"@x.example`,
		`"a..b"@x.example`:         `"a..b"@x.example`,
		"Name <A@X.Example>":       "A@X.Example",
		"<@r.example:a@x.example>": "a@x.example",
	} {
		l, err := ParseAddressList(in)
		if err != nil || len(l) != 1 || l[0].Addr() != want {
			t.Errorf("%q: %+v %v, want %q", in, l, err, want)
		}
	}
}

// TestReadHeader: the header block is found wherever reads cut it.
func TestReadHeader(t *testing.T) {
	t.Parallel()
	msg := "From: a@b.example\r\nSubject: x\r\n\r\nbody\r\n\r\nmore"
	for _, r := range []func() []byte{
		func() []byte { b, _ := ReadHeader(strings.NewReader(msg), MaxHeader); return b },
		func() []byte { b, _ := ReadHeader(iotest.OneByteReader(strings.NewReader(msg)), MaxHeader); return b },
	} {
		if got := string(r()); got != "From: a@b.example\r\nSubject: x\r\n\r\n" {
			t.Errorf("got %q", got)
		}
	}
	b, err := ReadHeader(bytes.NewReader(bytes.Repeat([]byte("X: y\r\n"), 100)), 60)
	if err != nil || len(b) != 60 {
		t.Errorf("limit: %d bytes, %v", len(b), err)
	}
}
