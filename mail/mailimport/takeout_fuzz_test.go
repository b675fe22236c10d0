package mailimport

import (
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzEntryName: a name checkName accepts stays inside the tree, whatever
// the archive said.
func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"Takeout/Drive/a.txt", "../x", "a/../../b", "/abs", `a\b`, "C:/x", "a//b", "./a", "Takeout/", "a/.", "Takeout/Drive/Re\u0301sume\u0301.docx", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, _, err := checkName(raw)
		if err != nil {
			return
		}
		if !filepath.IsLocal(name) || path.Clean(name) != name || strings.ContainsAny(name, "\\\x00") {
			t.Fatalf("checkName(%q) accepted %q, which is not a clean local name", raw, name)
		}
		if classify(name) == entryDrive {
			p := drivePath(name)
			if !strings.HasPrefix(p, driveFolder+"/") || path.Clean(p) != p {
				t.Fatalf("drivePath(%q) = %q", name, p)
			}
		}
	})
}

// FuzzArchive reads arbitrary bytes as a Takeout archive (ZIP, tar,
// gzipped tar): no panic, every entry either refused or with a checked
// name, and reading stays within the bounds.
func FuzzArchive(f *testing.F) {
	dir := f.TempDir()
	entries := []tEntry{{name: "Takeout/Drive/a.txt", data: []byte("hello")}, {name: "Takeout/Mail/x.mbox", data: []byte("From a@b Mon Mar 02 09:30:00 +0000 2026\nSubject: x\n\nbody\n")},
		{name: "../evil", data: []byte("x")}, {name: "Takeout/Drive/a.txt", data: []byte("dup")}}
	for _, format := range []string{"zip", "tgz"} {
		p := filepath.Join(dir, "seed."+format)
		if format == "zip" {
			writeZip(f, p, entries)
		} else {
			writeTgz(f, p, entries)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "a")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := openArchive(p)
		if err != nil {
			return
		}
		defer a.Close()
		var read int64
		a.walk(context.Background(), func(e *entry, r io.Reader) error {
			if e.err == nil {
				if n, _, err := checkName(e.raw); err != nil || n != e.name {
					t.Fatalf("entry %q accepted as %q", e.raw, e.name)
				}
			}
			if r != nil && e.err == nil && classify(e.name) == entryMail {
				src := &archiveMbox{r: r, e: e}
				src.List(context.Background(), src.folder(), func(items []Item) error {
					return src.Fetch(context.Background(), src.folder(), items, func(_ Item, b Body) error {
						if b != nil {
							b.Close()
						}
						return nil
					})
				})
			}
			if r != nil {
				n, _ := io.Copy(io.Discard, io.LimitReader(r, 64<<20))
				read += n
				if e.size > ratioFloor && n > e.size {
					t.Fatalf("entry %q gave %d bytes, declared %d", e.raw, n, e.size)
				}
			}
			return nil
		})
		if read > maxRatio*int64(len(data))+2*ratioFloor+64<<20 {
			t.Fatalf("%d bytes read from an archive of %d", read, len(data))
		}
	})
}
