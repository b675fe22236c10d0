package mailimport

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"cmp"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/text/unicode/norm"
)

// Google Takeout archives: a ZIP (read by its central directory, APPNOTE
// 6.3.10 section 4.3.16, on the file itself; deflated entries inflated by
// klauspost/compress, see zipArchive.inflate) or a tar (POSIX.1-2008 pax),
// gzipped (RFC 1952) as Takeout's .tgz or bzip2ed as its older .tbz,
// read as a stream. Nothing is unpacked to
// disk: each entry is read from the archive when it is imported.
//
// An archive comes from outside and is hostile until read. Its bounds:
//
//   - names: at most maxEntryName bytes of UTF-8, relative, "/"
//     separated, without "", "." or ".." elements, backslashes, NUL or
//     control characters (a name that could escape the tree is refused,
//     never cleaned into another);
//   - entries: at most maxEntries per archive; the same name twice (in
//     NFC) is refused the second time;
//   - zip bombs: an entry of more than ratioFloor bytes may expand at
//     most maxRatio times its compressed size (deflate at its best on
//     text stays far below; bombs are near 1000), ZIP entries may not
//     share their compressed data (overlapping entries, the "better zip
//     bomb"), a gzip or bzip2 stream as a whole may not expand more
//     than maxRatio times plus ratioFloor, nor a tar's entries; sparse
//     files, whose holes read as zeros the archive does not hold, are
//     refused. archive/zip refuses an entry longer
//     than its header says.

// Bounds on archives.
const (
	maxEntries   = 1 << 20
	maxEntryName = 4096
	maxRatio     = 200
	ratioFloor   = 1 << 20
)

// Errors of archive reading.
var (
	errUnsafeName = errors.New("unsafe name in the archive")
	errBomb       = errors.New("the archive expands far more than any real archive (a zip bomb?)")
	errDupEntry   = errors.New("the same name appears twice in the archive")
	errArchive    = errors.New("the archive cannot be read")
)

// entry is one file of an archive.
type entry struct {
	index int    // position in the archive
	raw   string // the name as the archive spells it
	name  string // the checked name; "" when err is set
	dir   bool
	size  int64 // uncompressed, as declared
	end   int64 // ZIP: the offset after its compressed data
	mtime time.Time
	err   error // why it cannot be imported (unsafe name, bomb, duplicate)

	zf *zip.File
}

// archive is an opened Takeout archive.
type archive interface {
	// walk calls fn with each entry, in the archive's order, and a reader
	// of its content (nil for an entry with err or a folder). fn must not
	// keep r. An error reading the archive itself (truncated, corrupt)
	// stops the walk and is returned wrapping errArchive.
	walk(ctx context.Context, fn func(e *entry, r io.Reader) error) error
	// read says how many bytes of the archive file the walk has read,
	// for progress.
	read() int64
	Close() error
}

// openArchive opens the archive at path: a ZIP, a tar, a gzipped or a
// bzip2ed tar, told apart by their first bytes.
func openArchive(path string) (archive, error) { return openArchiveMax(path, maxEntries) }

// openArchiveMax is openArchive with at most entries entries.
func openArchiveMax(path string, entries int) (archive, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errArchive, err)
	}
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	switch {
	case n >= 2 && magic[0] == 'P' && magic[1] == 'K':
		a, err := openZip(f, entries)
		if err != nil {
			f.Close()
			return nil, err
		}
		return a, nil
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		return &tarArchive{f: f, comp: "gzip", max: entries}, nil
	case n >= 3 && string(magic[:3]) == "BZh":
		return &tarArchive{f: f, comp: "bzip2", max: entries}, nil
	}
	return &tarArchive{f: f, max: entries}, nil
}

// checkName checks an entry's name and returns it without a trailing
// "/" (a folder) and without the leading "Takeout/".
func checkName(raw string) (name string, dir bool, err error) {
	switch {
	case raw == "":
		return "", false, fmt.Errorf("%w: empty", errUnsafeName)
	case len(raw) > maxEntryName:
		return "", false, fmt.Errorf("%w: longer than %d bytes", errUnsafeName, maxEntryName)
	case !utf8.ValidString(raw):
		return "", false, fmt.Errorf("%w: not UTF-8", errUnsafeName)
	case raw[0] == '/':
		return "", false, fmt.Errorf("%w: absolute", errUnsafeName)
	case len(raw) >= 2 && raw[1] == ':':
		return "", false, fmt.Errorf("%w: a drive letter", errUnsafeName)
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "", false, fmt.Errorf("%w: contains %q", errUnsafeName, r)
		}
	}
	name, dir = strings.CutSuffix(raw, "/")
	for el := range strings.SplitSeq(name, "/") {
		if el == "" || el == "." || el == ".." {
			return "", false, fmt.Errorf("%w: element %q", errUnsafeName, el)
		}
	}
	return strings.TrimPrefix(name, "Takeout/"), dir, nil
}

// nameKey is what makes two names the same: their NFC form, as the file
// store keeps names (a Mac's NFD "Cafe\u0301" and "Caf\u00e9" are one name
// there; the second would silently become a version of the first).
func nameKey(name string) string { return norm.NFC.String(name) }

// tooExpanded reports whether an entry of size bytes stored in csize
// compressed bytes expands beyond the bounds.
func tooExpanded(size, csize int64) bool {
	return size > ratioFloor && size/maxRatio > csize
}

// zipArchive is a ZIP read through its central directory.
type zipArchive struct {
	f       *os.File
	entries []*entry
	pos     int64     // the end of the last entry walked
	flates  sync.Pool // inflaters to use again, as flate.Resetter
}

// inflate returns a reader of r's deflated data (RFC 1951), for
// archive/zip, which still checks each entry's size and CRC-32 itself.
// It is klauspost/compress's inflater: on Takeout's mail it takes about
// two thirds of compress/flate's CPU time (3.8-4.1 against 5.8-6.7
// CPU-ms per MB inflated), and inflating was the largest single cost
// of importing a Takeout ZIP. Inflaters are used again, entry after
// entry (a Drive of many small files).
func (a *zipArchive) inflate(r io.Reader) io.ReadCloser {
	if d, ok := a.flates.Get().(io.ReadCloser); ok && d.(flate.Resetter).Reset(r, nil) == nil {
		return &inflater{ReadCloser: d, a: a}
	}
	return &inflater{ReadCloser: flate.NewReader(r), a: a}
}

// inflater is an entry's inflater, given back for the next at Close.
type inflater struct {
	io.ReadCloser
	a *zipArchive
}

func (i *inflater) Close() error {
	err := i.ReadCloser.Close()
	if i.a != nil {
		i.a.flates.Put(i.ReadCloser)
		i.a = nil // closed twice: given back once
	}
	return err
}

// openZip reads the central directory and checks every entry.
func openZip(f *os.File, entries int) (*zipArchive, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errArchive, err)
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: %w", errArchive, err)
	}
	if len(zr.File) > entries {
		return nil, fmt.Errorf("%w: more than %d entries", errArchive, entries)
	}
	a := &zipArchive{f: f}
	zr.RegisterDecompressor(zip.Deflate, a.inflate)
	seen := map[string]bool{}
	type span struct {
		start, end int64
		e          *entry
	}
	var spans []span
	for i, zf := range zr.File {
		e := &entry{index: i, raw: zf.Name, size: int64(zf.UncompressedSize64), mtime: zf.Modified, zf: zf}
		e.name, e.dir, e.err = checkName(zf.Name)
		if e.err == nil && seen[nameKey(e.name)] {
			e.err = errDupEntry
		}
		if e.err == nil && (zf.UncompressedSize64 > 1<<62 || tooExpanded(e.size, int64(zf.CompressedSize64))) {
			e.err = errBomb
		}
		if e.err == nil {
			seen[nameKey(e.name)] = true
			if off, err := zf.DataOffset(); err != nil {
				e.err = fmt.Errorf("%w: %w", errArchive, err)
			} else if e.end = off + int64(zf.CompressedSize64); !e.dir || zf.CompressedSize64 > 0 {
				spans = append(spans, span{off, e.end, e})
			}
		}
		a.entries = append(a.entries, e)
	}
	// Entries sharing compressed data: each expands the same bytes
	// again. All of them are refused.
	slices.SortFunc(spans, func(x, y span) int { return cmp.Compare(x.start, y.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			spans[i].e.err, spans[i-1].e.err = errBomb, errBomb
		}
	}
	return a, nil
}

func (a *zipArchive) read() int64 { return a.pos }

func (a *zipArchive) walk(ctx context.Context, fn func(*entry, io.Reader) error) error {
	for _, e := range a.entries {
		a.pos = max(a.pos, e.end)
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.err != nil || e.dir {
			if err := fn(e, nil); err != nil {
				return err
			}
			continue
		}
		rc, err := a.open(ctx, e)
		if err != nil {
			e.err = err
			if err := fn(e, nil); err != nil {
				return err
			}
			continue
		}
		err = fn(e, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *zipArchive) open(ctx context.Context, e *entry) (io.ReadCloser, error) {
	rc, err := e.zf.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errArchive, e.raw, err)
	}
	return &archiveReader{r: rc, c: rc, name: e.raw}, nil
}

func (a *zipArchive) Close() error { return a.f.Close() }

// archiveReader wraps an entry's reader so that its errors say that the
// archive is damaged (archive/zip's checksum and format errors come at
// the end of a read).
type archiveReader struct {
	r    io.Reader
	c    io.Closer
	name string
}

func (r *archiveReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %s: %w", errArchive, r.name, err)
	}
	return n, err
}

func (r *archiveReader) Close() error {
	if r.c != nil {
		return r.c.Close()
	}
	return nil
}

// tarArchive is a tar, or a gzipped tar, read as a stream.
type tarArchive struct {
	f    *os.File
	comp string   // "", "gzip", "bzip2"
	max  int      // entries
	out  int64    // bytes the entries gave out
	file *counter // the archive file as the walk reads it
}

func (a *tarArchive) read() int64 {
	if a.file == nil {
		return 0
	}
	return a.file.n
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// bombGuard fails a read once the gzip stream has expanded beyond the
// bounds.
type bombGuard struct {
	r       io.Reader
	in, out *counter
}

func (g *bombGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if g.out.n > ratioFloor && g.out.n/maxRatio > g.in.n {
		return n, errBomb
	}
	return n, err
}

// stream opens the tar stream from the start of the file.
func (a *tarArchive) stream() (*tar.Reader, io.Closer, error) {
	a.file = &counter{r: io.NewSectionReader(a.f, 0, 1<<62)}
	in := &counter{r: bufio.NewReaderSize(a.file, 64<<10)}
	var dec io.Reader
	var c io.Closer
	switch a.comp {
	case "":
		return tar.NewReader(in), nil, nil
	case "bzip2":
		dec = bzip2.NewReader(in)
	default:
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errArchive, err)
		}
		dec, c = zr, zr
	}
	out := &counter{r: dec}
	return tar.NewReader(&bombGuard{r: out, in: in, out: out}), c, nil
}

// next reads the next header; io.EOF at the end.
func (a *tarArchive) next(tr *tar.Reader, i int, seen map[string]bool) (*entry, error) {
	h, err := tr.Next()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		if errors.Is(err, errBomb) {
			return nil, fmt.Errorf("%w: %w", errArchive, errBomb)
		}
		return nil, fmt.Errorf("%w: after %d entries: %w", errArchive, i, err)
	}
	if i >= a.max {
		return nil, fmt.Errorf("%w: more than %d entries", errArchive, a.max)
	}
	e := &entry{index: i, raw: h.Name, size: h.Size, mtime: h.ModTime}
	e.name, e.dir, e.err = checkName(h.Name)
	switch {
	case e.err != nil:
	case isSparse(h):
		// Its holes read as zeros that the archive does not hold: a
		// few KiB of tar become any size, compressed or not.
		e.err = fmt.Errorf("%w: a sparse file", errUnsafeName)
	case h.Typeflag == tar.TypeDir:
		e.dir = true
	case h.Typeflag != tar.TypeReg:
		e.err = fmt.Errorf("%w: not a regular file (type %q)", errUnsafeName, h.Typeflag)
	case seen[nameKey(e.name)]:
		e.err = errDupEntry
	}
	if e.err == nil && !e.dir {
		seen[nameKey(e.name)] = true
	}
	return e, nil
}

// isSparse reports whether h is a sparse file, in the old GNU form or in
// pax's (GNU sparse formats 0.x and 1.0, which Go reads as regular files).
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// outGuard fails a read once the tar stream has given out more than the
// bounds allow for the archive bytes read (whatever made it expand).
type outGuard struct {
	r io.Reader
	a *tarArchive
}

func (g *outGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	g.a.out += int64(n)
	if g.a.out > ratioFloor && g.a.out/maxRatio > g.a.file.n {
		return n, errBomb
	}
	return n, err
}

func (a *tarArchive) walk(ctx context.Context, fn func(*entry, io.Reader) error) error {
	tr, c, err := a.stream()
	if err != nil {
		return err
	}
	if c != nil {
		defer c.Close()
	}
	seen := map[string]bool{}
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := a.next(tr, i, seen)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var r io.Reader
		if e.err == nil && !e.dir {
			r = &archiveReader{r: &outGuard{r: tr, a: a}, name: e.raw}
		}
		if err := fn(e, r); err != nil {
			return err
		}
	}
}

func (a *tarArchive) Close() error { return a.f.Close() }
