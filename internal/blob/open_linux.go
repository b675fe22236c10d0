package blob

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// smallRead is the largest blob Open reads whole (see openRead).
const smallRead = 64 << 10

// openRead opens the blob file p for reading. A file of at most smallRead
// bytes is read whole and closed at once, and served from memory: open,
// fstat, read and close, where an *os.File costs the same and more (os.Open
// registers every file with the runtime's poller, a failing epoll_ctl(2)
// for a regular file; http.ServeContent seeks to the end and back to learn
// the size; the read that finds the end is one more). Blobs never change
// once stored, so what was read is what the file holds. A larger file is
// an *os.File.
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
	buf := make([]byte, st.Size)
	n := 0
	for n < len(buf) {
		m, err := ignoringEINTR(func() (int, error) { return syscall.Read(fd, buf[n:]) })
		if err != nil {
			syscall.Close(fd)
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	syscall.Close(fd)
	if n != len(buf) {
		return nil, fmt.Errorf("blob: %s: %d bytes of %d: %w", p, n, len(buf), io.ErrUnexpectedEOF)
	}
	return &memBlob{Reader: bytes.NewReader(buf)}, nil
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

// memBlob is a small blob read whole.
type memBlob struct {
	*bytes.Reader
	closed bool
}

func (m *memBlob) Read(p []byte) (int, error) {
	if m.closed {
		return 0, os.ErrClosed
	}
	return m.Reader.Read(p)
}

func (m *memBlob) Close() error {
	if m.closed {
		return os.ErrClosed
	}
	m.closed = true
	m.Reader.Reset(nil)
	return nil
}
