package backup

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/blob"
)

// FuzzParseManifest checks that the parser never panics, and that what it
// accepts writes back to a form that parses to the same manifest.
func FuzzParseManifest(f *testing.F) {
	m := &Manifest{Created: time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC), Files: []File{
		{Path: "caucus.db", Mode: 0o600, Size: 4096, Object: strings.Repeat("ab", 32)},
		{Path: "blobs/mail/ab/cd/" + strings.Repeat("0", 64), Mode: 0o400, Size: 12, Object: strings.Repeat("01", 32)},
		{Path: "keys/a key with spaces", Mode: 0o600, Object: strings.Repeat("ff", 32)},
	}}
	f.Add(m.marshal())
	f.Add([]byte(manifestMagic + "\ncreated 2026-11-24T18:00:00Z\nend 0\n"))
	pg := *m
	pg.Database, pg.Files = DatabasePostgres, m.Files[1:]
	f.Add(pg.marshal())
	f.Add([]byte(manifestMagic + "\ncreated 2026-11-24T18:00:00Z\nfile 0600 1 " + strings.Repeat("a", 64) + " " + strings.Repeat("b", 64) + " ../etc/passwd\nend 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(bytes.NewReader(data))
		if err != nil {
			return
		}
		m2, err := ParseManifest(bytes.NewReader(m.marshal()))
		if err != nil {
			t.Fatalf("written form does not parse: %v\n%s", err, m.marshal())
		}
		if !reflect.DeepEqual(m, m2) || !m.Created.Equal(m2.Created) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v", m, m2)
		}
	})
}

// FuzzParseBlobPath checks that a path taken for a blob's names a store
// directory inside blobs/ and a well-formed ref, and is the path the
// backup writes for them.
func FuzzParseBlobPath(f *testing.F) {
	ref := strings.Repeat("ab", 32)
	for _, p := range []string{"blobs/mail/" + ref, "blobs/mail/ab/" + ref, "blobs/mail/ab/cd/" + ref,
		"blobs/../" + ref, "blobs//" + ref, "blobs/mail/layout", "keys/" + ref} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		store, ref, ok := parseBlobPath(p)
		if !ok {
			return
		}
		if store == "" || store == "." || store == ".." || strings.ContainsAny(store, `/\`) {
			t.Fatalf("parseBlobPath(%q): store %q", p, store)
		}
		if _, err := blob.ParseRef(string(ref)); err != nil || blobPath(store, ref) != p {
			t.Fatalf("parseBlobPath(%q) = %q, %q", p, store, ref)
		}
	})
}

func TestParseManifestRefuses(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("a", 64)
	head := manifestMagic + "\ncreated 2026-11-24T18:00:00Z\n"
	for name, text := range map[string]string{
		"empty":     "",
		"magic":     "caucus-backup-manifest 2\ncreated 2026-11-24T18:00:00Z\nend 0\n",
		"truncated": head + "file 0600 1 " + h + " " + h + " caucus.db\n",
		"count":     head + "file 0600 1 " + h + " " + h + " caucus.db\nend 2\n",
		"dotdot":    head + "file 0600 1 " + h + " " + h + " ../x\nend 1\n",
		"absolute":  head + "file 0600 1 " + h + " " + h + " /etc/x\nend 1\n",
		"twice":     head + "file 0600 1 " + h + " " + h + " x\nfile 0600 1 " + h + " " + h + " x\nend 2\n",
		"mode":      head + "file 4755 1 " + h + " " + h + " x\nend 1\n",
		"size":      head + "file 0600 -1 " + h + " " + h + " x\nend 1\n",
		"hash":      head + "file 0600 1 " + strings.ToUpper(h) + " " + h + " x\nend 1\n",
		"after end": head + "end 0\nfile\n",
		"long line": head + "file 0600 1 " + h + " " + h + " " + strings.Repeat("x", maxManifestLine) + "\nend 1\n",
		// The database line names PostgreSQL, once, before the files.
		"database":          head + "database sqlite\nend 0\n",
		"database twice":    head + "database postgres\ndatabase postgres\nend 0\n",
		"database late":     head + "file 0600 1 " + h + " " + h + " x\ndatabase postgres\nend 1\n",
		"database no value": head + "database\nend 0\n",
	} {
		if _, err := ParseManifest(strings.NewReader(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
