//go:build !linux

package blob

import (
	"errors"
	"os"
)

// syncFS is not available: Put syncs each file and directory itself.
func syncFS(dir *os.File) error { return errors.ErrUnsupported }

// haveSyncFS reports whether syncFS works here.
const haveSyncFS = false
