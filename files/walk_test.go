package files_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
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
