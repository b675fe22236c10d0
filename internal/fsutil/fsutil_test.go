package fsutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := filepath.Join(dir, "sub", "key")
	if err := WriteFile(name, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(name, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v; want the second write", b, err)
	}
	fi, _ := os.Stat(name)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(name)); di.Mode().Perm() != 0o700 {
		t.Errorf("made directory with mode %v, want 0700", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporary left)", len(entries))
	}
	// A write that cannot happen leaves the old file and no temporary.
	if err := WriteFile(filepath.Join(name, "below-a-file"), []byte("x"), 0o600); err == nil {
		t.Error("writing below a regular file succeeded")
	}
}
