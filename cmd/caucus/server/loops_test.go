package server

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestBackupLoopStores checks that the scheduled backup is given every
// blob store the server opened, one for each directory under
// DataDir/blobs, so that none is left to be copied file by file.
func TestBackupLoopStores(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	entries, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	if got := slices.Sorted(maps.Keys(srv.blobStores)); !slices.Equal(got, dirs) || len(got) != 5 {
		t.Errorf("the backup's stores are %v; the blob directories %v (want mail, queue, files, imports, lists)", got, dirs)
	}
}
