package backup

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// ErrManifest reports a manifest that does not parse.
var ErrManifest = errors.New("backup: bad manifest")

// Limits on a manifest, so that a damaged or hostile one cannot exhaust
// memory.
const (
	maxManifestLine    = 4096
	maxManifestEntries = 50_000_000
	maxPath            = 1024
)

const manifestMagic = "caucus-backup-manifest 1"

// Manifest lists what one backup holds: every file of the data directory it
// saved, with the plaintext's size and SHA-256 and the object in the
// backup's objects/ directory that holds it, encrypted.
//
// Its text form, which is encrypted too, is
//
//	caucus-backup-manifest 1
//	created 2026-11-24T18:00:00Z
//	database postgres
//	file 0600 1234 <sha256 hex> <object hex> caucus.db
//	…
//	end 1
//
// The database line is there only in the backup of a server whose
// database is PostgreSQL (see [Manifest.Database]). Paths are
// slash-separated, relative to the data directory, and valid in the sense
// of [fs.ValidPath]; "end" repeats the number of files, so a truncated
// manifest is refused.
type Manifest struct {
	Created time.Time
	// Database is "" when the backup holds the SQLite database (the file
	// caucus.db), or [DatabasePostgres] when the server kept its
	// database in PostgreSQL: the backup holds the blobs and the data
	// directory's files but not the database, which PostgreSQL's own
	// tools back up (pg_dump, or base backups and the WAL archive).
	Database string
	Files    []File
}

// DatabasePostgres is [Manifest.Database] of a backup whose database is
// in PostgreSQL, not in the backup.
const DatabasePostgres = "postgres"

// File is one file of a backup.
type File struct {
	Path   string      // relative to the data directory, slash-separated
	Mode   fs.FileMode // permission bits only
	Size   int64
	SHA256 [32]byte // of the plaintext
	Object string   // name of the encrypted object: 64 hex digits
}

// Size returns the sum of the files' sizes.
func (m *Manifest) Size() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// WriteTo writes m's text form.
func (m *Manifest) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriter(w)
	var n int64
	p := func(format string, args ...any) {
		k, _ := fmt.Fprintf(bw, format, args...)
		n += int64(k)
	}
	p("%s\ncreated %s\n", manifestMagic, m.Created.UTC().Format(time.RFC3339))
	if m.Database != "" {
		p("database %s\n", m.Database)
	}
	for _, f := range m.Files {
		p("file %04o %d %x %s %s\n", f.Mode.Perm(), f.Size, f.SHA256, f.Object, f.Path)
	}
	p("end %d\n", len(m.Files))
	return n, bw.Flush()
}

// ParseManifest reads a manifest's text form, checking every field: the
// time is UTC to the second, modes are permission bits, sizes
// non-negative, hashes and object names 64 lowercase hex digits, paths
// valid, relative and unique.
func ParseManifest(r io.Reader) (*Manifest, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxManifestLine)
	line := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrManifest, line, fmt.Sprintf(format, args...))
	}
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return sc.Text(), true
	}
	m := &Manifest{}
	if l, ok := next(); !ok || l != manifestMagic {
		return nil, bad("not a caucus backup manifest")
	}
	l, ok := next()
	created, found := strings.CutPrefix(l, "created ")
	if !ok || !found {
		return nil, bad("missing created")
	}
	t, err := time.Parse(time.RFC3339, created)
	if err != nil {
		return nil, bad("created: %v", err)
	}
	// The form WriteTo writes, UTC to the second: another (a fraction, an
	// offset) would be read as one time and written back as another.
	if t.UTC().Format(time.RFC3339) != created {
		return nil, bad("created: %q is not a UTC time to the second", created)
	}
	m.Created = t
	seen := map[string]bool{}
	for {
		l, ok := next()
		if !ok {
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrManifest, err)
			}
			return nil, bad("truncated: no end line")
		}
		if rest, ok := strings.CutPrefix(l, "end "); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n != len(m.Files) {
				return nil, bad("end says %q, found %d files", rest, len(m.Files))
			}
			if sc.Scan() {
				return nil, bad("text after end")
			}
			return m, nil
		}
		if db, ok := strings.CutPrefix(l, "database "); ok && line == 3 {
			if db != DatabasePostgres {
				return nil, bad("database: unknown %q", db)
			}
			m.Database = db
			continue
		}
		rest, ok := strings.CutPrefix(l, "file ")
		if !ok {
			return nil, bad("unknown line")
		}
		if len(m.Files) >= maxManifestEntries {
			return nil, bad("more than %d files", maxManifestEntries)
		}
		fields := strings.SplitN(rest, " ", 5)
		if len(fields) != 5 {
			return nil, bad("file: want 5 fields")
		}
		var f File
		mode, err := strconv.ParseUint(fields[0], 8, 32)
		if err != nil || mode > 0o777 || len(fields[0]) != 4 {
			return nil, bad("file: bad mode %q", fields[0])
		}
		f.Mode = fs.FileMode(mode)
		if f.Size, err = strconv.ParseInt(fields[1], 10, 64); err != nil || f.Size < 0 || fields[1] != strconv.FormatInt(f.Size, 10) {
			return nil, bad("file: bad size %q", fields[1])
		}
		if !isHex64(fields[2]) {
			return nil, bad("file: bad sha256")
		}
		hex.Decode(f.SHA256[:], []byte(fields[2]))
		if !isHex64(fields[3]) {
			return nil, bad("file: bad object name")
		}
		f.Object = fields[3]
		f.Path = fields[4]
		if !validPath(f.Path) {
			return nil, bad("file: bad path %q", f.Path)
		}
		if seen[f.Path] {
			return nil, bad("file: %q twice", f.Path)
		}
		seen[f.Path] = true
		m.Files = append(m.Files, f)
	}
}

// validPath reports whether p may be a manifest's path: valid in the sense
// of [fs.ValidPath], not ".", no longer than maxPath, and without a
// backslash, NUL or line break.
func validPath(p string) bool {
	return len(p) <= maxPath && fs.ValidPath(p) && p != "." && !strings.ContainsAny(p, "\\\x00\r\n")
}

// isHex64 reports whether s is 64 lowercase hexadecimal digits.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

// marshal returns m's text form.
func (m *Manifest) marshal() []byte {
	var b bytes.Buffer
	m.WriteTo(&b) // a bytes.Buffer does not fail
	return b.Bytes()
}
