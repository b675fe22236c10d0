package autoreply

import (
	"bytes"
	"net/mail"
	"testing"

	"github.com/caucus-org/caucus/mail/route"
)

// FuzzCompose: whatever header a message has, the answer to it is one
// well-formed message whose References hold only well-formed IDs.
func FuzzCompose(f *testing.F) {
	f.Add([]byte("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <a@b>\r\nReferences: <x@y> junk <z@w>\r\n\r\n"))
	f.Add([]byte("Subject: a\r\n\tb\r\nMessage-ID: <a@b\r\n\r\n"))
	f.Add([]byte("Message-ID: <a\r\n@b>\r\nIn-Reply-To: <<<>>>\r\n\r\n"))
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
	})
}
