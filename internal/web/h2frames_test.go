package web

import (
	"errors"
	"net/http"
	"slices"
	"testing"
)

// sizes records the size of each write; it fails the write after limit
// bytes when limit > 0.
type sizes struct {
	got   []int
	total int
	limit int
}

var errFull = errors.New("full")

func (s *sizes) Write(p []byte) (int, error) {
	if s.limit > 0 && s.total+len(p) > s.limit {
		n := s.limit - s.total
		s.total += n
		s.got = append(s.got, n)
		return n, errFull
	}
	s.total += len(p)
	s.got = append(s.got, len(p))
	return len(p), nil
}

// TestFrameWrites: over HTTP/2 a write is cut into pieces of at most
// H2FrameData bytes, and a failed piece ends the write with the bytes
// written so far; over HTTP/1.1 the writer is the one given.
func TestFrameWrites(t *testing.T) {
	t.Parallel()
	w := &sizes{}
	if FrameWrites(w, &http.Request{ProtoMajor: 1}) != w {
		t.Error("HTTP/1.1: not the writer given")
	}
	n, err := FrameWrites(w, &http.Request{ProtoMajor: 2}).Write(make([]byte, 2*H2FrameData+100))
	if want := []int{H2FrameData, H2FrameData, 100}; n != 2*H2FrameData+100 || err != nil || !slices.Equal(w.got, want) {
		t.Errorf("HTTP/2: wrote %d, %v in writes of %v, want %v", n, err, w.got, want)
	}
	w = &sizes{limit: H2FrameData + 10}
	n, err = FrameWrites(w, &http.Request{ProtoMajor: 2}).Write(make([]byte, 3*H2FrameData))
	if n != H2FrameData+10 || !errors.Is(err, errFull) {
		t.Errorf("a failed write: %d, %v; want %d, %v", n, err, H2FrameData+10, errFull)
	}
}
