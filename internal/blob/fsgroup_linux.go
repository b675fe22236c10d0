package blob

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
)

// syncfsTrap is syncfs(2)'s system call number on this architecture, 0
// where it is not listed here (Put then syncs each blob on its own).
func syncfsTrap() uintptr {
	switch runtime.GOARCH {
	case "amd64":
		return 306
	case "arm64", "riscv64", "loong64":
		return 267 // asm-generic/unistd.h
	case "386":
		return 344
	case "arm":
		return 373
	}
	return 0
}

// syncFS is syncfs(2) of f's file system.
func syncFS(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		_, serr = ignoringEINTR(func() (int, error) {
			if _, _, e := syscall.Syscall(syncfsTrap(), fd, 0, 0); e != 0 {
				return 0, e
			}
			return 0, nil
		})
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: "syncfs", Path: f.Name(), Err: serr}
	}
	return nil
}

// noJournal reports whether dir, which the caller found on ext4
// (syncsParent), is on ext4 without a journal, mounted with barriers
// (cache flushes), where fsGroup's cycles were traced and proved (see
// fsGroup.cycle): for its device (sysfs names it as the kernel does,
// /sys/dev/block/MAJOR:MINOR) a journal_task of "<none>" in
// /sys/fs/ext4/NAME and "barrier" among /proc/fs/ext4/NAME/options. With
// a journal, syncfs commits it and the order differs: not proved here,
// so not used.
func noJournal(dir string) bool {
	if syncfsTrap() == 0 {
		return false
	}
	dev, ok := deviceOf(dir)
	if !ok {
		return false
	}
	link, err := os.Readlink("/sys/dev/block/" + dev)
	if err != nil {
		return false
	}
	name := filepath.Base(link)
	task, err := os.ReadFile(filepath.Join("/sys/fs/ext4", name, "journal_task"))
	if err != nil || strings.TrimSpace(string(task)) != "<none>" {
		return false
	}
	opts, err := os.ReadFile(filepath.Join("/proc/fs/ext4", name, "options"))
	return err == nil && slices.Contains(strings.Fields(string(opts)), "barrier")
}
