package files

import (
	"net/netip"
	"testing"
	"time"
)

// TestFetchWindow: one address's requests for one file of a link count
// once within DownloadWindow and again after it; the memory of downloads
// is bounded by maxFetches, past which every request counts.
func TestFetchWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	s := &Store{opts: Options{Now: func() time.Time { return now }}, fetched: map[fetch]time.Time{}}
	f := fetch{link: 1, node: 2, addr: netip.MustParseAddr("192.0.2.1")}
	if s.counted(f) {
		t.Fatal("a first download was already counted")
	}
	if !s.counted(f) {
		t.Fatal("a repeat within the window counted again")
	}
	if s.counted(fetch{link: 1, node: 3, addr: f.addr}) || s.counted(fetch{link: 1, node: 2, addr: netip.MustParseAddr("192.0.2.2")}) {
		t.Fatal("another file or another address was taken for a repeat")
	}
	now = now.Add(DownloadWindow)
	if s.counted(f) {
		t.Fatal("a download after the window was not counted")
	}
	for i := range maxFetches {
		s.counted(fetch{link: 9, node: int64(i), addr: f.addr})
	}
	if len(s.fetched) > maxFetches {
		t.Fatalf("%d downloads remembered, more than %d", len(s.fetched), maxFetches)
	}
	g := fetch{link: 10, node: 1, addr: f.addr}
	if s.counted(g) || s.counted(g) {
		t.Fatal("with the memory full, a repeat was not counted")
	}
	now = now.Add(DownloadWindow) // everything expired: room again
	if s.counted(g) || !s.counted(g) {
		t.Fatal("after the window the memory did not make room")
	}
}
