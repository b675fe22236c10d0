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
// bytes is a fileBlob: open and fstat, then each read a pread(2) at the
// reader's offset straight into the caller's buffer, and seeks in memory.
// An *os.File costs more (os.Open registers every file with the runtime's
// poller, a failing epoll_ctl(2) for a regular file; http.ServeContent
// seeks to the end and back to learn the size; the read that finds the
// end is one more), and reading the file whole into a buffer of its own,
// as Open did before, made garbage of the blob's size at every download.
// Blobs never change once stored, so the size fstat gave is the file's.
// A larger file is an *os.File.
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

// fileBlob is a small blob file read with pread(2): safe for concurrent
// use, as an *os.File is. mu is held across each pread and by Close, so
// that no read reaches a file that took the descriptor's number once it
// was closed.
type fileBlob struct {
	mu      sync.Mutex
	fd      int // -1 once closed
	size    int64
	off     int64 // of Read and Seek
	path    string
	cleanup runtime.Cleanup
}

func (b *fileBlob) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.preadLocked(p, b.off)
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
	n, err := b.preadLocked(p, off)
	if err == nil && n < len(p) {
		err = io.EOF // io.ReaderAt: fewer bytes only with an error
	}
	return n, err
}

// preadLocked reads up to len(p) bytes at off, fewer only at the end.
func (b *fileBlob) preadLocked(p []byte, off int64) (int, error) {
	if b.fd < 0 {
		return 0, os.ErrClosed
	}
	if off >= b.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.size-off)]
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

func (b *fileBlob) Seek(offset int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fd < 0 {
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
	if b.fd < 0 {
		return os.ErrClosed
	}
	b.cleanup.Stop()
	err := syscall.Close(b.fd)
	b.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: b.path, Err: err}
	}
	return nil
}
