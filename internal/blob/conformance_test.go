package blob_test

import (
	"testing"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/blobtest"
)

// TestDirConformance runs the tests every [blob.Store] must pass against
// the directory store.
func TestDirConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, err := blob.OpenDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
