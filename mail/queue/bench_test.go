package queue

import (
	"bytes"
	"testing"
)

// BenchmarkEnqueue measures Enqueue of 10 KB messages to recipients at
// two domains: a blob written and fsynced, then one transaction committed
// (and fsynced, synchronous=FULL). Nothing is delivered.
func BenchmarkEnqueue(b *testing.B) {
	e := newEnv(b, envOptions{})
	e.q = New(e.cfg, e.db, e.blobs, nil) // no log lines in the figures
	// 160 lines of 64 bytes: 10,240 bytes.
	msg := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n"), 160)
	rcpts := []string{"bob@example.org", "carol@example.org", "dan@example.net"}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.q.Enqueue(b.Context(), "alice@example-party.org", rcpts, bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
}
