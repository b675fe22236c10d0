package blob

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncFS makes everything written to the file system that holds dir
// durable, data and metadata, with one disk cache flush: syncfs(2), which
// since Linux 5.8 also reports writeback errors.
func syncFS(dir *os.File) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("syncfs: %w", serr)
	}
	return nil
}

// haveSyncFS reports whether syncFS works here.
const haveSyncFS = true
