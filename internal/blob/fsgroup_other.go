//go:build !linux

package blob

import (
	"errors"
	"os"
)

// syncFS is not supported here: Put syncs each blob on its own.
func syncFS(f *os.File) error { return errors.New("blob: syncfs is not supported here") }

// noJournal is false here: see fsGroup.
func noJournal(dir string) bool { return false }
