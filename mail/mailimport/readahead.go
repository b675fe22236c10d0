package mailimport

import (
	"io"
	"sync"
)

// An archive entry's content is read ahead, on a goroutine of its own,
// of the job's goroutine that splits it into messages: inflating a ZIP
// entry (RFC 1951) or a gzipped tar costs about as much CPU as all the
// rest that goroutine does, and with both on one goroutine the import of
// a ZIP was held to the speed of one core. The inflating also goes on
// while the job waits for the workers (their blob and database syncs),
// up to aheadChunks chunks of aheadChunk bytes, about as much as the
// workers store in one round of syncs: that, and the chunk being read,
// is all the memory it takes (2.5 MiB), whatever the entry's size.
const (
	aheadChunk  = 512 << 10
	aheadChunks = 4
)

// readAhead is an entry's reader read ahead by its own goroutine. Read
// and Close are for one goroutine (the job's).
type readAhead struct {
	full chan aheadPiece // read, in order
	free chan []byte     // chunks to fill again (nil: not made yet)
	done chan struct{}   // closed by Close
	wg   sync.WaitGroup

	cur aheadPiece // the piece being read
	off int        // of cur.b read
}

// aheadPiece is a chunk of the entry and the error that ended it, if any.
type aheadPiece struct {
	b   []byte
	err error
}

// newReadAhead starts reading r ahead. The caller must Close it before r
// is closed or read by anyone else.
func newReadAhead(r io.Reader) *readAhead {
	ra := &readAhead{
		full: make(chan aheadPiece, aheadChunks),
		free: make(chan []byte, aheadChunks+1),
		done: make(chan struct{}),
	}
	for range aheadChunks + 1 {
		ra.free <- nil // made when first needed: a small entry takes one chunk
	}
	ra.wg.Go(func() { ra.fill(r) })
	return ra
}

// fill reads r chunk by chunk until it ends, fails, or Close is called.
func (ra *readAhead) fill(r io.Reader) {
	for {
		var b []byte
		select {
		case b = <-ra.free:
		case <-ra.done:
			return
		}
		if b == nil {
			b = make([]byte, aheadChunk)
		}
		n, err := readChunk(r, b[:aheadChunk])
		select {
		case ra.full <- aheadPiece{b[:n], err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// readChunk reads r until b is full or r fails; the error is r's, as it
// is (io.ReadFull would turn r's own io.ErrUnexpectedEOF, a damaged
// archive's, into an ending).
func readChunk(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Read gives what was read ahead, in order, then the error that ended it
// (io.EOF at the end).
func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur.b) {
		if ra.cur.err != nil {
			return 0, ra.cur.err
		}
		if ra.cur.b != nil {
			ra.free <- ra.cur.b[:0] // never blocks: free holds every chunk
		}
		ra.cur, ra.off = <-ra.full, 0
	}
	n := copy(p, ra.cur.b[ra.off:])
	ra.off += n
	return n, nil
}

// Close stops the reading ahead and waits until its goroutine no longer
// reads (at most one chunk's read after the call).
func (ra *readAhead) Close() error {
	close(ra.done)
	ra.wg.Wait()
	return nil
}
