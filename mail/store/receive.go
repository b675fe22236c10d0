package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/caucus-org/caucus/internal/blob"
)

// inMemory is a body the caller holds in memory (*bytes.Reader,
// *strings.Reader: the MX's and submission's messages), which the store
// can hash before storing it and parse without reading it back.
type inMemory interface {
	io.ReaderAt
	Len() int    // bytes not yet read
	Size() int64 // bytes in all
}

// receiveInMemory is [Store.receive] for a body in memory. It costs the
// blob store one Put and nothing else, which on an object store is one
// request instead of four (the Put, a GET to parse what was just stored,
// and the HEAD in the write transaction, which every delivery queued
// behind it waited for):
//
//   - the body is hashed first, so that its reference is known before
//     the Put, and one statement asks whether any row (blobs, or
//     blob_orphans of a failed delivery) names it yet;
//   - if none does, the blob cannot be collected until GCGrace after that
//     look (the collector deletes only blobs rows have named that long),
//     so the write transaction need not look for it ([Store.mayBeCollected]);
//   - a body no blobs row names is parsed from memory.
func (s *Store) receiveInMemory(ctx context.Context, m inMemory) (*incoming, error) {
	n := int64(m.Len())
	if n > s.opts.MaxMessageSize {
		return nil, s.tooLarge()
	}
	body := io.NewSectionReader(m, m.Size()-n, n)
	h := sha256.New()
	if _, err := io.Copy(h, body); err != nil {
		return nil, fmt.Errorf("store: hashing message: %w", err)
	}
	in := &incoming{ref: blob.RefOf(h.Sum(nil)), size: n}
	looked := s.now()
	var rowed, noted bool
	err := s.db.Stmts(nil).QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM blobs WHERE ref = ?1),
		EXISTS (SELECT 1 FROM blob_orphans WHERE ref = ?1)`, string(in.ref)).Scan(&rowed, &noted)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s.pin(in.ref) // before the Put: see CollectGarbage
	ref, size, err := s.blobs.Put(ctx, io.NewSectionReader(m, m.Size()-n, n), s.opts.MaxMessageSize)
	if err != nil {
		s.unpin(in.ref)
		if errors.Is(err, blob.ErrTooLarge) {
			return nil, s.tooLarge()
		}
		return nil, fmt.Errorf("store: storing message: %w", err)
	}
	if ref != in.ref || size != n {
		// Not the naming blob.Store documents: look as for any reader.
		s.unpin(in.ref)
		in = &incoming{ref: ref, size: size}
		s.pin(in.ref)
		if err := s.prepare(ctx, in, true); err != nil {
			s.release(ctx, in, false)
			return nil, err
		}
		return in, nil
	}
	if !rowed && !noted {
		in.unseenAt = looked
	}
	if err := s.parseInMemory(in, io.NewSectionReader(m, m.Size()-n, n), rowed); err != nil {
		s.release(ctx, in, false)
		return nil, err
	}
	return in, nil
}

// parseInMemory is [Store.prepare] for a body in memory, read from body
// instead of the blob store; rowed says whether a blobs row named it.
func (s *Store) parseInMemory(in *incoming, body io.ReadSeeker, rowed bool) error {
	if in.size == 0 {
		return fmt.Errorf("store: empty message")
	}
	if rowed {
		return nil
	}
	p, err := parseMessageText(body, in.size, true)
	if err != nil {
		return err
	}
	in.p = p
	s.headers.put(in.ref, p.headers) // as parse keeps them
	return nil
}

// mayBeCollected reports whether CollectGarbage may have deleted in's blob
// after its Put, so that the write transaction must check it is there.
// Not if no row named the blob when in.unseenAt was taken, before the
// Put: the collector deletes only blobs that a blobs row has marked
// unreferenced, or a failed delivery has noted, for GCGrace, and any row
// made since is younger. Half of GCGrace is the bound kept, leaving the
// rest to clocks that differ between nodes.
func (s *Store) mayBeCollected(in *incoming) bool {
	return in.unseenAt.IsZero() || s.now().Sub(in.unseenAt) >= GCGrace/2
}
