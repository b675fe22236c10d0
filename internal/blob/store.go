package blob

import (
	"context"
	"io"
	"io/fs"
)

// Store is content-addressed blob storage: message bodies, file contents,
// queued messages. [Dir] (a local directory) implements it; another backend
// (an S3-compatible object store) slots in behind the same methods, and
// package blobtest checks that an implementation keeps the guarantees below.
//
// Every implementation guarantees:
//
//   - Content addressing: a blob is named by the [Ref] of its content, the
//     lowercase hexadecimal SHA-256 (FIPS 180-4) of its bytes, computed by
//     the store while it reads. Storing content already present succeeds,
//     returns the same Ref and keeps one copy.
//   - Durability: when Put returns nil, the blob survives a crash or power
//     loss of the machine (for [Dir]: file fsync, rename, directory fsync,
//     in that order; for a file without a name, fdatasync, linkat, file
//     fsync, directory fsync). Callers commit the database rows that refer to a blob
//     only after Put has returned, and acknowledge nothing before. A Put
//     that fails or crashes leaves no blob visible to Open, Has or Walk.
//   - Streaming: Put's memory use does not depend on the blob's size. Put
//     checks ctx before every Read of r and stops with [ErrTooLarge] after
//     reading more than limit bytes (limit <= 0: no limit).
//   - Reading: Open returns a reader positioned at the start that can seek
//     anywhere in the blob; the caller closes it. A missing blob's error
//     matches [ErrNotFound]; a malformed Ref's, [ErrBadRef] (so do Has's
//     and Delete's).
//   - Deletion: Delete removes the blob durably; deleting a missing blob is
//     no error. The store counts no references: callers decide when a blob
//     may go, honour the blob holds that pause collectors (a backup in
//     progress, [github.com/caucus-org/caucus/internal/db.DB.HoldBlobs]), and
//     make sure no Put of the same content races a Delete.
//   - Walk calls fn once for every blob stored before Walk began and not
//     deleted meanwhile, in no particular order; blobs stored during the walk
//     may or may not be seen, never half-written ones. info.Name() is the
//     Ref, info.Size() its length, info.ModTime() when it was stored (the
//     collectors spare younger blobs). An error from fn stops the walk and is
//     returned.
//   - Concurrency: every method is safe for concurrent use by several
//     goroutines, and by several processes sharing the storage (the
//     `caucus backup` command beside the server).
type Store interface {
	// Put stores what r yields and returns its reference and size.
	Put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error)
	// Open opens the blob ref for reading.
	Open(ref Ref) (io.ReadSeekCloser, error)
	// Has reports whether the blob ref exists.
	Has(ref Ref) (bool, error)
	// Delete removes the blob ref.
	Delete(ref Ref) error
	// Walk calls fn for every blob.
	Walk(fn func(ref Ref, info fs.FileInfo) error) error
}

// NamedPutter is implemented by a store for which storing content it
// already holds costs a look first (an object store: a HEAD request before
// the PUT, since a PUT of an object that exists replaces it, and a reader
// of the old one may find its ranges changed under it).
type NamedPutter interface {
	// PutNamed is Put, asking named, once the content's Ref is known,
	// whether anything refers to it yet. When nothing does, nothing can
	// be reading it, and the store stores it without looking first
	// whether it holds it already.
	PutNamed(ctx context.Context, r io.Reader, limit int64, named func(Ref) (bool, error)) (Ref, int64, error)
}

var _ Store = (*Dir)(nil)
