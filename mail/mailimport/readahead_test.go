package mailimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// TestReadAhead: what is read through a readAhead is the source, byte
// for byte, whatever the sizes of the source's and the reader's reads,
// and the source's error comes after the bytes read before it.
func TestReadAhead(t *testing.T) {
	t.Parallel()
	data := make([]byte, 3*aheadChunk+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, size := range []int{0, 1, 100, aheadChunk, aheadChunk + 1, len(data)} {
		ra := newReadAhead(iotest.HalfReader(bytes.NewReader(data[:size])))
		got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(ra, 200)))
		if err != nil || !bytes.Equal(got, data[:min(size, 200)]) {
			t.Errorf("size %d: first 200 bytes differ (%v)", size, err)
		}
		rest, err := io.ReadAll(ra)
		if err != nil || !bytes.Equal(append(got, rest...), data[:size]) {
			t.Errorf("size %d: read %d bytes (%v)", size, len(got)+len(rest), err)
		}
		ra.Close()
	}

	// A damaged archive's reader fails with io.ErrUnexpectedEOF (a cut
	// gzip stream, a cut tar): an error, not an end.
	damaged := fmt.Errorf("damaged: %w", io.ErrUnexpectedEOF)
	src := io.MultiReader(bytes.NewReader(data[:aheadChunk+7]), iotest.ErrReader(damaged))
	ra := newReadAhead(src)
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if !errors.Is(err, damaged) || !bytes.Equal(got, data[:aheadChunk+7]) {
		t.Errorf("damaged source: %d bytes, %v; want %d bytes, then its error", len(got), err, aheadChunk+7)
	}
	if _, err := ra.Read(make([]byte, 10)); !errors.Is(err, damaged) {
		t.Errorf("read after the error: %v", err)
	}
}

// countingReader is an endless source that counts what was read of it.
type countingReader struct{ n atomic.Int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

// TestReadAheadBounded: a reader that does not read makes the reading
// ahead stop at aheadChunks chunks beyond the one being read (its
// memory bound), and after Close nothing more is read of the source.
func TestReadAheadBounded(t *testing.T) {
	t.Parallel()
	src := &countingReader{}
	ra := newReadAhead(src)
	if _, err := ra.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	limit := int64(aheadChunks+1) * aheadChunk
	for deadline := time.Now().Add(10 * time.Second); src.n.Load() < limit && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // time enough to read beyond, were it not bounded
	if n := src.n.Load(); n != limit {
		t.Errorf("read ahead %d bytes, want %d (aheadChunks chunks and the one being read)", n, limit)
	}
	ra.Close()
	n := src.n.Load()
	time.Sleep(20 * time.Millisecond)
	if m := src.n.Load(); m != n {
		t.Errorf("%d bytes read after Close", m-n)
	}
}
