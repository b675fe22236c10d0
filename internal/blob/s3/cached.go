package s3

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/caucus-org/caucus/internal/blob"
)

// keep hands the cache the object sl of the blob ref, just stored, when
// it fits an entry: sealed again (the same salt, so the same bytes) into
// a copy the cache owns.
func (s *Store) keep(ref blob.Ref, sl *sealer) {
	c := s.cfg.Cache
	if c == nil || sl.size > c.MaxEntry() {
		return
	}
	data := make([]byte, sl.size)
	if _, err := sl.ReadAt(data, 0); err != nil && err != io.EOF {
		return // a cache: the next read fetches it
	}
	c.Add(ref, data)
}

// openCached opens the blob ref from its copy in the cache, fetching the
// object into the cache first when there is none; an object too large
// for an entry is read from the store as without a cache. A copy that
// fails its check is dropped and the blob read from the store.
func (s *Store) openCached(ref blob.Ref) (io.ReadSeekCloser, error) {
	c := s.cfg.Cache
	if f, ok := c.Open(ref); ok {
		if r, err := s.openFile(ref, f); err == nil {
			return r, nil
		}
		c.Remove(ref)
	}
	var (
		live   *objectReader // the GET of an object too large to keep
		getErr error         // of this reader's own GET
	)
	f, err := c.Fill(ref, func(w io.Writer) error {
		src := &objectReader{s: s, key: s.key(ref)}
		if getErr = src.get(0); getErr != nil {
			return getErr
		}
		if src.size > c.MaxEntry() {
			live = src
			return errStream
		}
		defer src.Close()
		_, err := io.CopyN(w, src.body, src.size) // io.EOF if cut short: nothing kept
		return err
	})
	if live != nil {
		return s.openFrom(ref, live)
	}
	switch {
	case isNotFound(getErr):
		return nil, fmt.Errorf("%w: %s", blob.ErrNotFound, ref)
	case getErr != nil:
		// The store failed this reader's GET (tried as often as
		// without a cache): not asked again.
		return nil, fmt.Errorf("blob/s3: open %s: %w", ref, getErr)
	case err != nil:
		// The cache could not keep it (its disk full, say), the GET
		// broke off while copied, or the fetch of the reader this one
		// waited for failed: as without a cache.
		return s.openRemote(ref)
	}
	r, err := s.openFile(ref, f)
	if err != nil {
		c.Remove(ref)
		return s.openRemote(ref)
	}
	return r, nil
}

// errStream tells openCached's fetch declined an object too large to
// keep, whose GET it leaves open for the reader.
var errStream = errors.New("blob/s3: object streamed, not cached")

// openFile opens the blob ref from f, its copy in the cache. It fails,
// closing f, when the copy's header or size cannot be the blob's.
func (s *Store) openFile(ref blob.Ref, f *os.File) (io.ReadSeekCloser, error) {
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob/s3: cached %s: %w", ref, err)
	}
	bufs := s.bufs.Get().(*openerBufs)
	o, err := newChunkOpener(f, info.Size(), s.cfg.Key, ref, bufs)
	if err != nil {
		s.bufs.Put(bufs)
		f.Close()
		return nil, err
	}
	return &cachedReader{opener: o, f: f, s: s, ref: ref, bufs: bufs}, nil
}

// cachedReader reads a blob from its copy in the cache until a chunk
// fails its check or the file a read: then it drops the copy and reads
// on from the store, from the same place. Every byte it gives out was
// checked, by the copy's chunk or the store's.
type cachedReader struct {
	*opener
	f      *os.File
	s      *Store
	ref    blob.Ref
	remote io.ReadSeekCloser // after a fall back
	bufs   *openerBufs       // the opener's, back to the pool at Close
}

// errClosed is what a cachedReader's reads return once it is closed.
var errClosed = errors.New("blob/s3: read after close")

// Read implements [io.Reader].
func (r *cachedReader) Read(p []byte) (int, error) {
	if r.bufs == nil {
		return 0, errClosed
	}
	if r.remote != nil {
		return r.remote.Read(p)
	}
	n, err := r.opener.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	if err := r.fallBack(); err != nil {
		return 0, err
	}
	return r.remote.Read(p)
}

// fallBack drops the copy and opens the blob from the store at the
// reader's position.
func (r *cachedReader) fallBack() error {
	r.s.cfg.Cache.Remove(r.ref)
	r.f.Close()
	remote, err := r.s.openRemote(r.ref)
	if err != nil {
		return err
	}
	if _, err := remote.Seek(r.opener.pos, io.SeekStart); err != nil {
		remote.Close()
		return err
	}
	r.remote = remote
	return nil
}

// Seek implements [io.Seeker].
func (r *cachedReader) Seek(offset int64, whence int) (int64, error) {
	if r.bufs == nil {
		return 0, errClosed
	}
	if r.remote != nil {
		return r.remote.Seek(offset, whence)
	}
	return r.opener.Seek(offset, whence)
}

// Close closes the copy, or the store's reader after a fall back, and
// gives the opener's buffers back.
func (r *cachedReader) Close() error {
	if r.bufs == nil {
		return nil
	}
	r.opener.win, r.opener.chunk, r.opener.cur = nil, nil, -1
	r.s.bufs.Put(r.bufs)
	r.bufs = nil
	if r.remote != nil {
		return r.remote.Close()
	}
	return r.f.Close()
}

// KeepCopy keeps data, the content of the blob ref, as a copy in the
// node's cache, sealed as the store would seal its object, though the
// store need not hold the blob: a small file's content that the files
// package keeps in its database (on PostgreSQL, a round trip and the
// server's reads of the value for every read of it), once it falls out
// of that package's memory unread or is read from the database. Sealing,
// writing and a check that data is what ref names (its SHA-256) happen
// in the background, and not at all when the cache has the copy, is too
// full of writes waiting, or there is no cache. The store owns data from
// then on and never changes it. The copy is one of the cache's copies
// ([cache.Cache.AddCopy]), apart from its copies of objects: [Store.Open]
// does not read it, [Store.ReadCopy] does.
func (s *Store) KeepCopy(ref blob.Ref, data []byte) {
	c := s.cfg.Cache
	if c == nil || checkRef(ref) != nil {
		return
	}
	n := int64(len(data))
	c.AddCopy(ref, sealedLen(n), func(p []byte) error {
		if sum := sha256.Sum256(data); blob.RefOf(sum[:]) != ref {
			return fmt.Errorf("blob/s3: copy of %s: the content is another's", ref)
		}
		sl, err := newSealer(bytes.NewReader(data), n, s.cfg.Key, ref, s.chunks)
		if err != nil {
			return err
		}
		// Sealed whole, into the cache's record: io.Copy's reads of 32
		// KiB sealed each 64 KiB chunk twice.
		if m, err := sl.ReadAt(p, 0); m != len(p) {
			return fmt.Errorf("blob/s3: copy of %s: sealed %d of %d bytes: %w", ref, m, len(p), err)
		}
		return nil
	})
}

// ReadCopy returns the content of the blob ref from its copy in the
// node's cache that [Store.KeepCopy] kept, every byte checked, without
// asking the store (which need not hold it). It returns false when there
// is no cache, no copy, a copy of a content over limit bytes, or a copy
// that fails its check (which it drops): the caller then reads the
// content where it is kept.
func (s *Store) ReadCopy(ref blob.Ref, limit int64) ([]byte, bool) {
	c := s.cfg.Cache
	if c == nil {
		return nil, false
	}
	r, ok := c.OpenCopy(ref)
	if !ok {
		return nil, false
	}
	plain, ok := plainLen(r.Size())
	if !ok {
		c.RemoveCopy(ref)
		return nil, false
	}
	if plain > limit {
		return nil, false
	}
	bufs := s.bufs.Get().(*openerBufs)
	defer s.bufs.Put(bufs)
	o, err := newChunkOpener(r, r.Size(), s.cfg.Key, ref, bufs)
	if err == nil {
		data := make([]byte, plain)
		if _, err = io.ReadFull(o, data); err == nil {
			return data, true
		}
	}
	// Damaged, cut short or another's: not read again. A copy in a
	// segment dropped meanwhile (os.ErrClosed) is forgotten already, and
	// the copy now indexed, if any, is a newer one.
	if !errors.Is(err, os.ErrClosed) {
		c.RemoveCopy(ref)
	}
	return nil, false
}
