// Package thirdparty holds the test that keeps the patched copies of
// third-party modules under internal/third_party equal to their upstream
// release plus the changes their PATCHES file lists.
package thirdparty

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGoIMAPPatches checks go-imap/ against its upstream release and
// its PATCHES file (see checkPatched).
func TestGoIMAPPatches(t *testing.T) { checkPatched(t, "go-imap", 100) }

// TestGoWebDAVPatches checks go-webdav/ against its upstream release and
// its PATCHES file (see checkPatched).
func TestGoWebDAVPatches(t *testing.T) { checkPatched(t, "go-webdav", 20) }

// checkPatched hashes every file of the directory dir and compares it with
// the upstream manifest dir.upstream.sha256 and the "file:" lines of
// dir/PATCHES: an unlisted file must be byte-for-byte upstream, a listed
// one must have exactly the patched hash given, and no upstream file may
// go missing unlisted. A manifest of fewer than minFiles files is taken
// as truncated.
//
// After changing a file of dir, run the test with -update: it rewrites
// the "Hashes:" section of PATCHES from the tree and the manifest;
// describe the change in PATCHES too.
func checkPatched(t *testing.T, dir string, minFiles int) {
	upstream := readManifest(t, dir+".upstream.sha256", minFiles)
	tree := hashTree(t, dir)
	delete(tree, "PATCHES") // caucus's own file
	if *update {
		writeHashes(t, dir+"/PATCHES", upstream, tree)
	}
	patched := readPatches(t, dir+"/PATCHES")
	for path, p := range patched {
		if up := upstream[path]; p.upstream != up && !(p.upstream == "-" && up == "") {
			t.Errorf("PATCHES: %s: upstream hash %s, the manifest says %q", path, p.upstream, up)
		}
		switch got, ok := tree[path]; {
		case p.patched == "-" && ok:
			t.Errorf("%s: PATCHES says the patch deletes it, but it is there", path)
		case p.patched != "-" && got != p.patched:
			t.Errorf("%s: hash %s, PATCHES says %s (update PATCHES with the change, or undo it)", path, got, p.patched)
		}
	}
	for path, got := range tree {
		if _, ok := patched[path]; ok {
			continue
		}
		if up, ok := upstream[path]; !ok {
			t.Errorf("%s: not in upstream and not listed in PATCHES", path)
		} else if got != up {
			t.Errorf("%s: differs from upstream and is not listed in PATCHES", path)
		}
	}
	for path := range upstream {
		if _, ok := tree[path]; !ok {
			if _, listed := patched[path]; !listed {
				t.Errorf("%s: upstream file missing and not listed in PATCHES", path)
			}
		}
	}
}

var update = flag.Bool("update", false, "rewrite the Hashes section of PATCHES from the tree")

// writeHashes replaces everything from the "Hashes:" line of PATCHES on
// with a "file:" line per file that differs from upstream.
func writeHashes(t *testing.T, name string, upstream, tree map[string]string) {
	t.Helper()
	text := readFile(t, name)
	i := strings.Index(text, "\nHashes:\n")
	if i < 0 {
		t.Fatalf("%s has no Hashes: line", name)
	}
	var b strings.Builder
	b.WriteString(text[:i] + "\nHashes:\n")
	paths := slices.Sorted(maps.Keys(tree))
	for _, path := range paths {
		up, ok := upstream[path]
		switch {
		case !ok:
			up = "-"
		case up == tree[path]:
			continue
		}
		fmt.Fprintf(&b, "file: %s %s %s\n", path, up, tree[path])
	}
	for path, up := range upstream {
		if _, ok := tree[path]; !ok {
			fmt.Fprintf(&b, "file: %s %s -\n", path, up)
		}
	}
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type patchedFile struct{ upstream, patched string }

// readPatches reads the "file: PATH UPSTREAM PATCHED" lines of a PATCHES file.
func readPatches(t *testing.T, name string) map[string]patchedFile {
	t.Helper()
	out := map[string]patchedFile{}
	forLines(t, name, func(line string) {
		rest, ok := strings.CutPrefix(line, "file: ")
		if !ok {
			return
		}
		f := strings.Fields(rest)
		if len(f) != 3 {
			t.Fatalf("%s: malformed line %q", name, line)
		}
		if _, dup := out[f[0]]; dup {
			t.Fatalf("%s: %s listed twice", name, f[0])
		}
		out[f[0]] = patchedFile{upstream: f[1], patched: f[2]}
	})
	if len(out) == 0 && !strings.Contains(readFile(t, name), "(none yet") {
		t.Fatalf("%s lists no file", name)
	}
	return out
}

// readManifest reads a sha256sum file.
func readManifest(t *testing.T, name string, minFiles int) map[string]string {
	t.Helper()
	out := map[string]string{}
	forLines(t, name, func(line string) {
		if strings.HasPrefix(line, "#") || line == "" {
			return
		}
		sum, path, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("%s: malformed line %q", name, line)
		}
		out[path] = sum
	})
	if len(out) < minFiles {
		t.Fatalf("%s: only %d files", name, len(out))
	}
	return out
}

func hashTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(readFile(t, path)))
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func forLines(t *testing.T, name string, fn func(string)) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(readFile(t, name)))
	for sc.Scan() {
		fn(strings.TrimSpace(sc.Text()))
	}
}
