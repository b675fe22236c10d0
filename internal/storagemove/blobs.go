package storagemove

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/caucus-org/caucus/internal/blob"
)

// blobWorkers is how many blobs are copied or read back at once: an
// object store answers each request after a round trip, a directory
// after two fsyncs, so several in flight keep either busy.
const blobWorkers = 8

// eachBlob calls fn for every blob of st, blobWorkers at a time, through
// st's Walk (the walk the backup makes), and returns the first error.
func eachBlob(ctx context.Context, st blob.Store, fn func(ref blob.Ref) error) error {
	refs := make(chan blob.Ref)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	failed := func() error { mu.Lock(); defer mu.Unlock(); return first }
	for range blobWorkers {
		wg.Go(func() {
			for ref := range refs {
				if err := fn(ref); err != nil {
					fail(fmt.Errorf("%s: %w", ref, err))
				}
			}
		})
	}
	err := st.Walk(func(ref blob.Ref, _ fs.FileInfo) error {
		if err := failed(); err != nil {
			return err
		}
		select {
		case refs <- ref:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(refs)
	wg.Wait()
	if first := failed(); first != nil {
		return first
	}
	return err
}

// CopyBlobs copies every blob of every owner's store in src ("mail",
// "queue", "files" …) into the same owner's store in dst, passing over
// those dst has. It prints a line per owner on out.
func CopyBlobs(ctx context.Context, src, dst map[string]blob.Store, out io.Writer) error {
	for _, owner := range slices.Sorted(maps.Keys(src)) {
		to := dst[owner]
		if to == nil {
			return fmt.Errorf("storagemove: no target store for the blobs of %s", owner)
		}
		var copied, had, size atomic.Int64
		err := eachBlob(ctx, src[owner], func(ref blob.Ref) error {
			ok, err := to.Has(ref)
			if err != nil {
				return err
			}
			if ok {
				had.Add(1)
				return nil
			}
			n, err := copyBlob(ctx, src[owner], to, ref)
			copied.Add(1)
			size.Add(n)
			return err
		})
		if err != nil {
			return fmt.Errorf("storagemove: blobs of %s: %w", owner, err)
		}
		fmt.Fprintf(out, "  blobs %-22s %8d copied (%d bytes), %d there already\n", owner, copied.Load(), size.Load(), had.Load())
	}
	return nil
}

// copyBlob copies one blob and checks that the target named it alike.
func copyBlob(ctx context.Context, from, to blob.Store, ref blob.Ref) (int64, error) {
	r, err := from.Open(ref)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	got, n, err := to.Put(ctx, r, 0)
	if err != nil {
		return 0, err
	}
	if got != ref {
		return 0, fmt.Errorf("blob %s was stored as %s", ref, got)
	}
	return n, nil
}

// VerifyBlobs checks that every blob of src is in dst and reads back
// whole, its SHA-256 its name. It prints a line per owner on out and
// returns an error wrapping [ErrMismatch] that counts the blobs missing
// or damaged.
func VerifyBlobs(ctx context.Context, src, dst map[string]blob.Store, out io.Writer) error {
	var bad int64
	for _, owner := range slices.Sorted(maps.Keys(src)) {
		var n, missing atomic.Int64
		var mu sync.Mutex
		err := eachBlob(ctx, src[owner], func(ref blob.Ref) error {
			n.Add(1)
			if err := readable(dst[owner], ref); err != nil {
				missing.Add(1)
				mu.Lock()
				fmt.Fprintf(out, "  blobs %s: %s: %v\n", owner, ref, err)
				mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("storagemove: blobs of %s: %w", owner, err)
		}
		mark := "all there and whole"
		if m := missing.Load(); m > 0 {
			mark = fmt.Sprintf("%d MISSING OR DAMAGED", m)
		}
		fmt.Fprintf(out, "  blobs %-22s %8d: %s\n", owner, n.Load(), mark)
		bad += missing.Load()
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d blobs missing or damaged", ErrMismatch, bad)
	}
	return nil
}

// errNoStore is readable's error when the target has no store at all.
var errNoStore = errors.New("no store")

// readable reads the blob ref from st and checks its hash.
func readable(st blob.Store, ref blob.Ref) error {
	if st == nil {
		return errNoStore
	}
	r, err := st.Open(ref)
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != string(ref) {
		return errors.New("its content does not hash to its name")
	}
	return nil
}
