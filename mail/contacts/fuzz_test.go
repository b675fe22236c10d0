package contacts_test

import (
	"bytes"
	"errors"
	"maps"
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

// FuzzParseAll feeds ParseAll (a .vcf file a member imports) anything: it
// must not panic; a refusal is an *ImportError of a known kind, naming a
// card (from 1) when it is one card's (lines after the last card are the
// file's); it returns at most
// max cards; every card it returns
// encodes to bytes that Parse accepts, to the same encoding; and it drops
// nothing: every content line of the file is a property of a card it
// returns, or it refuses the file (as Parse refuses a card).
func FuzzParseAll(f *testing.F) {
	f.Add(append(vcf("a", "Ada"), vcf("b", "Bea")...), 3)
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Rossi;Mario;;;\r\nFN:Mario Rossi\r\nEMAIL;TYPE=INTERNET:m@example.org\r\nEND:VCARD\r\n\r\nBEGIN:VCARD\nVERSION:4.0\nFN:x\nEND:VCARD"), 2)
	// testdata/fuzz/FuzzParseAll holds the files whose lines ParseAll
	// dropped without a word: a NOTE with a bad parameter, a line that
	// is no property.
	f.Add(append(vcf("a", "Ada"), vcf("a", "Ada")...), 1)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max = 1 + max&7
		cards, err := contacts.ParseAll(data, max)
		if err != nil {
			// A refusal says what kind and which card, one the file can
			// have: the import page names it to the member.
			ie, ok := errors.AsType[*contacts.ImportError](err)
			if !ok || ie.Kind < contacts.NotVCard || ie.Kind > contacts.Unreadable || ie.Card < 0 || ie.Card > bytes.Count(data, []byte("\n"))+1 ||
				(ie.Kind == contacts.NotVCard || ie.Kind == contacts.TooMany) && ie.Card != 0 ||
				(ie.Kind == contacts.BadUID || ie.Kind == contacts.BadCard || ie.Kind == contacts.Unreadable) && ie.Card == 0 {
				t.Fatalf("a refusal that does not say which card and why: %v (%+v)\n%q", err, ie, data)
			}
			return
		}
		if len(cards) > max {
			t.Fatalf("%d cards, at most %d asked", len(cards), max)
		}
		props := 0
		for _, c := range cards {
			props += 2 // BEGIN and END
			for _, fs := range c {
				props += len(fs)
			}
			if c.Value("UID") == "" {
				t.Fatalf("card without UID: %v", c)
			}
			out := contacts.Encode(c)
			c2, err := contacts.Parse(out)
			if err != nil {
				t.Fatalf("imported card refused by Parse: %v\n%q", err, out)
			}
			if out2 := contacts.Encode(c2); !bytes.Equal(out, out2) {
				t.Fatalf("encoding not stable:\n%q\n%q", out, out2)
			}
		}
		// A UID made up for a card without one adds a property.
		lines := 0
		for l := range bytes.Lines(data) {
			if l[0] != ' ' && l[0] != '\t' && len(bytes.TrimRight(l, "\r\n")) > 0 {
				lines++
			}
		}
		made := 0
		for _, c := range cards {
			without := maps.Clone(c)
			delete(without, "UID")
			if c.Value("UID") == contacts.ContentUID(without) {
				made++
			}
		}
		if lines != props-made {
			t.Fatalf("%d content lines became %d properties of %d cards (%d UIDs made):\n%q", lines, props-made, len(cards), made, data)
		}
	})
}
