//go:build !linux

package db

import "os"

// syncFile makes f's written data durable: fsync(2), or on macOS
// F_FULLFSYNC (see [os.File.Sync]).
func syncFile(f *os.File) error { return f.Sync() }
