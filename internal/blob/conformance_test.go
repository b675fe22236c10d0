package blob_test

import (
	"testing"

	"github.com/caucus-org/caucus/internal/blob/blobtest"
)

// TestConformance runs the tests every [blob.Store] must pass against
// each implementation: the directory store and the S3 store.
func TestConformance(t *testing.T) {
	blobtest.Each(t, blobtest.Run)
}
