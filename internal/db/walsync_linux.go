package db

import (
	"os"
	"syscall"
)

// syncFile makes f's written data durable with fdatasync(2), as SQLite
// commits on Linux (see syncData).
func syncFile(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
