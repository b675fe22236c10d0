package contacts_test

import (
	"bytes"
	"testing"

	"github.com/caucus-org/caucus/mail/contacts"
)

// FuzzParse feeds Parse anything: it must not panic, and a card it
// accepts must encode within the limits, to bytes that parse again to the
// same encoding (so a stored card's ETag is stable).
func FuzzParse(f *testing.F) {
	f.Add(vcf("a", "Ada"))
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nN:Rossi;Mario;;;\r\nEMAIL;TYPE=INTERNET,WORK:m@example.org\r\nitem1.X-ABLABEL:a\\,b\r\n folded\r\nEND:VCARD\r\n"))
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x\r\nADR;LABEL=\"1 Via Roma\\nRoma\":;;Via Roma 1;Roma;;;IT\r\nEND:VCARD\r\n"))
	f.Add([]byte("BEGIN:VCARD\nVERSION:4.0\nUID:\xff\nEND:VCARD"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := contacts.Parse(data)
		if err != nil {
			return
		}
		out := contacts.Encode(c)
		if len(out) > contacts.MaxCardBytes {
			t.Fatalf("accepted a card of %d bytes", len(out))
		}
		c2, err := contacts.Parse(out)
		if err != nil {
			t.Fatalf("own encoding refused: %v\n%q", err, out)
		}
		if out2 := contacts.Encode(c2); !bytes.Equal(out, out2) {
			t.Fatalf("encoding not stable:\n%q\n%q", out, out2)
		}
	})
}
