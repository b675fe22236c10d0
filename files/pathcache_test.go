package files_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/blob"
)

// watched is a path looked up by a member, through the path cache.
type watched struct {
	who  files.Actor
	path string
}

// cacheEnv is a store with its path cache and, over the same database and
// blobs, a store without one: the truth the cached answers are held to.
type cacheEnv struct {
	*filestest.Env
	fresh              *files.Store
	alice, bob, carol  files.Actor
	home, docs, report files.Node
}

func newCacheEnv(t *testing.T) *cacheEnv {
	t.Helper()
	e := filestest.New(t, files.Options{})
	bs, err := blob.AttachDir(e.BlobDir)
	if err != nil {
		t.Fatal(err)
	}
	ce := &cacheEnv{Env: e, fresh: files.New(e.DB, bs, files.Options{Now: e.Clock.Now, PathCache: -1}, files.Deps{Auth: e.Auth, Audit: e.Audit})}
	// Made without the cache, which then holds nothing yet.
	s, ctx := ce.fresh, t.Context()
	ce.alice = e.Member(t, "alice@example.org")
	ce.bob = e.Member(t, "bob@example.org")
	ce.carol = e.Member(t, "carol@example.org")
	ce.home, _ = s.Stat(ctx, ce.alice, "/Home")
	if ce.docs, err = s.Mkdir(ctx, ce.alice, ce.home.ID, "Docs"); err != nil {
		t.Fatal(err)
	}
	ce.report = put(t, s, ce.alice, "/Home/Docs", "report.txt", "first")
	put(t, s, ce.alice, "/Home/Docs", "other.txt", "other")
	for _, a := range []files.Actor{ce.alice, ce.bob} {
		if err := e.Auth.AddToGroup(ctx, "", "board", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, ce.alice, "/Groups/board", "minutes.txt", "m1")
	return ce
}

// same checks that every watched path answers through the cache what it
// answers without one: the same node (or the same error), the same content.
func (ce *cacheEnv) same(t *testing.T, ws []watched) {
	t.Helper()
	ctx := t.Context()
	for _, w := range ws {
		got, gerr := ce.Store.Stat(ctx, w.who, w.path)
		want, werr := ce.fresh.Stat(ctx, w.who, w.path)
		if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s's %s: cached %+v, %v; truth %+v, %v", w.who.Login, w.path, got, gerr, want, werr)
			continue
		}
		if gerr != nil || got.Dir {
			continue
		}
		if gc, wc := ce.content(t, ce.Store, w), ce.content(t, ce.fresh, w); gc != wc {
			t.Errorf("%s's %s: cached content %q, truth %q", w.who.Login, w.path, gc, wc)
		}
	}
}

func (ce *cacheEnv) content(t *testing.T, s *files.Store, w watched) string {
	t.Helper()
	_, rc, err := s.OpenPath(t.Context(), w.who, w.path)
	if err != nil {
		return "error: " + err.Error()
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPathCacheWrites is issue 21: every kind of write that changes what
// a path leads to (or the node's ETag, size or content) is seen at once
// by a member whose lookups the path cache holds.
func TestPathCacheWrites(t *testing.T) {
	t.Parallel()
	mine := func(ce *cacheEnv) []watched {
		return []watched{{ce.alice, "/Home"}, {ce.alice, "/Home/Docs"}, {ce.alice, "/Home/Docs/report.txt"}, {ce.alice, "/Home/Docs/other.txt"},
			{ce.alice, "/Home/Moved/report.txt"}, {ce.alice, "/Groups/board/minutes.txt"}, {ce.bob, "/Groups/board/minutes.txt"}, {ce.bob, "/Groups/board"}}
	}
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, ce *cacheEnv) error
		watch func(ce *cacheEnv) []watched
	}{
		{"upload new version", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.Put(t.Context(), ce.alice, ce.docs.ID, "report.txt", strings.NewReader("second, longer"), 14)
			return err
		}, mine},
		{"upload new file", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.Put(t.Context(), ce.alice, ce.docs.ID, "new.txt", strings.NewReader("n"), 1)
			return err
		}, mine},
		{"mkcol", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.Mkdir(t.Context(), ce.alice, ce.docs.ID, "Sub")
			return err
		}, mine},
		{"rename", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.Rename(t.Context(), ce.alice, ce.report.ID, "renamed.txt")
			return err
		}, mine},
		{"move folder", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.Move(t.Context(), ce.alice, ce.docs.ID, ce.home.ID, "Moved")
			return err
		}, mine},
		{"move into a group folder", func(t *testing.T, ce *cacheEnv) error {
			g, err := ce.Store.Stat(t.Context(), ce.alice, "/Groups/board")
			if err == nil {
				_, err = ce.Store.Move(t.Context(), ce.alice, ce.report.ID, g.ID, "report.txt")
			}
			return err
		}, mine},
		{"delete", func(t *testing.T, ce *cacheEnv) error {
			return ce.Store.Delete(t.Context(), ce.alice, ce.docs.ID)
		}, mine},
		{"restore", func(t *testing.T, ce *cacheEnv) error {
			if err := ce.Store.Delete(t.Context(), ce.alice, ce.report.ID); err != nil {
				return err
			}
			ce.same(t, mine(ce)) // fills the cache again
			_, err := ce.Store.Restore(t.Context(), ce.alice, ce.report.ID)
			return err
		}, mine},
		{"copy", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.Copy(t.Context(), ce.alice, ce.report.ID, ce.home.ID, "copy.txt")
			return err
		}, mine},
		{"restore version", func(t *testing.T, ce *cacheEnv) error {
			ctx := t.Context()
			if _, err := ce.Store.Put(ctx, ce.alice, ce.docs.ID, "report.txt", strings.NewReader("2"), 1); err != nil {
				return err
			}
			vs, err := ce.fresh.Versions(ctx, ce.alice, ce.report.ID)
			if err != nil {
				return err
			}
			ce.same(t, mine(ce)) // what the cache holds is the second version
			_, err = ce.Store.RestoreVersion(ctx, ce.alice, ce.report.ID, vs[len(vs)-1].ID)
			return err
		}, mine},
		{"import", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.ImportFile(t.Context(), ce.alice.ID, "Docs/report.txt", time.Unix(1e9, 0), 8, strings.NewReader("imported"))
			return err
		}, mine},
		{"file drop", func(t *testing.T, ce *cacheEnv) error {
			ctx := t.Context()
			tok, _, err := ce.Store.CreateLink(ctx, ce.alice, ce.docs.ID, files.LinkOptions{Kind: files.LinkDrop})
			if err != nil {
				return err
			}
			l, _, err := ce.Store.ResolveLink(ctx, tok)
			if err != nil {
				return err
			}
			_, err = ce.Store.DropPut(ctx, l, "dropped.txt", strings.NewReader("d"), 1, ce.alice.Client)
			return err
		}, mine},
		{"leaving a group", func(t *testing.T, ce *cacheEnv) error {
			return ce.Auth.RemoveFromGroup(t.Context(), "", "board", ce.bob.ID)
		}, mine},
		{"group renamed", func(t *testing.T, ce *cacheEnv) error {
			return ce.Auth.RenameGroup(t.Context(), "", "board", "council")
		}, func(ce *cacheEnv) []watched {
			return append(mine(ce), watched{ce.bob, "/Groups/council/minutes.txt"})
		}},
		{"group deleted", func(t *testing.T, ce *cacheEnv) error {
			gid, err := ce.Auth.GroupID(t.Context(), "board")
			if err == nil {
				_, err = ce.Store.HandOverGroup(t.Context(), "admin@example.org", gid, "board", ce.carol.ID)
			}
			return err
		}, func(ce *cacheEnv) []watched {
			return append(mine(ce), watched{ce.carol, "/Home"}, watched{ce.carol, "/Home/board/minutes.txt"})
		}},
		{"share and unshare", func(t *testing.T, ce *cacheEnv) error {
			ctx := t.Context()
			sh, err := ce.Store.Share(ctx, ce.alice, ce.docs.ID, files.Grantee{Login: ce.carol.Login}, false)
			if err != nil {
				return err
			}
			ce.same(t, append(mine(ce), watched{ce.carol, "/Shared/alice@example.org/Docs/report.txt"}))
			return ce.Store.Unshare(ctx, ce.alice, sh.ID)
		}, func(ce *cacheEnv) []watched {
			return append(mine(ce), watched{ce.carol, "/Shared/alice@example.org/Docs/report.txt"})
		}},
		{"offboarding", func(t *testing.T, ce *cacheEnv) error {
			_, err := ce.Store.TransferOwnership(t.Context(), "admin@example.org", ce.alice.ID, ce.carol.ID, files.LinksMove)
			return err
		}, func(ce *cacheEnv) []watched {
			return append(mine(ce), watched{ce.carol, "/Home"}, watched{ce.carol, "/Home/From alice@example.org/Docs/report.txt"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ce := newCacheEnv(t)
			ws := tc.watch(ce)
			ce.same(t, ws) // fills the cache
			if err := tc.write(t, ce); err != nil {
				t.Fatal(err)
			}
			ce.same(t, ws)
		})
	}
}

// TestPathCacheHits checks that the cache is used: a path looked up once
// is answered without the database, so a change made behind the store's
// back (by another store) is not seen. Only the store's own writes keep
// the cache true; this is what TestPathCacheWrites relies on.
func TestPathCacheHits(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	before, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs/report.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ce.fresh.Rename(ctx, ce.alice, ce.report.ID, "elsewhere.txt"); err != nil {
		t.Fatal(err)
	}
	if n, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs/report.txt"); err != nil || n != before {
		t.Fatalf("not from the cache: %+v, %v", n, err)
	}
	if _, err := ce.fresh.Stat(ctx, ce.alice, "/Home/Docs/report.txt"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("without the cache: %v", err)
	}
}

// TestPathCacheLimit checks the cache's bounds: at most PathCache entries,
// half of them at most for one member, whatever the member looks up.
func TestPathCacheLimit(t *testing.T) {
	t.Parallel()
	const size = 8
	e := filestest.New(t, files.Options{PathCache: size})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")
	for _, a := range []files.Actor{alice, bob} {
		home, _ := s.Stat(ctx, a, "/Home")
		for i := range 3 * size {
			n, err := s.Put(ctx, a, home.ID, strings.Repeat("f", i+1), strings.NewReader("x"), 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Stat(ctx, a, n.Path); err != nil {
				t.Fatal(err)
			}
		}
		if n, per := files.PathCacheLen(s, 0), files.PathCacheLen(s, a.ID); n > size || per > size/2 || per == 0 {
			t.Fatalf("after %s's lookups: %d entries, %d of %s's (at most %d, %d)", a.Login, n, per, a.Login, size, size/2)
		}
	}
	if files.PathCacheLen(s, alice.ID) == 0 || files.PathCacheLen(s, bob.ID) == 0 {
		t.Fatalf("one member took the whole cache: alice %d, bob %d", files.PathCacheLen(s, alice.ID), files.PathCacheLen(s, bob.ID))
	}
}

// TestPathCacheLookupRace checks that a lookup that read the database
// before a write committed does not put its answer in the cache after the
// write dropped what it changed.
func TestPathCacheLookupRace(t *testing.T) {
	t.Parallel()
	for _, emptied := range []bool{false, true} {
		ce := newCacheEnv(t)
		ctx := t.Context()
		// The lookup reads the report before the upload, and is kept
		// back until the upload is done.
		files.HoldLookup(ce.Store, func() {
			var err error
			if emptied {
				_, err = ce.Store.Rename(ctx, ce.alice, ce.report.ID, "renamed.txt")
			} else {
				_, err = ce.Store.Put(context.WithoutCancel(ctx), ce.alice, ce.docs.ID, "report.txt", strings.NewReader("second"), 6)
			}
			if err != nil {
				t.Error(err)
			}
		})
		if _, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs/report.txt"); err != nil {
			t.Fatal(err)
		}
		ce.same(t, []watched{{ce.alice, "/Home/Docs/report.txt"}})
	}
}

// TestPutNode checks that the node Put returns (read in the transaction
// that committed it, and put in the path cache) is the node a lookup
// finds: in one's home, in a group folder, and in a folder shared
// read-write, where older versions are not shown.
func TestPutNode(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	if _, err := ce.Store.Share(ctx, ce.alice, ce.docs.ID, files.Grantee{Login: ce.carol.Login}, true); err != nil {
		t.Fatal(err)
	}
	g, err := ce.Store.Stat(ctx, ce.bob, "/Groups/board")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who    files.Actor
		folder int64
		path   string
	}{
		{ce.alice, ce.docs.ID, "/Home/Docs/report.txt"},
		{ce.bob, g.ID, "/Groups/board/minutes.txt"},
		{ce.carol, ce.docs.ID, "/Shared/alice@example.org/Docs/report.txt"},
		{ce.carol, ce.docs.ID, "/Shared/alice@example.org/Docs/new.txt"},
	} {
		name := c.path[strings.LastIndexByte(c.path, '/')+1:]
		n, err := ce.Store.Put(ctx, c.who, c.folder, name, strings.NewReader("again"), 5)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ce.fresh.Stat(ctx, c.who, c.path)
		if err != nil || !reflect.DeepEqual(n, want) {
			t.Errorf("%s's put of %s: %+v; a lookup finds %+v, %v", c.who.Login, c.path, n, want, err)
		}
	}
	ce.same(t, []watched{{ce.alice, "/Home/Docs/report.txt"}, {ce.bob, "/Groups/board/minutes.txt"}, {ce.carol, "/Shared/alice@example.org/Docs/report.txt"}})
}

// TestPutFillsCache checks that an upload puts the node it made in the
// path cache, where a client's next request for it finds it: a change
// made behind the store's back (by another store) is not seen.
func TestPutFillsCache(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	n, err := ce.Store.Put(ctx, ce.alice, ce.docs.ID, "new.txt", strings.NewReader("n"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ce.fresh.Rename(ctx, ce.alice, n.ID, "elsewhere.txt"); err != nil {
		t.Fatal(err)
	}
	if got, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs/new.txt"); err != nil || got != n {
		t.Fatalf("the upload's node is not in the cache: %+v, %v", got, err)
	}
}

// TestPutNewNode checks that only an upload into one's own home reads
// no groups, and that the node an upload returns is the node as stored,
// read back by a store without a path cache, for a new file (whose row
// is not read back) and its second version, in one's home, a group
// folder and a folder shared read-write.
func TestPutNewNode(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	board, err := ce.fresh.Stat(ctx, ce.bob, "/Groups/board")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ce.fresh.Share(ctx, ce.alice, ce.docs.ID, files.Grantee{Login: "carol@example.org"}, true); err != nil {
		t.Fatal(err)
	}
	shared, err := ce.fresh.Node(ctx, ce.carol, ce.docs.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		who    files.Actor
		folder files.Node
		groups bool
	}{{"home", ce.alice, ce.docs, false}, {"group", ce.bob, board, true}, {"shared", ce.carol, shared, true}} {
		if got, err := files.PutReadsGroups(ce.Store, c.who, c.folder.ID); err != nil || got != c.groups {
			t.Errorf("%s: the upload reads groups %v, %v; want %v", c.name, got, err, c.groups)
		}
		for i, content := range []string{"one", "two!"} {
			n, err := ce.Store.Put(ctx, c.who, c.folder.ID, "put-"+c.name+".txt", strings.NewReader(content), int64(len(content)))
			if err != nil {
				t.Fatal(err)
			}
			want, err := ce.fresh.Node(ctx, c.who, n.ID)
			if err != nil || !reflect.DeepEqual(n, want) {
				t.Errorf("%s, version %d: Put gave %+v; stored %+v, %v", c.name, i+1, n, want, err)
			}
		}
	}
}

// TestPutInStale checks that PutIn, which takes its folder as a lookup
// just found it, refuses an upload when the folder changed since: moved
// to the trash, or in a group the member has left; that a folder shared
// read-only is refused before the content is read; and that an upload
// into one's home gives the node as stored.
func TestPutInStale(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	old, err := ce.Store.Mkdir(ctx, ce.alice, ce.home.ID, "Old")
	if err != nil {
		t.Fatal(err)
	}
	if err := ce.Store.Delete(ctx, ce.alice, old.ID); err != nil {
		t.Fatal(err)
	}
	board, err := ce.Store.Stat(ctx, ce.bob, "/Groups/board")
	if err != nil {
		t.Fatal(err)
	}
	if err := ce.Auth.RemoveFromGroup(ctx, "", "board", ce.bob.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		who    files.Actor
		folder files.Node
	}{{"trashed", ce.alice, old}, {"group left", ce.bob, board}} {
		if n, err := ce.Store.PutIn(ctx, c.who, c.folder, "late.txt", strings.NewReader("late"), 4); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("%s: PutIn = %+v, %v; want ErrNotFound", c.name, n, err)
		}
	}
	if _, err := ce.Store.Restore(ctx, ce.alice, old.ID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/Home/Old/late.txt", "/Groups/board/late.txt"} {
		if n, err := ce.fresh.Stat(ctx, ce.alice, p); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("%s was stored: %+v, %v", p, n, err)
		}
	}

	if _, err := ce.Store.Share(ctx, ce.alice, ce.docs.ID, files.Grantee{Login: ce.carol.Login}, false); err != nil {
		t.Fatal(err)
	}
	ro, err := ce.Store.Node(ctx, ce.carol, ce.docs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ce.Store.PutIn(ctx, ce.carol, ro, "no.txt", iotest.ErrReader(errors.New("read")), 4); !errors.Is(err, files.ErrForbidden) {
		t.Errorf("read-only share: PutIn error %v, want ErrForbidden before reading", err)
	}

	n, err := ce.Store.PutIn(ctx, ce.alice, ce.docs, "in.txt", strings.NewReader("in"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if want, err := ce.fresh.Node(ctx, ce.alice, n.ID); err != nil || !reflect.DeepEqual(n, want) {
		t.Errorf("PutIn gave %+v; stored %+v, %v", n, want, err)
	}
}

// TestUploadKeepsFolder checks that an upload keeps its folder in the
// path cache for the next upload's lookup (Folder), marked stale: the
// folder's ETag changed, so any other lookup reads it again. The folder
// is renamed behind the cache's back (through another store) to tell a
// cached answer from a read one.
func TestUploadKeepsFolder(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	before, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ce.Store.PutIn(ctx, ce.alice, before, "up.txt", strings.NewReader("up"), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := ce.fresh.Rename(ctx, ce.alice, ce.docs.ID, "Elsewhere"); err != nil {
		t.Fatal(err)
	}
	if n, err := ce.Store.Folder(ctx, ce.alice, "/Home/Docs"); err != nil || n.ID != ce.docs.ID {
		t.Errorf("the upload's folder is not kept for the next upload: %+v, %v", n, err)
	}
	if n, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("a lookup was answered with the stale folder: %+v, %v", n, err)
	}
}

// TestUploadDuringFolderLookup checks that a folder lookup for an upload
// (Folder) that read the folder while another upload into it committed
// still keeps the folder for the next upload, marked stale: the other
// upload changed only the folder's ETag and time, not its id, space or
// rights. With eight uploads in flight into one folder nearly every
// lookup overlaps such a commit, and the folder was never cached: each
// upload read its folder's path from the database again. Any other
// lookup reads the folder again (its ETag changed).
func TestUploadDuringFolderLookup(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	files.HoldLookup(ce.Store, func() {
		if _, err := ce.Store.PutIn(context.WithoutCancel(ctx), ce.alice, ce.docs, "during.txt", strings.NewReader("d"), 1); err != nil {
			t.Error(err)
		}
	})
	if n, err := ce.Store.Folder(ctx, ce.alice, "/Home/Docs"); err != nil || n.ID != ce.docs.ID {
		t.Fatalf("Folder = %+v, %v", n, err)
	}
	// Renamed behind the cache's back: an answer from the cache still
	// finds the folder by its old path.
	if _, err := ce.fresh.Rename(ctx, ce.alice, ce.docs.ID, "Elsewhere"); err != nil {
		t.Fatal(err)
	}
	if n, err := ce.Store.Folder(ctx, ce.alice, "/Home/Docs"); err != nil || n.ID != ce.docs.ID {
		t.Errorf("the folder looked up during an upload is not kept for the next upload: %+v, %v", n, err)
	}
	if n, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("a lookup was answered with the folder as read before the upload: %+v, %v", n, err)
	}
}

// TestDropDuringFolderLookup checks that a folder lookup that read the
// folder while a write that changed it (not an upload into it) committed
// keeps nothing, stale or not.
func TestDropDuringFolderLookup(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	files.HoldLookup(ce.Store, func() {
		// An upload into the folder, then its deletion.
		if _, err := ce.Store.PutIn(context.WithoutCancel(ctx), ce.alice, ce.docs, "during.txt", strings.NewReader("d"), 1); err != nil {
			t.Error(err)
		}
		if err := ce.Store.Delete(context.WithoutCancel(ctx), ce.alice, ce.docs.ID); err != nil {
			t.Error(err)
		}
	})
	if _, err := ce.Store.Folder(ctx, ce.alice, "/Home/Docs"); err != nil {
		t.Fatal(err) // read before the deletion
	}
	if n, err := ce.Store.Folder(ctx, ce.alice, "/Home/Docs"); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("a deleted folder was kept for uploads: %+v, %v", n, err)
	}
}

// TestFreshEntryStays checks that a lookup that overlapped an upload
// into its folder does not replace, with its answer marked stale, the
// entry a later lookup (begun after the upload) put there: that one is
// the fresher, and answers every lookup from the cache.
func TestFreshEntryStays(t *testing.T) {
	t.Parallel()
	ce := newCacheEnv(t)
	ctx := t.Context()
	files.HoldLookup(ce.Store, func() {
		if _, err := ce.Store.PutIn(context.WithoutCancel(ctx), ce.alice, ce.docs, "during.txt", strings.NewReader("d"), 1); err != nil {
			t.Error(err)
		}
		if _, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs"); err != nil { // after the upload: fresh
			t.Error(err)
		}
	})
	if _, err := ce.Store.Folder(ctx, ce.alice, "/Home/Docs"); err != nil {
		t.Fatal(err)
	}
	want, err := ce.fresh.Stat(ctx, ce.alice, "/Home/Docs")
	if err != nil {
		t.Fatal(err)
	}
	// Renamed behind the cache's back: an answer from the cache still
	// finds the folder by its old path.
	if _, err := ce.fresh.Rename(ctx, ce.alice, ce.docs.ID, "Elsewhere"); err != nil {
		t.Fatal(err)
	}
	if n, err := ce.Store.Stat(ctx, ce.alice, "/Home/Docs"); err != nil || !reflect.DeepEqual(n, want) {
		t.Errorf("Stat = %+v, %v; want the fresh entry %+v from the cache", n, err, want)
	}
}
