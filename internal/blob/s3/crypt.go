package s3

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/caucus-org/caucus/internal/blob"
)

// The encrypted object format, version 1. An object is a header followed
// by the blob's content cut into chunks, each sealed with AES-256-GCM
// (NIST SP 800-38D), in the STREAM construction of Hoang, Reyhanitabar,
// Rogaway and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
// Misuse-Resistance" (CRYPTO 2015), as age (age-encryption.org/v1) uses it:
//
//	header  = magic salt
//	magic   = "CAUCUSB" %x01                  ; 8 bytes, the version last
//	salt    = 32 random bytes, new for every object
//	chunk   = AES-256-GCM(key, nonce, plaintext, no additional data)
//	          ; plaintext: chunkSize bytes, fewer only in the last chunk
//	nonce   = counter last                    ; 12 bytes
//	counter = the chunk's index, 0 first, big-endian in 11 bytes
//	last    = %x01 in the last chunk, %x00 in the others
//	key     = HKDF-SHA256(secret=master key, salt=salt,
//	                      info="caucus blob v1 " ref)  ; RFC 5869, 32 bytes
//
// The last chunk is empty only when the blob is; a blob of a multiple of
// chunkSize bytes ends with a full chunk marked last. So:
//
//   - the object store's operator, who lacks the master key, learns only
//     the blob's size (and, from the key, its SHA-256);
//   - a changed, reordered or dropped chunk fails to open (its index is in
//     its nonce), and so does an object cut at a chunk boundary (the chunk
//     then last was sealed as not last);
//   - an object copied under another blob's key fails to open too: the
//     Ref is part of the key derivation;
//   - nonces never repeat under one key: each object has its own key from
//     its random salt, and its chunks count up.
//
// Any chunk is read and checked on its own, so a reader can seek: the
// offset of chunk i is headerSize + i*(chunkSize+tagSize).
const (
	magic      = "CAUCUSB\x01"
	saltSize   = 32
	headerSize = 8 + saltSize // len(magic) + saltSize
	chunkSize  = 64 << 10
	tagSize    = 16
	sealedSize = chunkSize + tagSize
	keyInfo    = "caucus blob v1 "
	// KeySize is the size of the master key, in bytes.
	KeySize = 32
)

// ErrCorrupt reports an object that is not a well-formed encrypted blob
// under the store's key: damaged, cut short, swapped with another blob's,
// or written with another key.
var ErrCorrupt = errors.New("blob/s3: object corrupt, or encrypted with another key")

// sealedLen returns the size of the object that holds a blob of n bytes.
func sealedLen(n int64) int64 {
	chunks := max((n+chunkSize-1)/chunkSize, 1)
	return int64(headerSize) + n + chunks*tagSize
}

// plainLen returns the size of the blob an object of size bytes holds,
// and false if no blob encrypts to that size.
func plainLen(size int64) (int64, bool) {
	body := size - int64(headerSize)
	if body < tagSize {
		return 0, false
	}
	chunks := (body + sealedSize - 1) / sealedSize
	last := body - (chunks-1)*sealedSize
	if last == tagSize && chunks > 1 { // an empty last chunk after others
		return 0, false
	}
	return body - chunks*tagSize, true
}

// objectKey derives the AEAD of one object from the master key, the
// object's salt and the blob's reference.
func objectKey(master []byte, salt []byte, ref blob.Ref) (cipher.AEAD, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("blob/s3: master key of %d bytes, want %d", len(master), KeySize)
	}
	k, err := hkdf.Key(sha256.New, master, salt, keyInfo+string(ref), 32)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: deriving key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: %w", err)
	}
	return cipher.NewGCM(block)
}

// nonce returns the nonce of chunk i.
func nonce(i int64, last bool) []byte {
	var n [12]byte
	binary.BigEndian.PutUint64(n[3:11], uint64(i))
	if last {
		n[11] = 1
	}
	return n[:]
}

// newChunkPool returns a pool of buffers of sealedSize bytes for the
// sealer's reads: an upload reads the object in pieces of a few chunks,
// from several goroutines, and would otherwise allocate as much as it
// sends.
func newChunkPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, 0, sealedSize); return &b }}
}

// sealer is the encrypted object of a blob whose content src holds: an
// [io.ReaderAt] over the object's bytes, which encrypts on the fly the
// chunks a read asks for, so that an upload streams (and can be retried,
// and sent in parallel parts) without the object ever being in memory.
// It is safe for concurrent use when src is.
type sealer struct {
	src    io.ReaderAt
	plain  int64 // the blob's size
	size   int64 // the object's size
	header [headerSize]byte
	aead   cipher.AEAD
	chunks *sync.Pool // of *[]byte, from newChunkPool
}

// newSealer returns the encrypted object of the blob ref of n bytes that
// src holds, under a new random salt. Its reads take their buffers from
// chunks, made by newChunkPool.
func newSealer(src io.ReaderAt, n int64, master []byte, ref blob.Ref, chunks *sync.Pool) (*sealer, error) {
	s := &sealer{src: src, plain: n, size: sealedLen(n), chunks: chunks}
	copy(s.header[:], magic)
	rand.Read(s.header[len(magic):])
	aead, err := objectKey(master, s.header[len(magic):], ref)
	if err != nil {
		return nil, err
	}
	s.aead = aead
	return s, nil
}

// ReadAt implements [io.ReaderAt] over the encrypted object.
func (s *sealer) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob/s3: negative offset")
	}
	n := 0
	if off < headerSize {
		n = copy(p, s.header[off:])
	}
	if n < len(p) && off+int64(n) < s.size {
		chunk := s.chunks.Get().(*[]byte)
		defer s.chunks.Put(chunk)
		for n < len(p) && off+int64(n) < s.size {
			pos := off + int64(n) - headerSize
			i := pos / sealedSize
			sealed, err := s.seal((*chunk)[:0], i)
			if err != nil {
				return n, err
			}
			n += copy(p[n:], sealed[pos-i*sealedSize:])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// seal appends chunk i, encrypted, to dst.
func (s *sealer) seal(dst []byte, i int64) ([]byte, error) {
	start := i * chunkSize
	m := min(chunkSize, s.plain-start)
	buf := dst[len(dst) : len(dst)+int(m)]
	if _, err := s.src.ReadAt(buf, start); err != nil && !(err == io.EOF && len(buf) == int(m)) {
		return nil, fmt.Errorf("blob/s3: reading chunk %d: %w", i, err)
	}
	last := start+m >= s.plain
	return s.aead.Seal(dst, nonce(i, last), buf, nil), nil
}

// opener is the blob held in an encrypted object, read from src: an
// [io.ReadSeeker] that fetches the object window by window (each window a
// few chunks, so that a small blob is one fetch) and checks every chunk
// before it gives out a byte of it.
type opener struct {
	src    io.ReaderAt
	size   int64 // the object's size
	plain  int64 // the blob's size
	aead   cipher.AEAD
	pos    int64 // the reader's position in the blob
	window int   // bytes of chunks fetched at once

	win    []byte // the object's bytes from winOff
	winOff int64
	chunk  []byte // chunk cur, decrypted
	cur    int64  // -1: none
}

// windowChunks is how many chunks one fetch reads: 4 (256 KiB) covers
// most mail in one request while keeping each open reader's memory small.
const windowChunks = 4

// newOpener opens the blob ref in the object of size bytes that src holds.
// first, if not nil, is the object's start, already fetched. An object
// that cannot be the blob's under master fails with [ErrCorrupt].
func newOpener(src io.ReaderAt, size int64, first []byte, master []byte, ref blob.Ref) (*opener, error) {
	return openWith(src, size, first, master, ref, windowChunks*sealedSize, nil)
}

// openerBufs are the buffers of an opener that reads one chunk at a time
// (from a local file): the window, the header and a chunk, and the
// chunk decrypted. A pool of them (newBufPool) spares each read of a
// cached blob its garbage.
type openerBufs struct{ win, chunk []byte }

func newBufPool() *sync.Pool {
	return &sync.Pool{New: func() any {
		return &openerBufs{win: make([]byte, 0, headerSize+sealedSize), chunk: make([]byte, 0, chunkSize)}
	}}
}

// newChunkOpener is newOpener for a src that is cheap to read at any
// offset (a local file): it reads a chunk at a time, into bufs, which the
// caller may use again once done with the opener.
func newChunkOpener(src io.ReaderAt, size int64, master []byte, ref blob.Ref, bufs *openerBufs) (*opener, error) {
	return openWith(src, size, nil, master, ref, sealedSize, bufs)
}

// openWith is newOpener and newChunkOpener: window bytes of chunks are
// fetched at once, into bufs if not nil.
func openWith(src io.ReaderAt, size int64, first []byte, master []byte, ref blob.Ref, window int, bufs *openerBufs) (*opener, error) {
	plain, ok := plainLen(size)
	if !ok {
		return nil, fmt.Errorf("%w: %s: object of %d bytes", ErrCorrupt, ref, size)
	}
	o := &opener{src: src, size: size, plain: plain, cur: -1, window: window}
	if bufs != nil {
		o.win, o.chunk = bufs.win[:0], bufs.chunk[:0]
	}
	return o, o.open(first, master, ref)
}

// open reads the header (from first, the object's start, if not nil) and
// derives the blob's key from it.
func (o *opener) open(first []byte, master []byte, ref blob.Ref) error {
	if len(first) >= headerSize {
		o.win = first
	} else if err := o.fetch(0); err != nil {
		return err
	}
	if string(o.win[:len(magic)]) != magic {
		return fmt.Errorf("%w: %s: no caucus blob header", ErrCorrupt, ref)
	}
	aead, err := objectKey(master, o.win[len(magic):headerSize], ref)
	if err != nil {
		return err
	}
	o.aead = aead
	if o.plain == 0 {
		// No Read will decrypt the one, empty chunk: check it now, or
		// any blob could be swapped for an empty one unnoticed.
		if err := o.load(0); err != nil {
			return err
		}
	}
	return nil
}

// fetch reads the window of the object that starts at off: the header
// and windowChunks chunks from the start, else windowChunks chunks, so
// that windows read in turn follow each other.
func (o *opener) fetch(off int64) error {
	n := int64(o.window)
	if off == 0 {
		n += headerSize
	}
	n = min(n, o.size-off)
	if int64(cap(o.win)) < n {
		o.win = make([]byte, n)
	}
	o.win, o.winOff = o.win[:n], off
	// Whole or not at all: the window's buffer comes from a pool, and a
	// read cut short would leave in its tail what an earlier read put
	// there (the same object's bytes, when it read the same copy).
	if m, err := o.src.ReadAt(o.win, off); err != nil && !(err == io.EOF && int64(m) == n) {
		o.win = o.win[:0]
		return fmt.Errorf("blob/s3: reading: %w", err)
	}
	return nil
}

// load decrypts chunk i into o.chunk.
func (o *opener) load(i int64) error {
	off := int64(headerSize) + i*sealedSize
	end := min(off+sealedSize, o.size)
	if off < o.winOff || end > o.winOff+int64(len(o.win)) {
		if err := o.fetch(off); err != nil {
			return err
		}
	}
	sealed := o.win[off-o.winOff : end-o.winOff]
	last := end == o.size
	plain, err := o.aead.Open(o.chunk[:0], nonce(i, last), sealed, nil)
	if err != nil {
		o.cur = -1
		return fmt.Errorf("%w: chunk %d", ErrCorrupt, i)
	}
	o.chunk, o.cur = plain, i
	return nil
}

// Read implements [io.Reader].
func (o *opener) Read(p []byte) (int, error) {
	if o.pos >= o.plain {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	i := o.pos / chunkSize
	if i != o.cur {
		if err := o.load(i); err != nil {
			return 0, err
		}
	}
	n := copy(p, o.chunk[o.pos-i*chunkSize:])
	o.pos += int64(n)
	return n, nil
}

// Seek implements [io.Seeker]. Seeking past the end is allowed; reads
// there return io.EOF.
func (o *opener) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.pos
	case io.SeekEnd:
		offset += o.plain
	default:
		return 0, errors.New("blob/s3: seek: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("blob/s3: seek: negative position")
	}
	o.pos = offset
	return offset, nil
}
