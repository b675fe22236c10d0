// Package fsutil writes files durably: a file that caucus says it wrote is
// on disk, whole, even if the machine loses power a moment later.
package fsutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces the file name with data atomically and durably: it
// writes a temporary file in the same directory (made 0700 if missing), sets
// its mode, fsyncs it, renames it over name and fsyncs the directory. Readers
// see the old file or the new one, never a part.
func WriteFile(name string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("fsutil: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return fmt.Errorf("fsutil: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("fsutil: write %s: %w", name, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("fsutil: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsutil: sync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fsutil: %w", err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("fsutil: %w", err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory, making the creation, renaming or removal of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsutil: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsutil: sync %s: %w", dir, err)
	}
	return nil
}
