package files_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// TestSmallUploadSkipsCheck checks that on PostgreSQL a small upload of
// announced size (its content kept in the database) into a space known
// to have no quota makes no check before its body (a round trip): its
// statement in the group commit checks the folder, the name and the room
// under the write lock, and answers as the check would have. Once this
// node sets a quota on the space, an announced overrun is refused before
// the body is read again.
func TestSmallUploadSkipsCheck(t *testing.T) {
	t.Parallel()
	e, alice, docs := roundTripDocs(t, "statements prepared, no quota seen")
	s, ctx := e.Store, t.Context()
	home, _ := s.Stat(ctx, alice, "/Home")
	before := e.DB.RoundTrips()
	if _, err := s.Put(ctx, alice, docs.ID, "new.txt", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	// The folder's chain (Put names the folder by its id, which the path
	// cache does not key; WebDAV's by path, which it does), the group's
	// statements and COMMIT: no check.
	if trips := e.DB.RoundTrips() - before; trips > 3 {
		t.Errorf("%d round trips for a small upload, want 3 (the folder's chain, its statement and COMMIT)", trips)
	}
	// Onto a folder's name: refused as before, nothing stored.
	if _, err := s.Put(ctx, alice, home.ID, "docs", strings.NewReader("hello"), 5); !errors.Is(err, files.ErrIsDir) {
		t.Errorf("upload onto a folder: %v, want ErrIsDir", err)
	}
	if err := s.SetQuota(ctx, "admin@example.org", alice.ID, 100); err != nil {
		t.Fatal(err)
	}
	r := &countReader{r: strings.NewReader(strings.Repeat("b", 101))}
	if _, err := s.Put(ctx, alice, docs.ID, "b", r, 101); !errors.Is(err, files.ErrQuota) || r.n != 0 {
		t.Errorf("announced overrun after the quota was set: %v, %d bytes read; want ErrQuota before reading", err, r.n)
	}
}

// TestSmallUploadSkipsCheckBothEngines checks, on SQLite as on
// PostgreSQL, that a small upload of announced size into a space just
// found without a quota skips the check before its body: a quota that
// did not pass through this store's SetQuota (another node's, or a row
// written in the database) refuses the upload only after its body, in
// the commit, which checks the room itself. On SQLite the check was a
// read transaction on a connection of the pool, which in a burst of
// uploads begins with its cache dropped and the file unmapped. A quota
// set through SetQuota is seen at once: refused before the body.
func TestSmallUploadSkipsCheckBothEngines(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, _ := s.Stat(ctx, alice, "/Home")
	if _, err := s.Put(ctx, alice, home.ID, "a", strings.NewReader("hello"), 5); err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.ExecContext(ctx, `INSERT INTO files_quotas (space_kind, space_id, bytes) VALUES ('home', $1, 100)`, alice.ID); err != nil {
		t.Fatal(err)
	}
	r := &countReader{r: strings.NewReader(strings.Repeat("b", 101))}
	if _, err := s.Put(ctx, alice, home.ID, "b", r, 101); !errors.Is(err, files.ErrQuota) || r.n != 101 {
		t.Errorf("announced overrun of a quota this store did not set: %v, %d bytes read; want ErrQuota after reading 101 (no check before the body)", err, r.n)
	}
	if err := s.SetQuota(ctx, "admin@example.org", alice.ID, 100); err != nil {
		t.Fatal(err)
	}
	r = &countReader{r: strings.NewReader(strings.Repeat("b", 101))}
	if _, err := s.Put(ctx, alice, home.ID, "b", r, 101); !errors.Is(err, files.ErrQuota) || r.n != 0 {
		t.Errorf("announced overrun after SetQuota: %v, %d bytes read; want ErrQuota before reading", err, r.n)
	}
}
