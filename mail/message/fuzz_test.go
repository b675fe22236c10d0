package message

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: any bytes parse without a panic into fields that cover the
// header, values without line breaks, addresses whose Addr reads back as
// the same mailbox, and a From that Check and From agree on.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"From: \"Party Leader\" <leader@party.example>\r\nTo: undisclosed-recipients:;\r\n\r\nbody",
		"From : a@b.example\r\nFrom: c@d.example\r\n\r\n",
		"From: <@route.example,@r2.example:user@domain.example>\nCc: G: a@b, \"x y\"@c (comment (nested));\n\n",
		"From: =?utf-8?q?Party_Leader?= <l@p.example>\r\nSender: x@[192.0.2.1]\r\n\r\n",
		" From: a@b\r\nnot a field\r\n\r\n", "From: a@b\x00\rc\r\n", "\r\n", "",
		"Reply-To: a@b.example (unterminated\r\n\r\n", "From: john . doe @ x . example\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		h, err := Parse(msg)
		if h.Len > len(msg) || h.Len < 0 {
			t.Fatalf("Len %d of %d", h.Len, len(msg))
		}
		var raw []byte
		for _, fl := range h.Fields {
			raw = append(raw, fl.Raw...)
			v := fl.Value()
			if strings.ContainsAny(v, "\r\n") {
				t.Fatalf("value %q has a line break", v)
			}
			list, _ := ParseAddressList(v)
			for _, a := range Mailboxes(list) {
				back, err := ParseAddressList("<" + a.Addr() + ">")
				if err != nil || len(back) != 1 || back[0].Mailbox != a.Mailbox || back[0].Host != a.Host {
					t.Fatalf("%q: %+v reads back as %+v, %v", v, a, back, err)
				}
			}
		}
		if !bytes.HasPrefix(msg[:h.Len], raw) {
			t.Fatalf("the fields are not the header's bytes")
		}
		if err != nil {
			return
		}
		_, ferr := h.From()
		if cerr := h.Check(); cerr == nil && ferr != nil {
			t.Fatalf("Check passes, From fails: %v", ferr)
		}
	})
}
