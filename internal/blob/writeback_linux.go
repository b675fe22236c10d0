package blob

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing the n bytes of f at off
// to disk, without waiting (sync_file_range(2) with
// SYNC_FILE_RANGE_WRITE). It is a hint that spreads a large file's disk
// writes over its upload; durability still comes from the fsync at the end.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 0x2 // SYNC_FILE_RANGE_WRITE, linux/fs.h
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite)
	})
}
