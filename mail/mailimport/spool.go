package mailimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// memSpool is how large a body is kept in memory while it waits for the
// store; larger ones wait in a temporary file, so that memory stays
// bounded whatever the messages' sizes.
const memSpool = 1 << 20

// spool is a fetched message body waiting to be stored.
type spool struct {
	buf  *bytes.Reader
	file *os.File
}

// newSpool copies r (at most limit bytes, else errTooLarge) into a spool
// in tmpDir ("" for the default). The caller closes it.
func newSpool(r io.Reader, sizeHint, limit int64, tmpDir string) (*spool, error) {
	if sizeHint <= memSpool {
		var b bytes.Buffer
		if sizeHint > 0 {
			// Room for the size and for the read that sees the end
			// (bytes.Buffer.ReadFrom wants bytes.MinRead free).
			b.Grow(int(sizeHint) + bytes.MinRead)
		}
		n, err := io.Copy(&b, io.LimitReader(r, memSpool+1))
		if err != nil {
			return nil, err
		}
		if n <= memSpool {
			return &spool{buf: bytes.NewReader(b.Bytes())}, nil
		}
		r = io.MultiReader(&b, r)
	}
	f, err := os.CreateTemp(tmpDir, "caucus-import-*")
	if err != nil {
		return nil, fmt.Errorf("mailimport: spool: %w", err)
	}
	os.Remove(f.Name()) // unlinked at once: nothing is left behind, whatever happens
	n, err := io.Copy(f, io.LimitReader(r, limit+1))
	if err == nil && n > limit {
		err = errTooLarge
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &spool{file: f}, nil
}

// spoolBytes is newSpool of a body already in memory, b, which the
// spool takes.
func spoolBytes(b []byte, limit int64, tmpDir string) (*spool, error) {
	if limit > 0 && int64(len(b)) > limit {
		return nil, errTooLarge
	}
	if len(b) <= memSpool {
		return &spool{buf: bytes.NewReader(b)}, nil
	}
	return newSpool(bytes.NewReader(b), -1, limit, tmpDir)
}

// errTooLarge reports a message over the store's size limit.
var errTooLarge = errors.New("message larger than the store accepts")

// Read reads the body.
func (s *spool) Read(p []byte) (int, error) {
	if s.file != nil {
		return s.file.Read(p)
	}
	return s.buf.Read(p)
}

// Close releases the spool.
func (s *spool) Close() error {
	if s.file != nil {
		return s.file.Close()
	}
	return nil
}
