package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Batch stores many blobs that become durable together: a bulk import
// writes each message's blob with Put, then makes all of them durable
// with one Commit, and only then commits the rows that refer to them.
// Each Put's content is neither durable nor visible (to Open, Has, Walk)
// until Commit returns nil; Abort, or a crash, leaves none of them. A
// Batch is used by one goroutine.
type Batch interface {
	// Put reads r as [Store.Put] does and returns its reference and
	// size, for Commit to make durable.
	Put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error)
	// Commit makes every blob of the batch durable and visible, as
	// Store.Put does for one. On error some may be and others not.
	Commit(ctx context.Context) error
	// Abort forgets the blobs not committed. It may be called after
	// Commit, and more than once.
	Abort()
}

// Batcher is a [Store] that makes many blobs durable at a lower cost
// than one Put each ([Dir]: the files synced at once, each directory
// synced once).
type Batcher interface {
	NewBatch() Batch
}

// NewBatch returns a batch for s: its own if it is a [Batcher], else
// one whose Put is s.Put (durable at once) and whose Commit does nothing.
func NewBatch(s Store) Batch {
	if b, ok := s.(Batcher); ok {
		return b.NewBatch()
	}
	return putEach{s}
}

// putEach is the Batch of a Store that is no Batcher.
type putEach struct{ s Store }

func (p putEach) Put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error) {
	return p.s.Put(ctx, r, limit)
}
func (putEach) Commit(context.Context) error { return nil }
func (putEach) Abort()                       {}

// batchSyncs is how many files a Dir batch's Commit syncs at once: the
// file system's journal takes concurrent syncs in one commit.
const batchSyncs = 16

// dirBatch is the Batch of a Dir.
type dirBatch struct {
	s      *Dir
	staged []*staged
}

// NewBatch returns a batch of blobs written into s's temporary files,
// synced together and named at Commit.
func (s *Dir) NewBatch() Batch { return &dirBatch{s: s} }

func (b *dirBatch) Put(ctx context.Context, r io.Reader, limit int64) (Ref, int64, error) {
	st, err := b.s.stage(ctx, r, limit)
	if err != nil {
		return "", 0, err
	}
	b.staged = append(b.staged, st)
	return st.ref, st.n, nil
}

// Commit syncs the temporary files, batchSyncs at a time, then names
// them and syncs each of their directories once: the order of Put
// (data synced, then named, then the name synced), for many at once.
func (b *dirBatch) Commit(ctx context.Context) error {
	defer b.Abort()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: batch: %w", err)
	}
	errs := b.s.commitStaged(b.staged)
	b.staged = nil
	return errors.Join(errs...)
}

// commitStaged makes the staged blobs sts durable: syncs their files,
// batchSyncs at a time, then names them and syncs each of their
// directories once. It returns each one's error; a failed one leaves
// nothing behind.
func (s *Dir) commitStaged(sts []*staged) []error {
	errs := make([]error, len(sts))
	if len(sts) == 1 { // a lone Put: no goroutine
		if err := s.ops.sync(sts[0].f); err != nil {
			errs[0] = fmt.Errorf("blob: put: sync: %w", err)
		}
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, batchSyncs)
		for i, st := range sts {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := s.ops.sync(st.f); err != nil {
					errs[i] = fmt.Errorf("blob: put: sync: %w", err)
				}
			})
		}
		wg.Wait()
	}
	var names dirNames
	placed := make([]int, 0, len(sts))
	for i, st := range sts {
		if errs[i] != nil {
			st.discard()
		} else if errs[i] = s.place(st, &names); errs[i] == nil {
			placed = append(placed, i)
		}
	}
	s.commits.Add(1)
	if err := s.syncNames(&names); err != nil {
		for _, i := range placed {
			errs[i] = err
		}
	}
	return errs
}

// Abort removes the temporary files not yet named.
func (b *dirBatch) Abort() {
	for _, st := range b.staged {
		st.discard()
	}
	b.staged = nil
}
