package files_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// TestImportFile: a file brought in from another provider lands at its
// path in the member's home with its folders, its name in NFC and its
// modification time; the same call again (a resumed import) changes
// nothing; another content is a new version; the quota is kept before
// reading and while streaming; a content that cannot be read whole leaves
// nothing.
func TestImportFile(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{InlineBytes: 4})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	mtime := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	decomposed := "Google Drive/Re\u0301sume\u0301s/Cafe\u0301 plan.docx" // NFD, as macOS writes it
	imp := func(path, content string, size int64) (bool, error) {
		return s.ImportFile(ctx, alice.ID, path, mtime, size, strings.NewReader(content))
	}
	if created, err := imp(decomposed, "first content", 13); err != nil || !created {
		t.Fatalf("import: %v, created %v", err, created)
	}
	n, err := s.Stat(ctx, alice, "/Home/Google Drive/Résumés/Café plan.docx")
	if err != nil {
		t.Fatalf("the imported file is not at its NFC path: %v", err)
	}
	if !n.ModTime.Equal(mtime) || n.Size != 13 || read(t, s, alice, n.ID) != "first content" {
		t.Errorf("imported %+v, content %q", n, read(t, s, alice, n.ID))
	}
	// After a restart the importer may give the same file again.
	if created, err := imp(decomposed, "first content", -1); err != nil || created {
		t.Fatalf("the same file again: %v, created %v", err, created)
	}
	if list, _ := s.List(ctx, alice, "/Home/Google Drive/Résumés"); len(list) != 1 {
		t.Fatalf("a second copy after importing twice: %s", names(list))
	}
	if vs, _ := s.Versions(ctx, alice, n.ID); len(vs) != 1 {
		t.Fatalf("%d versions after importing the same content twice", len(vs))
	}
	if created, err := imp(decomposed, "second", 6); err != nil || !created {
		t.Fatalf("another content: %v, created %v", err, created)
	}
	if vs, _ := s.Versions(ctx, alice, n.ID); len(vs) != 2 {
		t.Fatalf("%d versions after another content, want 2", len(vs))
	}

	// A file where a folder should be, unsafe names.
	if _, err := imp("Google Drive/Résumés/Café plan.docx/inside.txt", "x", 1); !errors.Is(err, files.ErrExists) {
		t.Errorf("a folder through a file: %v", err)
	}
	for _, p := range []string{"../escape.txt", "Google Drive/a\\b.txt", "", "Google Drive/CON.txt"} {
		if _, err := imp(p, "x", 1); !errors.Is(err, files.ErrInvalidName) {
			t.Errorf("import %q: %v, want ErrInvalidName", p, err)
		}
	}

	// A content cut off: nothing appears.
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(io.ErrUnexpectedEOF))
	if _, err := s.ImportFile(ctx, alice.ID, "Google Drive/cut.txt", mtime, -1, r); err == nil {
		t.Error("a content that fails to read was imported")
	}
	if _, err := s.Stat(ctx, alice, "/Home/Google Drive/cut.txt"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("a content that failed to read is visible: %v", err)
	}

	// The quota: refused by the announced size before reading, and by
	// the content when no size is announced.
	used, _, _ := s.Usage(ctx, alice.ID)
	if err := s.SetQuota(ctx, "admin@example.org", alice.ID, used+10); err != nil {
		t.Fatal(err)
	}
	unread := &countReader{r: strings.NewReader(strings.Repeat("q", 20))}
	if _, err := s.ImportFile(ctx, alice.ID, "Google Drive/big.bin", mtime, 20, unread); !errors.Is(err, files.ErrQuota) || unread.n != 0 {
		t.Errorf("20 bytes into 10 left: %v, %d bytes read", err, unread.n)
	}
	if _, err := imp("Google Drive/big.bin", strings.Repeat("q", 20), -1); !errors.Is(err, files.ErrQuota) {
		t.Errorf("20 bytes of unknown size into 10 left: %v", err)
	}
	if _, err := s.Stat(ctx, alice, "/Home/Google Drive/big.bin"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("a file over the quota is visible: %v", err)
	}
}
