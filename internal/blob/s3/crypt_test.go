package s3

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/caucus-org/caucus/internal/blob"
)

// testKey is a fixed master key for the tests of the format.
var testKey = bytes.Repeat([]byte{7}, KeySize)

func refOf(b []byte) blob.Ref {
	sum := sha256.Sum256(b)
	return blob.Ref(hex.EncodeToString(sum[:]))
}

// content returns n bytes that differ with seed.
func content(seed string, n int) []byte {
	b := make([]byte, n)
	h := sha256.Sum256([]byte(seed))
	for i := 0; i < n; i += len(h) {
		copy(b[i:], h[:])
		h = sha256.Sum256(h[:])
	}
	return b
}

// sealBytes returns the encrypted object of plain under key.
func sealBytes(t testing.TB, plain []byte, key []byte) []byte {
	t.Helper()
	s, err := newSealer(bytes.NewReader(plain), int64(len(plain)), key, refOf(plain), newChunkPool())
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(io.NewSectionReader(s, 0, s.size))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openBytes reads the blob ref out of the object obj.
func openBytes(obj []byte, key []byte, ref blob.Ref) ([]byte, error) {
	o, err := newOpener(bytes.NewReader(obj), int64(len(obj)), nil, key, ref)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(o)
}

// sizes crosses the chunk and window boundaries.
var sizes = []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize,
	windowChunks*chunkSize - 1, windowChunks * chunkSize, windowChunks*chunkSize + 1, 9*chunkSize + 17}

func TestMagicSize(t *testing.T) {
	if len(magic) != 8 || headerSize != len(magic)+saltSize {
		t.Fatalf("magic of %d bytes, header of %d", len(magic), headerSize)
	}
}

// TestRoundTrip seals blobs of every size that matters and reads them
// back, seeking, through the opener; reads of the sealer in small, odd
// pieces give the same object as one read.
func TestRoundTrip(t *testing.T) {
	for _, n := range sizes {
		plain := content(fmt.Sprint(n), n)
		s, err := newSealer(bytes.NewReader(plain), int64(n), testKey, refOf(plain), newChunkPool())
		if err != nil {
			t.Fatal(err)
		}
		obj, err := io.ReadAll(io.NewSectionReader(s, 0, s.size))
		if err != nil || int64(len(obj)) != sealedLen(int64(n)) {
			t.Fatalf("%d bytes: object of %d bytes, %v; want %d", n, len(obj), err, sealedLen(int64(n)))
		}
		var pieces []byte
		buf := make([]byte, 7919) // a prime: pieces straddle every boundary
		for off := int64(0); off < s.size; {
			k, err := s.ReadAt(buf, off)
			pieces = append(pieces, buf[:k]...)
			off += int64(k)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(pieces, obj) {
			t.Errorf("%d bytes: the object read in pieces differs", n)
		}
		o, err := newOpener(bytes.NewReader(obj), int64(len(obj)), nil, testKey, refOf(plain))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if err := iotest.TestReader(o, plain); err != nil {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

// TestSizes checks that the object's size tells the blob's, and that the
// sizes no blob encrypts to are refused.
func TestSizes(t *testing.T) {
	for n := int64(0); n < 3*chunkSize+5; n += 997 {
		for _, m := range []int64{n, n / chunkSize * chunkSize} {
			if got, ok := plainLen(sealedLen(m)); !ok || got != m {
				t.Errorf("plainLen(sealedLen(%d)) = %d, %v", m, got, ok)
			}
		}
	}
	for _, size := range []int64{-1, 0, headerSize, headerSize + tagSize - 1, headerSize + sealedSize + tagSize, headerSize + 2*sealedSize + tagSize} {
		if n, ok := plainLen(size); ok {
			t.Errorf("plainLen(%d) = %d, true; want refused", size, n)
		}
	}
}

// TestTampering changes an object as the store's operator could: every
// change is detected, none gives out a wrong byte.
func TestTampering(t *testing.T) {
	plain := content("tampered", 3*chunkSize+10)
	ref := refOf(plain)
	obj := sealBytes(t, plain, testKey)
	other := content("another blob", 3*chunkSize+10)
	chunk := func(i int) []byte { return obj[headerSize+i*sealedSize : min(headerSize+(i+1)*sealedSize, len(obj))] }
	flip := func(i int) []byte {
		b := bytes.Clone(obj)
		b[i] ^= 0x40
		return b
	}
	cases := []struct {
		name string
		obj  []byte
		key  []byte
		ref  blob.Ref
	}{
		{"magic", flip(0), testKey, ref},
		{"version", flip(7), testKey, ref},
		{"salt", flip(len(magic) + 3), testKey, ref},
		{"first chunk", flip(headerSize + 100), testKey, ref},
		{"a tag", flip(headerSize + sealedSize - 1), testKey, ref},
		{"last chunk", flip(len(obj) - 20), testKey, ref},
		{"cut at a chunk boundary", obj[:headerSize+3*sealedSize], testKey, ref},
		{"cut inside a chunk", obj[:len(obj)-3], testKey, ref},
		{"chunks swapped", slicesConcat(obj[:headerSize], chunk(1), chunk(0), chunk(2), chunk(3)), testKey, ref},
		{"another blob's object", sealBytes(t, other, testKey), testKey, ref},
		{"another key", obj, bytes.Repeat([]byte{8}, KeySize), ref},
		{"another reference", obj, testKey, refOf(other)},
		{"empty", nil, testKey, ref},
		// An empty blob's object has no byte to read: it must be checked
		// when opened, or any blob could be swapped for nothing.
		{"an empty blob's object", sealBytes(t, nil, testKey), testKey, ref},
		{"an empty blob's object under another reference", sealBytes(t, nil, testKey), testKey, refOf(nil)[:63] + "0"},
	}
	for _, tc := range cases {
		got, err := openBytes(tc.obj, tc.key, tc.ref)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %d bytes, %v; want ErrCorrupt", tc.name, len(got), err)
		}
	}
	if got, err := openBytes(obj, testKey, ref); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the untouched object: %d bytes, %v", len(got), err)
	}
}

func slicesConcat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestSaltPerObject: the same blob sealed twice gives two objects that
// share nothing after the magic (a new key each time), both readable.
func TestSaltPerObject(t *testing.T) {
	plain := []byte("the same mail, stored twice")
	a, b := sealBytes(t, plain, testKey), sealBytes(t, plain, testKey)
	if bytes.Equal(a[len(magic):], b[len(magic):]) || bytes.Equal(a[headerSize:], b[headerSize:]) {
		t.Fatal("two sealings of one blob share salt or ciphertext")
	}
	for _, obj := range [][]byte{a, b} {
		if got, err := openBytes(obj, testKey, refOf(plain)); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("reading back: %q, %v", got, err)
		}
	}
}

// FuzzOpen feeds the decrypting reader objects it did not make: it parses
// what the object store returns, which the store's operator controls. It
// must never panic, never read past the object, and give out only the
// blob that was sealed, or fail with ErrCorrupt.
func FuzzOpen(f *testing.F) {
	plains := [][]byte{nil, []byte("x"), content("fuzz", chunkSize+3)}
	ref := refOf(plains[2])
	for _, p := range plains {
		obj := sealBytes(f, p, testKey)
		f.Add(obj, int64(0))
		f.Add(obj[:len(obj)/2], int64(1))
	}
	f.Add([]byte(magic), int64(5))
	f.Fuzz(func(t *testing.T, obj []byte, seek int64) {
		if len(obj) > 4*sealedSize {
			return
		}
		for _, mode := range []string{"", "chunked", "first"} {
			fuzzOpenOne(t, obj, seek, ref, mode)
		}
	})
}

// fuzzOpenOne is one case of FuzzOpen: with newOpener; with mode
// "chunked", with newChunkOpener (a cached copy's) on buffers a read of
// another object left full; with mode "first", with newOpener given the
// start of the object, as a first GET that ended early leaves it (a
// prefix as long as seek says, in a buffer it may fill no further).
func fuzzOpenOne(t *testing.T, obj []byte, seek int64, ref blob.Ref, mode string) {
	r := &boundedReader{b: obj}
	var o *opener
	var err error
	switch mode {
	case "chunked":
		bufs := &openerBufs{win: bytes.Repeat([]byte{0xAA}, headerSize+sealedSize)[:0], chunk: bytes.Repeat([]byte{0x55}, chunkSize)[:0]}
		o, err = newChunkOpener(r, int64(len(obj)), testKey, ref, bufs)
	case "first":
		n := int(uint64(seek) % uint64(len(obj)+1))
		o, err = newOpener(r, int64(len(obj)), slices.Clip(slices.Clone(obj[:n])), testKey, ref)
	default:
		o, err = newOpener(r, int64(len(obj)), nil, testKey, ref)
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("newOpener: %v, want ErrCorrupt", err)
		}
		return
	}
	if _, err := o.Seek(seek%int64(len(obj)+1), io.SeekStart); err != nil && seek >= 0 {
		t.Fatalf("Seek(%d): %v", seek, err)
	}
	got, err := io.ReadAll(o)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("reading: %v, want ErrCorrupt", err)
		}
		return
	}
	if _, err := o.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(o)
	if len(got) == 0 && errors.Is(err, ErrCorrupt) {
		return // nothing was given out: seeking to the end reads no chunk
	}
	if err != nil || refOf(all) != ref || !bytes.HasSuffix(all, got) {
		t.Fatalf("an object opened that is not the sealed blob: %d bytes, %v", len(all), err)
	}
}

// boundedReader is a bytes.Reader's ReadAt that fails a read past the end
// of the object instead of returning less: the opener must never ask.
type boundedReader struct{ b []byte }

func (r *boundedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(r.b)) {
		return 0, fmt.Errorf("read of %d bytes at %d past the object's %d", len(p), off, len(r.b))
	}
	return copy(p, r.b[off:]), nil
}

// seqReader records whether reads follow each other.
type seqReader struct {
	b       []byte
	next    int64
	reads   int
	jumps   int
	touched int64
}

func (r *seqReader) ReadAt(p []byte, off int64) (int, error) {
	if off != r.next {
		r.jumps++
	}
	r.reads++
	n := copy(p, r.b[off:])
	r.next = off + int64(n)
	r.touched += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestReadInSequence: reading a blob through asks its source for windows
// that follow each other, each byte once, so that the S3 store serves them
// from one GET (the windows overlapped by the header's size, and each
// started a GET of its own).
func TestReadInSequence(t *testing.T) {
	plain := content("sequence", 13*chunkSize+5)
	obj := sealBytes(t, plain, testKey)
	r := &seqReader{b: obj}
	o, err := newOpener(r, int64(len(obj)), nil, testKey, refOf(plain))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if r.jumps != 0 || r.touched != int64(len(obj)) || r.reads != 4 {
		t.Errorf("%d reads, %d not following the one before, %d bytes read of %d; want 4, 0, all once", r.reads, r.jumps, r.touched, len(obj))
	}
}
