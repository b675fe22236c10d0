package smtpserver

import (
	"bytes"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGoSMTPPatches: the go-smtp that go.mod replaces differs from the
// upstream release it names only in the files its PATCHES file lists, so
// that no change goes unrecorded.
func TestGoSMTPPatches(t *testing.T) {
	t.Parallel()
	local := filepath.Join("..", "..", "internal", "third_party", "go-smtp")
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		cache = filepath.Join(build.Default.GOPATH, "pkg", "mod")
	}
	upstream := filepath.Join(cache, "github.com", "emersion", "go-smtp@v0.25.1")
	if _, err := os.Stat(upstream); err != nil {
		t.Skipf("upstream go-smtp not in the module cache (go mod download github.com/emersion/go-smtp@v0.25.1): %v", err)
	}
	patches, err := os.ReadFile(filepath.Join(local, "PATCHES"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^\s*Files:(.*)$`).FindAllSubmatch(patches, -1) {
		listed = append(listed, strings.Fields(string(m[1]))...)
	}
	var changed []string
	seen := map[string]bool{}
	err = filepath.WalkDir(local, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(local, path)
		seen[rel] = true
		if rel == "PATCHES" {
			return nil
		}
		mine, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		theirs, err := os.ReadFile(filepath.Join(upstream, rel))
		if err != nil || !bytes.Equal(mine, theirs) {
			changed = append(changed, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(upstream, func(path string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(upstream, path); err == nil && !d.IsDir() && !seen[rel] {
			changed = append(changed, rel) // removed here
		}
		return nil
	})
	slices.Sort(changed)
	slices.Sort(listed)
	if !slices.Equal(changed, slices.Compact(listed)) {
		t.Errorf("files changed from upstream %q, PATCHES lists %q", changed, listed)
	}
}
