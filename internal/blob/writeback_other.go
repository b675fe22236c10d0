//go:build !linux

package blob

import "os"

// startWriteback does nothing here: the fsync at the end writes it all.
func startWriteback(f *os.File, off, n int64) {}
