//go:build !linux

package blob

import (
	"io"
	"os"
)

// openRead opens the blob file p for reading.
func openRead(p string) (io.ReadSeekCloser, error) { return os.Open(p) }
