package storagemove

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caucus-org/caucus/internal/db"
)

// ErrMismatch is the error of a verification that found a difference.
var ErrMismatch = errors.New("storagemove: the target differs from the source")

// digest is what [VerifyDatabase] compares per table: the row count and
// the sum, modulo 2^256, of the SHA-256 of each row's canonical form. A
// sum does not depend on the rows' order, which the engines' collations
// would make differ for text keys (PostgreSQL's locale against SQLite's
// bytes); a row missing, added or changed changes it.
type digest struct {
	rows int64
	sum  [4]uint64
}

// add adds one row's hash.
func (d *digest) add(h [32]byte) {
	var carry uint64
	for i := range 4 {
		d.sum[i], carry = bits.Add64(d.sum[i], binary.LittleEndian.Uint64(h[i*8:]), carry)
	}
	d.rows++
}

// String shows the digest's first bytes.
func (d digest) String() string {
	var b [32]byte
	for i, w := range d.sum {
		binary.LittleEndian.PutUint64(b[i*8:], w)
	}
	return fmt.Sprintf("%d rows, digest %s", d.rows, hex.EncodeToString(b[:6]))
}

// canon is a value's canonical form, alike on both engines: an integer in
// decimal (a boolean as 0 or 1), a float in Go's shortest form, text and
// bytes alike as their bytes with their length, NULL as N.
func canon(v any) string {
	switch x := v.(type) {
	case nil:
		return "N"
	case int64:
		return "I" + strconv.FormatInt(x, 10)
	case bool:
		if x {
			return "I1"
		}
		return "I0"
	case float64:
		return "F" + strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return "S" + strconv.Itoa(len(x)) + ":" + x
	case []byte:
		return "S" + strconv.Itoa(len(x)) + ":" + string(x)
	case time.Time:
		return "T" + x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprintf("?%T:%v", v, v)
	}
}

// tableDigest reads every row of table t's columns cols from d.
func tableDigest(ctx context.Context, d *db.DB, t string, cols []string) (digest, error) {
	qc := make([]string, len(cols))
	for i, c := range cols {
		qc[i] = quote(c)
	}
	var dg digest
	rows, err := d.QueryContext(ctx, `SELECT `+strings.Join(qc, ", ")+` FROM `+quote(t))
	if err != nil {
		return dg, fmt.Errorf("storagemove: reading %s: %w", t, err)
	}
	defer rows.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return dg, fmt.Errorf("storagemove: reading %s: %w", t, err)
		}
		b.Reset()
		for _, v := range vals {
			b.WriteString(canon(v))
			b.WriteByte(0)
		}
		dg.add(sha256.Sum256([]byte(b.String())))
	}
	if err := rows.Err(); err != nil {
		return dg, fmt.Errorf("storagemove: reading %s: %w", t, err)
	}
	return dg, nil
}

// VerifyDatabase compares every table of src and dst (but [rebuilt] and
// [skipped]): the same tables and columns, and per table the same
// [digest]. It prints a line per table on out, and returns an error
// wrapping [ErrMismatch] naming the tables that differ.
func VerifyDatabase(ctx context.Context, src, dst *db.DB, out io.Writer) error {
	st, dt, err := catalogues(ctx, src, dst)
	if err != nil {
		return err
	}
	cols, _, err := matching(st, dt)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	names := make([]string, 0, len(cols))
	for n := range cols {
		names = append(names, n)
	}
	slices.Sort(names)
	var bad []string
	for _, n := range names {
		// The columns in one order on both sides: the target's.
		a, err := tableDigest(ctx, src, n, cols[n])
		if err != nil {
			return err
		}
		b, err := tableDigest(ctx, dst, n, cols[n])
		if err != nil {
			return err
		}
		mark := "same"
		if a != b {
			mark = "DIFFERS: target " + b.String()
			bad = append(bad, n)
		}
		fmt.Fprintf(out, "  %-28s %s: %s\n", n, a, mark)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: tables %s", ErrMismatch, strings.Join(bad, ", "))
	}
	return nil
}
