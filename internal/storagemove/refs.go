package storagemove

import (
	"context"
	"fmt"
	"io"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
)

// BlobColumn is a column whose values are blob references into one
// owner's store.
type BlobColumn struct {
	Table, Column string
	Owner         string // "mail", "files" …
	// Inline, if set, is a table whose ref column holds contents kept in
	// the database instead (files_inline): its refs need no blob.
	Inline string
}

// VerifyRefs checks that every blob the target database d refers to (in
// cols; a table d lacks is passed over) is in the target's store of its
// owner. A reference that the source's store lacks as well was dangling
// before the move (a body the collector took after its message went) and
// is counted apart, not as a failure. It returns an error wrapping
// [ErrMismatch] when the target lacks a blob the source has.
func VerifyRefs(ctx context.Context, d *db.DB, cols []BlobColumn, src, dst map[string]blob.Store, out io.Writer) error {
	var bad int
	for _, c := range cols {
		ok, err := exists(ctx, d, c.Table)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		q := `SELECT DISTINCT ` + quote(c.Column) + ` FROM ` + quote(c.Table) + ` WHERE ` + quote(c.Column) + ` <> ''`
		if c.Inline != "" {
			q += ` AND ` + quote(c.Column) + ` NOT IN (SELECT ref FROM ` + quote(c.Inline) + `)`
		}
		refs, err := strings1(ctx, d, q)
		if err != nil {
			return err
		}
		var missing, dangling int
		for _, s := range refs {
			ref, err := blob.ParseRef(s)
			if err != nil {
				dangling++
				continue
			}
			if has(dst[c.Owner], ref) {
				continue
			}
			if has(src[c.Owner], ref) {
				missing++
				fmt.Fprintf(out, "  %s.%s: %s is not in the target's %s store\n", c.Table, c.Column, ref, c.Owner)
			} else {
				dangling++
			}
		}
		mark := "all in the target"
		if missing > 0 {
			mark = fmt.Sprintf("%d MISSING", missing)
		}
		if dangling > 0 {
			mark += fmt.Sprintf(" (%d in neither store, as before the move)", dangling)
		}
		fmt.Fprintf(out, "  refs %-32s %6d: %s\n", c.Table+"."+c.Column, len(refs), mark)
		bad += missing
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d blobs the database refers to are not in the target", ErrMismatch, bad)
	}
	return nil
}

// has reports whether st holds ref; a missing store or an error is no.
func has(st blob.Store, ref blob.Ref) bool {
	if st == nil {
		return false
	}
	ok, err := st.Has(ref)
	return err == nil && ok
}
