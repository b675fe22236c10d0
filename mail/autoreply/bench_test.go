package autoreply

import (
	"testing"
)

// BenchmarkRespondNone is what every delivery now pays when none of its
// recipients has an auto-reply: the header read and one lookup.
func BenchmarkRespondNone(b *testing.B) {
	e := newEnvB(b)
	msg := []byte("From: carol@elsewhere.example\r\nTo: bob@example-party.org\r\nSubject: x\r\nMessage-ID: <a@b>\r\n\r\nbody\r\n")
	for b.Loop() {
		if n, err := e.r.Respond(b.Context(), "carol@elsewhere.example", []string{"bob@example-party.org"}, msg); n != 0 || err != nil {
			b.Fatal(n, err)
		}
	}
}
