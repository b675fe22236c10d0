package blob

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"syscall"
)

// smallRead is the largest blob Open serves with pread(2) (see openRead).
const smallRead = 64 << 10

// openRead opens the blob file p for reading. A file of at most smallRead
// bytes is a fileBlob: open and fstat, then one pread(2) for a read that
// takes all the rest, straight into the caller's buffer (a download), or,
// for a smaller read (a parser's bufio.Reader), one pread of the whole
// file into a buffer of its own, as Open always did, and the descriptor
// closed at once. Seeks stay in memory. An *os.File costs more (os.Open
// registers every file with the runtime's poller, a failing epoll_ctl(2)
// for a regular file; http.ServeContent seeks to the end and back to
// learn the size; the read that finds the end is one more), and reading
// every file whole made garbage of its size at every download. Blobs
// never change once stored, so the size fstat gave is the file's. A
// larger file is an *os.File.
func openRead(p string) (io.ReadSeekCloser, error) {
	fd, err := ignoringEINTR(func() (int, error) { return syscall.Open(p, syscall.O_RDONLY|syscall.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &fs.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Size > smallRead {
		return os.NewFile(uintptr(fd), p), nil
	}
	b := &fileBlob{fd: fd, size: st.Size, path: p}
	// A reader dropped without Close does not keep its descriptor.
	b.cleanup = runtime.AddCleanup(b, func(fd int) { syscall.Close(fd) }, fd)
	return b, nil
}

// ignoringEINTR calls fn again as long as it fails with EINTR.
func ignoringEINTR(fn func() (int, error)) (int, error) {
	for {
		n, err := fn()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// fileBlob is a small blob file, read with pread(2), or from memory once
// a small read made it read the whole file (see openRead). It is safe for
// concurrent use, as an *os.File is: mu is held across each pread and by
// Close, so that no read reaches a file that took the descriptor's number
// once it was closed.
type fileBlob struct {
	mu      sync.Mutex
	fd      int    // -1 once closed or read whole
	whole   []byte // the content, once read whole
	closed  bool
	size    int64
	off     int64 // of Read and Seek
	path    string
	cleanup runtime.Cleanup
}

func (b *fileBlob) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.readLocked(p, b.off)
	b.off += int64(n)
	return n, err
}

// ReadAt reads at off, leaving the offset of Read as it is.
func (b *fileBlob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: b.path, Err: errors.New("negative offset")}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.readLocked(p, off)
	if err == nil && n < len(p) {
		err = io.EOF // io.ReaderAt: fewer bytes only with an error
	}
	return n, err
}

// readLocked reads up to len(p) bytes at off, fewer only at the end.
func (b *fileBlob) readLocked(p []byte, off int64) (int, error) {
	switch {
	case b.closed:
		return 0, os.ErrClosed
	case off >= b.size:
		return 0, io.EOF
	case b.whole == nil && int64(len(p)) < b.size-off:
		// A read of a part: the whole file now, once.
		whole := make([]byte, b.size)
		if _, err := b.pread(whole, 0); err != nil {
			return 0, err
		}
		b.whole = whole
		b.closeFD()
	}
	if b.whole != nil {
		return copy(p, b.whole[off:]), nil
	}
	return b.pread(p[:b.size-off], off)
}

// pread fills p from off; b.mu is held.
func (b *fileBlob) pread(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		m, err := ignoringEINTR(func() (int, error) { return syscall.Pread(b.fd, p[n:], off+int64(n)) })
		if err != nil {
			return n, &fs.PathError{Op: "read", Path: b.path, Err: err}
		}
		if m == 0 {
			return n, fmt.Errorf("blob: %s: %d bytes of %d: %w", b.path, off+int64(n), b.size, io.ErrUnexpectedEOF)
		}
		n += m
	}
	return n, nil
}

// closeFD closes the descriptor if still open; b.mu is held.
func (b *fileBlob) closeFD() error {
	if b.fd < 0 {
		return nil
	}
	b.cleanup.Stop()
	err := syscall.Close(b.fd)
	b.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: b.path, Err: err}
	}
	return nil
}

func (b *fileBlob) Seek(offset int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, os.ErrClosed
	}
	switch whence {
	case io.SeekCurrent:
		offset += b.off
	case io.SeekEnd:
		offset += b.size
	case io.SeekStart:
	default:
		return 0, &fs.PathError{Op: "seek", Path: b.path, Err: errors.New("invalid whence")}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: b.path, Err: errors.New("negative position")}
	}
	b.off = offset
	return offset, nil
}

func (b *fileBlob) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return os.ErrClosed
	}
	b.closed, b.whole = true, nil
	return b.closeFD()
}
