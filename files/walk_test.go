package files_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/audit"
)

// TestStatWalk resolves paths of one's home and of a group folder, which
// the store reads from the space's root down in one statement: names
// that look like JSON or numbers, a missing name at each level, a name
// below a file, a folder in the trash, the deepest path allowed, and no
// account.
func TestStatWalk(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	if err := e.Auth.AddToGroup(ctx, "", "board", alice.ID); err != nil {
		t.Fatal(err)
	}
	mkdir := func(dir, name string) files.Node {
		t.Helper()
		parent, err := s.Stat(ctx, alice, dir)
		if err != nil {
			t.Fatalf("stat %s: %v", dir, err)
		}
		n, err := s.Mkdir(ctx, alice, parent.ID, name)
		if err != nil {
			t.Fatalf("mkdir %s/%s: %v", dir, name, err)
		}
		return n
	}
	odd := []string{`[0]`, `123`, `null`, `a'b`, `$.x`, `é ✓ 🙂`, `{'a'=1}`, `true`}
	dir := "/Home"
	for _, name := range odd {
		mkdir(dir, name)
		dir += "/" + name
	}
	f := put(t, s, alice, dir, "f.txt", "deep")
	mkdir("/Home", "trash")
	gone := put(t, s, alice, "/Home/trash", "g.txt", "g")
	trash, _ := s.Stat(ctx, alice, "/Home/trash")
	if err := s.Delete(ctx, alice, trash.ID); err != nil {
		t.Fatal(err)
	}
	mkdir("/Groups/board", "minutes")
	gf := put(t, s, alice, "/Groups/board/minutes", "m.txt", "m")

	for _, tc := range []struct {
		path string
		id   int64
		err  error
	}{
		{path: dir + "/f.txt", id: f.ID},
		{path: "/Groups/board/minutes/m.txt", id: gf.ID},
		{path: "/Groups/board/minutes/x.txt", err: files.ErrNotFound},
		{path: "/Home/trash/g.txt", err: files.ErrNotFound},
		{path: "/Home/trash", err: files.ErrNotFound},
		{path: dir + "/f.txt/below", err: files.ErrNotFound},
		{path: "/Home/[0]/124/null", err: files.ErrNotFound},
		{path: "/Home/[1]", err: files.ErrNotFound},
		{path: "/Home/" + strings.Join(odd[:3], "/") + "/missing/" + strings.Join(odd[3:], "/"), err: files.ErrNotFound},
	} {
		n, err := s.Stat(ctx, alice, tc.path)
		if !errors.Is(err, tc.err) || (tc.err == nil && (n.ID != tc.id || n.Path != tc.path)) {
			t.Errorf("Stat(%q) = %d %q, %v; want %d, %v", tc.path, n.ID, n.Path, err, tc.id, tc.err)
		}
	}
	for _, p := range []string{"/Home", "//Home/x", "/Groups/board"} {
		if _, err := s.Stat(ctx, files.Actor{}, p); !errors.Is(err, files.ErrForbidden) {
			t.Errorf("Stat(%q) with no account: %v, want ErrForbidden", p, err)
		}
	}
	if n, err := s.Stat(ctx, alice, "/Home/trash/g.txt"); err == nil {
		t.Errorf("a file in the trash resolved: %d (put as %d)", n.ID, gone.ID)
	}

	// The deepest folder allowed resolves; one more level is refused.
	p := "/Home"
	parent, _ := s.Stat(ctx, alice, p)
	for range files.MaxDepth {
		n, err := s.Mkdir(ctx, alice, parent.ID, "d")
		if err != nil {
			t.Fatalf("mkdir at %s: %v", p, err)
		}
		parent, p = n, p+"/d"
	}
	if n, err := s.Stat(ctx, alice, p); err != nil || n.ID != parent.ID {
		t.Errorf("Stat of the deepest folder = %d, %v; want %d", n.ID, err, parent.ID)
	}
	if _, err := s.Stat(ctx, alice, p+"/d"); err == nil {
		t.Errorf("Stat below the deepest folder succeeded")
	}
}

// TestOpenPath: OpenPath gives what Stat and OpenNode give, for a content
// kept in the database (read with the path), one in a blob file, an empty
// file, a folder (no content), a file shared with the reader (looked up
// the other way), and a missing path; a group's file read through it is
// traced as a read, as through Open.
func TestOpenPath(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice, bob := e.Member(t, "alice@example.org"), e.Member(t, "bob@example.org")
	if err := e.Auth.AddToGroup(ctx, "", "press", alice.ID); err != nil {
		t.Fatal(err)
	}
	large := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB: a blob file
	small := put(t, s, alice, "/Home", "small.txt", "small")
	big := put(t, s, alice, "/Home", "big.bin", large)
	empty := put(t, s, alice, "/Home", "empty", "")
	gf := put(t, s, alice, "/Groups/press", "plan.txt", "plan")
	shared := put(t, s, bob, "/Home", "notes.txt", "notes")
	if _, err := s.Share(ctx, bob, shared.ID, files.Grantee{Login: "alice@example.org"}, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path    string
		id      int64
		content string
	}{
		{"/Home/small.txt", small.ID, "small"},
		{"/Home/big.bin", big.ID, large},
		{"/Home/empty", empty.ID, ""},
		{"/Groups/press/plan.txt", gf.ID, "plan"},
		{"/Shared/bob@example.org/notes.txt", shared.ID, "notes"},
	} {
		n, rc, err := s.OpenPath(ctx, alice, tc.path)
		if err != nil || rc == nil {
			t.Errorf("OpenPath(%q): %v, %v", tc.path, rc, err)
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		st, _ := s.Stat(ctx, alice, tc.path)
		if err != nil || string(b) != tc.content || n.ID != tc.id || n.ETag != st.ETag || n.Path != tc.path {
			t.Errorf("OpenPath(%q) = %d %q %q, %v; want %d %q %q", tc.path, n.ID, n.ETag, b, err, tc.id, st.ETag, tc.content)
		}
	}
	if n, rc, err := s.OpenPath(ctx, alice, "/Groups/press"); err != nil || rc != nil || !n.Dir {
		t.Errorf("OpenPath of a folder = %+v, %v, %v; want the folder and no content", n, rc, err)
	}
	if _, _, err := s.OpenPath(ctx, alice, "/Home/missing"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("OpenPath of a missing file: %v", err)
	}
	if _, _, err := s.OpenPath(ctx, bob, "/Groups/press/plan.txt"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("OpenPath of another group's file: %v", err)
	}
	if err := e.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"plan.txt", "notes.txt", "small.txt"} {
		recs, err := e.Audit.List(ctx, audit.Filter{Kind: "files.read", Text: name})
		want := 1
		if name == "small.txt" {
			want = 0 // one's own home
		}
		if err != nil || len(recs) != want {
			t.Errorf("files.read records of %s: %d, %v; want %d", name, len(recs), err, want)
		}
	}
}
