package files_test

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
	"github.com/caucus-org/caucus/internal/audit"
)

// TestReadsTraced: reading a shared file, a group's file or a file
// through a public link leaves one "files.read" record each (the reader or
// the link, the file, the address), repeated reads within the download
// window count once, and the owner reading their own home leaves none.
func TestReadsTraced(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{})
	s, ctx := e.Store, t.Context()
	alice, bob := e.Member(t, "alice@example.org"), e.Member(t, "bob@example.org")
	alice.Client = auth.Client{Addr: netip.MustParseAddr("192.0.2.1")}
	bob.Client = auth.Client{Addr: netip.MustParseAddr("192.0.2.2"), UserAgent: "test"}
	f := put(t, s, alice, "/Home", "budget.ods", "secret numbers")
	if _, err := s.Share(ctx, alice, f.ID, files.Grantee{Login: "bob@example.org"}, false); err != nil {
		t.Fatal(err)
	}
	readAll := func(a files.Actor, id int64) {
		t.Helper()
		rc, _, err := s.Open(ctx, a, id)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	}
	readAll(alice, f.ID) // the owner: not traced
	readAll(bob, f.ID)
	readAll(bob, f.ID) // the same download, again: once
	token, link, err := s.CreateLink(ctx, alice, f.ID, files.LinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := s.ResolveLink(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.LinkOpen(ctx, l, 0, auth.Client{Addr: netip.MustParseAddr("198.51.100.7")})
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if err := e.Audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := e.Audit.List(ctx, audit.Filter{Kind: "files.read"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("%d files.read records, want bob's read and the link's download: %+v", len(recs), recs)
	}
	byLink, byBob := recs[0], recs[1] // newest first
	if byBob.Actor != "bob@example.org" || byBob.Subject != "alice@example.org" || byBob.Addr != "192.0.2.2" ||
		!strings.Contains(byBob.Detail, "budget.ods") || !strings.Contains(byBob.Detail, "member") {
		t.Errorf("bob's read: %+v", byBob)
	}
	if byLink.Actor != "" || byLink.Addr != "198.51.100.7" || !strings.Contains(byLink.Detail, fmt.Sprint("link=", link.ID)) {
		t.Errorf("the link's download: %+v", byLink)
	}
	// A group's file read by a member of the group is traced too.
	if err := e.Auth.CreateGroup(ctx, "", "press"); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.AddToGroup(ctx, "", "press", bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.Auth.AddToGroup(ctx, "", "press", alice.ID); err != nil {
		t.Fatal(err)
	}
	g := put(t, s, alice, "/Groups/press", "plan.txt", "plan")
	readAll(alice, g.ID)
	e.Audit.Flush(ctx)
	recs, _ = e.Audit.List(ctx, audit.Filter{Kind: "files.read", Text: "plan.txt"})
	if len(recs) != 1 || recs[0].Actor != "alice@example.org" || !strings.Contains(recs[0].Detail, "space=group:press") {
		t.Errorf("group file read: %+v", recs)
	}
}
