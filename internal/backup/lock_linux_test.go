package backup

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestUnlockWhileShared checks that the destination's lock is free once
// released, even while another descriptor shares its open file
// description, as a child forked by another goroutine (os/exec) does
// until it execs. TestBackupRestore's Prune failed with ErrBusy in a
// clean-clone CI run right after the backup before it had released the
// lock: closing the file dropped one descriptor, not the lock.
func TestUnlockWhileShared(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDest(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The lock file's descriptor, found as a fork's child would hold it.
	lock := filepath.Join(dir, "lock")
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	shared := -1
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == lock {
			fd := 0
			for _, c := range e.Name() {
				fd = fd*10 + int(c-'0')
			}
			if shared, err = syscall.Dup(fd); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if shared < 0 {
		t.Fatal("the lock file's descriptor was not found in /proc/self/fd")
	}
	defer syscall.Close(shared)
	unlock()
	again, err := lockDest(dir)
	if errors.Is(err, ErrBusy) {
		t.Fatalf("the lock, released, is still held by a descriptor sharing it: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	again()
}
