package files_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/blob"
)

func put(t *testing.T, s *files.Store, a files.Actor, dir, name, content string) files.Node {
	t.Helper()
	parent, err := s.Stat(t.Context(), a, dir)
	if err != nil {
		t.Fatalf("stat %s: %v", dir, err)
	}
	n, err := s.Put(t.Context(), a, parent.ID, name, strings.NewReader(content), int64(len(content)))
	if err != nil {
		t.Fatalf("put %s/%s: %v", dir, name, err)
	}
	return n
}

func read(t *testing.T, s *files.Store, a files.Actor, id int64) string {
	t.Helper()
	f, _, err := s.Open(t.Context(), a, id)
	if err != nil {
		t.Fatalf("open %d: %v", id, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func names(ns []files.Node) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return strings.Join(out, ",")
}

func TestTree(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")

	root, err := s.List(ctx, alice, "/")
	if err != nil || names(root) != "Home,Groups,Shared" {
		t.Fatalf("root = %q, %v", names(root), err)
	}
	home, _ := s.Stat(ctx, alice, "/Home")
	plans, err := s.Mkdir(ctx, alice, home.ID, "Plans")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mkdir(ctx, alice, home.ID, "Plans"); !errors.Is(err, files.ErrExists) {
		t.Fatalf("mkdir twice: %v", err)
	}
	f := put(t, s, alice, "/Home/Plans", "budget.txt", "v1")
	if f.Path != "/Home/Plans/budget.txt" || f.Size != 2 || f.ParentID != plans.ID {
		t.Fatalf("node %+v", f)
	}
	if got := read(t, s, alice, f.ID); got != "v1" {
		t.Fatalf("content %q", got)
	}
	// Bob sees nothing of Alice's.
	if _, err := s.Node(ctx, bob, f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob reads alice's file: %v", err)
	}
	if _, _, err := s.Open(ctx, bob, f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob opens alice's file: %v", err)
	}
	if err := s.Delete(ctx, bob, f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob deletes alice's file: %v", err)
	}
	if _, err := s.Put(ctx, bob, plans.ID, "x", strings.NewReader("x"), 1); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob writes into alice's folder: %v", err)
	}
	// Paths cannot escape.
	for _, p := range []string{"/Home/../Home", "/Home/Plans/..", "/Home/./Plans", "/etc/passwd", "/Groups/x", "/Shared/alice@example.org/Plans"} {
		if _, err := s.Stat(ctx, bob, p); err == nil {
			t.Errorf("stat %q as bob succeeded", p)
		}
	}
	// Rename, move, copy.
	arch, _ := s.Mkdir(ctx, alice, home.ID, "Archive")
	if _, err := s.Rename(ctx, alice, f.ID, "budget 2026.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, alice, plans.ID, arch.ID, "Plans"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Move(ctx, alice, arch.ID, plans.ID, "loop"); !errors.Is(err, files.ErrLoop) {
		t.Fatalf("move into itself: %v", err)
	}
	n, err := s.Stat(ctx, alice, "/Home/Archive/Plans/budget 2026.txt")
	if err != nil || n.ID != f.ID {
		t.Fatalf("after move: %+v %v", n, err)
	}
	c, err := s.Copy(ctx, alice, arch.ID, home.ID, "Copy")
	if err != nil {
		t.Fatal(err)
	}
	cn, err := s.Stat(ctx, alice, "/Home/Copy/Plans/budget 2026.txt")
	if err != nil || read(t, s, alice, cn.ID) != "v1" || c.ID == arch.ID {
		t.Fatalf("copy: %+v %v", cn, err)
	}
	bc, err := s.Breadcrumbs(ctx, alice, cn.ID)
	if err != nil || names(bc) != ",Home,Copy,Plans" {
		t.Fatalf("breadcrumbs %q %v", names(bc), err)
	}
	// Invalid names.
	for _, name := range []string{"", ".", "..", "a/b", "CON", "com1.txt", "x.", "x ", "a\x00b", "a:b", strings.Repeat("x", 256)} {
		if _, err := s.Mkdir(ctx, alice, home.ID, name); !errors.Is(err, files.ErrInvalidName) {
			t.Errorf("mkdir %q: %v", name, err)
		}
	}
	// NFC: "é" decomposed is stored composed.
	d, err := s.Mkdir(ctx, alice, home.ID, "Cafe\u0301")
	if err != nil || d.Name != "Caf\u00e9" {
		t.Fatalf("nfc: %q %v", d.Name, err)
	}
	if _, err := s.Stat(ctx, alice, "/Home/Cafe\u0301"); err != nil {
		t.Fatalf("stat decomposed: %v", err)
	}
}

func TestVersionsTrash(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{Versions: 3})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	var f files.Node
	for i := range 5 {
		f = put(t, s, alice, "/Home", "a.txt", strings.Repeat("x", i+1))
	}
	vs, err := s.Versions(ctx, alice, f.ID)
	if err != nil || len(vs) != 3 || vs[0].Size != 5 || !vs[0].Current || vs[2].Size != 3 {
		t.Fatalf("versions %+v %v", vs, err)
	}
	if _, err := s.RestoreVersion(ctx, alice, f.ID, vs[2].ID); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, alice, f.ID); got != "xxx" {
		t.Fatalf("restored %q", got)
	}
	rc, v, err := s.OpenVersion(ctx, alice, f.ID, vs[0].ID)
	if err != nil || v.Size != 5 {
		t.Fatal(err)
	}
	rc.Close()

	if err := s.Delete(ctx, alice, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, alice, "/Home/a.txt"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("deleted file still visible: %v", err)
	}
	put(t, s, alice, "/Home", "a.txt", "new")
	tr, err := s.Trash(ctx, alice)
	if err != nil || len(tr) != 1 || tr[0].ID != f.ID || tr[0].From != "/Home" {
		t.Fatalf("trash %+v %v", tr, err)
	}
	n, err := s.Restore(ctx, alice, f.ID)
	if err != nil || n.Name != "a (2).txt" {
		t.Fatalf("restore %+v %v", n, err)
	}
	if err := s.Delete(ctx, alice, f.ID); err != nil {
		t.Fatal(err)
	}
	e.Clock.Advance(29 * 24 * time.Hour)
	if k, err := s.PurgeExpired(ctx); err != nil || k != 0 {
		t.Fatalf("purged early: %d %v", k, err)
	}
	e.Clock.Advance(2 * 24 * time.Hour)
	if k, err := s.PurgeExpired(ctx); err != nil || k != 1 {
		t.Fatalf("purge: %d %v", k, err)
	}
	if _, err := s.Restore(ctx, alice, f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("restore purged: %v", err)
	}
	used, _, err := s.Usage(ctx, alice.ID)
	if err != nil || used != 3 {
		t.Fatalf("usage after purge = %d %v", used, err)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	if err := s.SetQuota(ctx, "admin@example.org", alice.ID, 100); err != nil {
		t.Fatal(err)
	}
	home, _ := s.Stat(ctx, alice, "/Home")
	put(t, s, alice, "/Home", "a", strings.Repeat("a", 60))
	// Announced size over the quota: refused before reading.
	r := &countReader{r: strings.NewReader(strings.Repeat("b", 50))}
	if _, err := s.Put(ctx, alice, home.ID, "b", r, 50); !errors.Is(err, files.ErrQuota) || r.n != 0 {
		t.Fatalf("announced: %v, read %d", err, r.n)
	}
	// Unknown size: refused while streaming, nothing visible.
	if _, err := s.Put(ctx, alice, home.ID, "b", strings.NewReader(strings.Repeat("b", 50)), -1); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("streamed: %v", err)
	}
	if !strings.Contains(files.ErrQuota.Error(), "quota") {
		t.Fatal("unclear error text")
	}
	if _, err := s.Stat(ctx, alice, "/Home/b"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("partial upload visible: %v", err)
	}
	used, quota, err := s.Usage(ctx, alice.ID)
	if err != nil || used != 60 || quota != 100 {
		t.Fatalf("usage %d/%d %v", used, quota, err)
	}
	// A short body is not committed.
	if _, err := s.Put(ctx, alice, home.ID, "c", strings.NewReader("abc"), 10); err == nil {
		t.Fatal("short body accepted")
	}
	// Group quota.
	if err := e.Auth.AddToGroup(ctx, "", "press", alice.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGroupQuota(ctx, "admin@example.org", "press", 10); err != nil {
		t.Fatal(err)
	}
	g, err := s.Stat(ctx, alice, "/Groups/press")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, alice, g.ID, "big", strings.NewReader(strings.Repeat("x", 11)), -1); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("group quota: %v", err)
	}
}

type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestSharesGroups(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")
	carol := e.Member(t, "carol@example.org")
	for _, a := range []files.Actor{alice, bob} {
		if err := e.Auth.AddToGroup(ctx, "", "board", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Group folder: both members read and write.
	gf := put(t, s, alice, "/Groups/board", "minutes.txt", "m")
	if got := read(t, s, bob, gf.ID); got != "m" {
		t.Fatalf("bob reads group file: %q", got)
	}
	if _, err := s.Node(ctx, carol, gf.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("carol reads board file: %v", err)
	}
	// Read-only share with Carol.
	home, _ := s.Stat(ctx, alice, "/Home")
	dir, _ := s.Mkdir(ctx, alice, home.ID, "Press")
	f := put(t, s, alice, "/Home/Press", "release.txt", "r")
	sh, err := s.Share(ctx, alice, dir.ID, files.Grantee{Login: "carol@example.org"}, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Stat(ctx, carol, "/Shared/alice@example.org/Press/release.txt")
	if err != nil || n.ID != f.ID || n.Writable {
		t.Fatalf("carol's view %+v %v", n, err)
	}
	if _, err := s.Put(ctx, carol, dir.ID, "x.txt", strings.NewReader("x"), 1); !errors.Is(err, files.ErrForbidden) {
		t.Fatalf("carol writes read-only share: %v", err)
	}
	if err := s.Delete(ctx, carol, f.ID); !errors.Is(err, files.ErrForbidden) {
		t.Fatalf("carol deletes read-only: %v", err)
	}
	if _, err := s.Share(ctx, carol, f.ID, files.Grantee{Login: "bob@example.org"}, true); !errors.Is(err, files.ErrForbidden) {
		t.Fatalf("carol reshares: %v", err)
	}
	// Upgrade to read-write.
	if _, err := s.Share(ctx, alice, dir.ID, files.Grantee{Login: "carol@example.org"}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, carol, dir.ID, "x.txt", strings.NewReader("x"), 1); err != nil {
		t.Fatalf("carol writes read-write share: %v", err)
	}
	if err := s.Delete(ctx, carol, dir.ID); !errors.Is(err, files.ErrForbidden) {
		t.Fatalf("carol deletes the shared folder itself: %v", err)
	}
	mine, err := s.SharesOf(ctx, alice.ID)
	if err != nil || len(mine) != 1 || mine[0].NodePath != "/Home/Press" || mine[0].With.Login != "carol@example.org" {
		t.Fatalf("shares of alice %+v %v", mine, err)
	}
	with, err := s.SharedWith(ctx, carol)
	if err != nil || len(with) != 1 || with[0].NodePath != "/Shared/alice@example.org/Press" {
		t.Fatalf("shared with carol %+v %v", with, err)
	}
	if err := s.Unshare(ctx, carol, sh.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("carol unshares: %v", err)
	}
	if err := s.Unshare(ctx, alice, sh.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Node(ctx, carol, f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("after unshare: %v", err)
	}
	// Share with a group.
	if _, err := s.Share(ctx, alice, f.ID, files.Grantee{Group: "board"}, false); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, bob, f.ID); got != "r" {
		t.Fatalf("bob via group: %q", got)
	}
}

func TestLinks(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{MaxLinkLifetime: 30 * 24 * time.Hour})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")
	f := put(t, s, alice, "/Home", "flyer.pdf", "pdf")

	if _, _, err := s.CreateLink(ctx, bob, f.ID, files.LinkOptions{}); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob links alice's file: %v", err)
	}
	if _, _, err := s.CreateLink(ctx, alice, f.ID, files.LinkOptions{ExpiresAt: e.Clock.Now().Add(31 * 24 * time.Hour)}); !errors.Is(err, files.ErrLifetime) {
		t.Fatalf("too long: %v", err)
	}
	tok, l, err := s.CreateLink(ctx, alice, f.ID, files.LinkOptions{MaxDownloads: 2, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < 22 || !l.ExpiresAt.Equal(e.Clock.Now().Add(7*24*time.Hour).Truncate(time.Millisecond)) || !l.HasPassword {
		t.Fatalf("link %+v token %d chars", l, len(tok))
	}
	if _, _, err := s.ResolveLink(ctx, tok+"x"); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("wrong token: %v", err)
	}
	l, n, err := s.ResolveLink(ctx, tok)
	if err != nil || n.ID != f.ID {
		t.Fatal(err)
	}
	if err := s.CheckLinkPassword(ctx, l, "wrong"); !errors.Is(err, files.ErrPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := s.CheckLinkPassword(ctx, l, "correct horse"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // two recipients: one address's repeats count once
		rc, _, err := s.LinkOpen(ctx, l, 0, auth.Client{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "pdf" {
			t.Fatalf("link content %q", b)
		}
	}
	if _, _, err := s.LinkOpen(ctx, l, 0, auth.Client{Addr: netip.MustParseAddr("192.0.2.9")}); !errors.Is(err, files.ErrExhausted) {
		t.Fatalf("third download: %v", err)
	}
	if _, _, err := s.ResolveLink(ctx, tok); !errors.Is(err, files.ErrExhausted) {
		t.Fatalf("resolve exhausted: %v", err)
	}

	tok2, l2, err := s.CreateLink(ctx, alice, f.ID, files.LinkOptions{ExpiresAt: e.Clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SuspendPublicLinks(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ResolveLink(ctx, tok2); !errors.Is(err, files.ErrSuspended) {
		t.Fatalf("suspended: %v", err)
	}
	if _, err := s.ResumePublicLinks(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ResolveLink(ctx, tok2); err != nil {
		t.Fatalf("resumed: %v", err)
	}
	e.Clock.Advance(2 * time.Hour)
	if _, _, err := s.ResolveLink(ctx, tok2); !errors.Is(err, files.ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if err := s.RevokeMyLink(ctx, bob, l2.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("bob revokes alice's link: %v", err)
	}

	// A file drop into a folder: uploads land uniquely named, nothing listed.
	home, _ := s.Stat(ctx, alice, "/Home")
	inbox, _ := s.Mkdir(ctx, alice, home.ID, "Inbox")
	if _, _, err := s.CreateLink(ctx, alice, f.ID, files.LinkOptions{Kind: files.LinkDrop}); !errors.Is(err, files.ErrNotDir) {
		t.Fatalf("drop on a file: %v", err)
	}
	tok3, _, err := s.CreateLink(ctx, alice, inbox.ID, files.LinkOptions{Kind: files.LinkDrop})
	if err != nil {
		t.Fatal(err)
	}
	l3, _, err := s.ResolveLink(ctx, tok3)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.DropPut(ctx, l3, "cv.pdf", strings.NewReader("cv"), 2, alice.Client); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.LinkList(ctx, l3, 0); !errors.Is(err, files.ErrForbidden) {
		t.Fatalf("drop link lists: %v", err)
	}
	got, _ := s.List(ctx, alice, "/Home/Inbox")
	if names(got) != "cv (2).pdf,cv.pdf" {
		t.Fatalf("inbox %q", names(got))
	}
	if err := s.RevokeMyLink(ctx, alice, l3.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DropPut(ctx, l3, "late.pdf", strings.NewReader("x"), 1, alice.Client); !errors.Is(err, files.ErrRevoked) {
		t.Fatalf("drop after revoke: %v", err)
	}
	all, err := s.AllLinks(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("all links %d %v", len(all), err)
	}
	if n, err := s.RevokeLinksOf(ctx, "admin", alice.ID); err != nil || n != 2 {
		t.Fatalf("revoke links of: %d %v", n, err)
	}
}

func TestTransferOwnership(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")
	carol := e.Member(t, "carol@example.org")
	home, _ := s.Stat(ctx, alice, "/Home")
	d, _ := s.Mkdir(ctx, alice, home.ID, "Plans")
	f := put(t, s, alice, "/Home/Plans", "p.txt", "plan")
	if _, err := s.Share(ctx, alice, d.ID, files.Grantee{Login: carol.Login}, false); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.CreateLink(ctx, alice, f.ID, files.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.TransferOwnership(ctx, "admin@example.org", alice.ID, bob.ID, files.LinksMove)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Folder != "/Home/From alice@example.org" || rep.Files != 1 || rep.Folders != 1 || rep.Bytes != 4 || rep.SharesMoved != 1 || rep.LinksMoved != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := read(t, s, bob, f.ID); got != "plan" {
		t.Fatalf("bob reads %q", got)
	}
	if _, err := s.Node(ctx, alice, f.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("alice still sees: %v", err)
	}
	if _, err := s.Stat(ctx, carol, "/Shared/bob@example.org/Plans/p.txt"); err != nil {
		t.Fatalf("share moved: %v", err)
	}
	if _, _, err := s.ResolveLink(ctx, tok); err != nil {
		t.Fatalf("link moved: %v", err)
	}
	if used, _, _ := s.Usage(ctx, bob.ID); used != 4 {
		t.Fatalf("bob uses %d", used)
	}
}

func TestGC(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{Versions: 1})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	put(t, s, alice, "/Home", "a", "one")
	put(t, s, alice, "/Home", "a", "two") // "one" pruned: its blob goes at once
	if k, err := s.GC(ctx); err != nil || k != 0 {
		t.Fatalf("gc %d %v", k, err)
	}
	if got := read(t, s, alice, put(t, s, alice, "/Home", "b", "one").ID); got != "one" {
		t.Fatal(got)
	}
}

func TestLargeStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a 64 MiB file; go test without -short runs it")
	}
	t.Parallel()
	e := filestest.New(t, files.Options{})
	alice := e.Member(t, "alice@example.org")
	home, _ := e.Store.Stat(t.Context(), alice, "/Home")
	const size = 64 << 20
	n, err := e.Store.Put(t.Context(), alice, home.ID, "big", io.LimitReader(zeros{}, size), size)
	if err != nil || n.Size != size {
		t.Fatal(err)
	}
	f, _, err := e.Store.Open(t.Context(), alice, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(size-4, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	if !bytes.Equal(b, make([]byte, 4)) {
		t.Fatal("tail")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

var _ = context.Background

func TestFolderLink(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, _ := s.Stat(ctx, alice, "/Home")
	press, _ := s.Mkdir(ctx, alice, home.ID, "Press")
	kit, _ := s.Mkdir(ctx, alice, press.ID, "Kit")
	logo := put(t, s, alice, "/Home/Press/Kit", "logo.svg", "<svg/>")
	private := put(t, s, alice, "/Home", "private.txt", "p")
	tok, _, err := s.CreateLink(ctx, alice, press.ID, files.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, root, err := s.ResolveLink(ctx, tok)
	if err != nil || root.Path != "/" || !root.Dir {
		t.Fatalf("root %+v %v", root, err)
	}
	ls, err := s.LinkList(ctx, l, 0)
	if err != nil || names(ls) != "Kit" {
		t.Fatalf("list %q %v", names(ls), err)
	}
	n, err := s.LinkNode(ctx, l, logo.ID)
	if err != nil || n.Path != "/Kit/logo.svg" || n.Writable {
		t.Fatalf("node %+v %v", n, err)
	}
	if _, err := s.LinkNode(ctx, l, private.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("outside the link: %v", err)
	}
	if _, _, err := s.LinkOpen(ctx, l, kit.ID, alice.Client); !errors.Is(err, files.ErrIsDir) {
		t.Fatalf("open a folder: %v", err)
	}
	// A deleted item is gone from the link too.
	if err := s.Delete(ctx, alice, kit.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LinkNode(ctx, l, logo.ID); !errors.Is(err, files.ErrNotFound) {
		t.Fatalf("trashed under the link: %v", err)
	}
	// A suspended owner's links stop working.
	if err := e.Auth.SetState(ctx, "", alice.ID, "suspended", alice.Client); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ResolveLink(ctx, tok); !errors.Is(err, files.ErrRevoked) {
		t.Fatalf("suspended owner: %v", err)
	}
}

// TestBlobHold checks that while a backup holds the blobs, a pruned
// version's blob stays on disk for the backup to copy (blob files only:
// InlineBytes -1; the backup's copy of the database holds the others).
func TestBlobHold(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{Versions: 1, InlineBytes: -1})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bs, err := blob.OpenDir(e.BlobDir)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("one"))
	path := bs.Path(blob.Ref(hex.EncodeToString(sum[:])))
	put(t, s, alice, "/Home", "a", "one")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("blob of the first version: %v", err)
	}
	release, err := e.DB.HoldBlobs(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, alice, "/Home", "a", "two") // "one" pruned while held
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("a held blob was deleted: %v", err)
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, s, alice, "/Home", "c", "one")
	put(t, s, alice, "/Home", "c", "three") // "one" pruned again, now unheld
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("blob after pruning without a hold: %v, want gone", err)
	}
}

// TestKey: one node has one key for every member, by any path.
func TestKey(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	carol := e.Member(t, "carol@example.org")
	bob := e.Member(t, "bob@example.org")
	home, _ := s.Stat(ctx, carol, "/Home")
	dir, _ := s.Mkdir(ctx, carol, home.ID, "Plans")
	put(t, s, carol, "/Home/Plans", "a.txt", "a")
	if _, err := s.Share(ctx, carol, dir.ID, files.Grantee{Login: "bob@example.org"}, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		a    files.Actor
		p    string
		want string
	}{
		{carol, "/Home/Plans/a.txt", "/home/%d/Plans/a.txt"},
		{bob, "/Shared/carol@example.org/Plans/a.txt", "/home/%d/Plans/a.txt"},
		{bob, "/Shared/carol@example.org/Plans/new/b.txt", "/home/%d/Plans/new/b.txt"},
		{carol, "/Home", "/home/%d"},
	} {
		got, err := s.Key(ctx, c.a, c.p)
		if want := fmt.Sprintf(c.want, carol.ID); err != nil || got != want {
			t.Errorf("Key(%s, %s) = %q, %v; want %q", c.a.Login, c.p, got, err, want)
		}
	}
	if k, err := s.Key(ctx, bob, "/Shared"); err != nil || k != fmt.Sprintf("/view/%d/Shared", bob.ID) {
		t.Errorf("Key of a virtual folder: %q %v", k, err)
	}
}

// TestOpenNode: OpenNode reads the version the node's ETag names, even
// after a newer one; a node not returned by the store (an ID alone) is
// looked up with the caller's access, so it opens nothing of another
// account's.
func TestOpenNode(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	bob := e.Member(t, "bob@example.org")
	put(t, s, alice, "/Home", "plan.txt", "first")
	n, err := s.Stat(ctx, alice, "/Home/plan.txt")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, alice, "/Home", "plan.txt", "second")
	readAll := func(rc io.ReadSeekCloser, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := readAll(s.OpenNode(ctx, alice, n)); got != "first" {
		t.Errorf("OpenNode of the node read before the new version: %q, want the version of its ETag", got)
	}
	if got := readAll(s.OpenNode(ctx, alice, files.Node{ID: n.ID})); got != "second" {
		t.Errorf("OpenNode by ID: %q, want the current version", got)
	}
	if _, err := s.OpenNode(ctx, bob, files.Node{ID: n.ID}); !errors.Is(err, files.ErrNotFound) {
		t.Errorf("bob opens alice's file by its ID: %v, want ErrNotFound", err)
	}
	home, _ := s.Stat(ctx, alice, "/Home")
	if _, err := s.OpenNode(ctx, alice, home); !errors.Is(err, files.ErrIsDir) {
		t.Errorf("OpenNode of a folder: %v, want ErrIsDir", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.OpenNode(cctx, alice, n); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenNode after the request ended: %v", err)
	}
}

// TestChainCycle: a cycle in the parent links (a damaged database) ends
// the walk up at the depth bound with ErrTooDeep instead of looping.
func TestChainCycle(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice := e.Member(t, "alice@example.org")
	home, _ := s.Stat(ctx, alice, "/Home")
	a, err := s.Mkdir(ctx, alice, home.ID, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Mkdir(ctx, alice, a.ID, "b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.DB.ExecContext(ctx, `UPDATE files_nodes SET parent_id = ? WHERE id = ?`, b.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Node(ctx, alice, b.ID); !errors.Is(err, files.ErrTooDeep) {
		t.Fatalf("node in a cycle: %v, want ErrTooDeep", err)
	}
}
