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

	"github.com/caucus-org/caucus/internal/blob"
)

// CopyBlobs copies every blob of every owner's store in src ("mail",
// "queue", "files" …) into the same owner's store in dst, through each
// store's Walk (the walk the backup makes), passing over those dst has.
// It prints a line per owner on out.
func CopyBlobs(ctx context.Context, src, dst map[string]blob.Store, out io.Writer) error {
	for _, owner := range slices.Sorted(maps.Keys(src)) {
		to := dst[owner]
		if to == nil {
			return fmt.Errorf("storagemove: no target store for the blobs of %s", owner)
		}
		var copied, had, size int64
		err := src[owner].Walk(func(ref blob.Ref, info fs.FileInfo) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			ok, err := to.Has(ref)
			if err != nil {
				return err
			}
			if ok {
				had++
				return nil
			}
			n, err := copyBlob(ctx, src[owner], to, ref)
			copied, size = copied+1, size+n
			return err
		})
		if err != nil {
			return fmt.Errorf("storagemove: blobs of %s: %w", owner, err)
		}
		fmt.Fprintf(out, "  blobs %-22s %8d copied (%d bytes), %d there already\n", owner, copied, size, had)
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
	var bad int
	for _, owner := range slices.Sorted(maps.Keys(src)) {
		var n, missing int
		err := src[owner].Walk(func(ref blob.Ref, info fs.FileInfo) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			n++
			if err := readable(dst[owner], ref); err != nil {
				missing++
				fmt.Fprintf(out, "  blobs %s: %s: %v\n", owner, ref, err)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("storagemove: blobs of %s: %w", owner, err)
		}
		mark := "all there and whole"
		if missing > 0 {
			mark = fmt.Sprintf("%d MISSING OR DAMAGED", missing)
		}
		fmt.Fprintf(out, "  blobs %-22s %8d: %s\n", owner, n, mark)
		bad += missing
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
