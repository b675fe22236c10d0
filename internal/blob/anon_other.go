//go:build !linux

package blob

import (
	"errors"
	"os"
)

var errNoAnon = errors.New("blob: files without a name are not supported here")

// openAnon is not supported here: Put makes named temporary files.
func openAnon(dir string) (*os.File, error) { return nil, errNoAnon }

func linkAnon(f *os.File, final string) error { return errNoAnon }

func canLinkAnon(dir string) bool { return false }

// syncData is f.Sync here.
func syncData(f *os.File) error { return f.Sync() }

// syncsParent is false here: Put syncs every directory it names in.
func syncsParent(dir string) bool { return false }
