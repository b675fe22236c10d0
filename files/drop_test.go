package files_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/files/filestest"
)

// TestDropLimits is issue 12 item 6: a file drop link takes files of at
// most DropFileBytes each and DropLinkBytes in all (less if its owner
// chose so), whether or not the sender announces the size, and a refused
// file leaves nothing and uses up nothing.
func TestDropLimits(t *testing.T) {
	t.Parallel()
	e := filestest.New(t, files.Options{DropFileBytes: 1000, DropLinkBytes: 2500})
	s, ctx := e.Store, t.Context()
	if o := s.Options(); o.DropFileBytes != 1000 || o.DropLinkBytes != 2500 {
		t.Fatalf("options %+v", o)
	}
	if o := filestest.New(t, files.Options{}).Store.Options(); o.DropFileBytes != files.DefaultDropFileBytes || o.DropLinkBytes != files.DefaultDropLinkBytes {
		t.Fatalf("default drop limits %d, %d", o.DropFileBytes, o.DropLinkBytes)
	}
	alice := e.Member(t, "alice@example.org")
	home, _ := s.Stat(ctx, alice, "/Home")
	inbox, _ := s.Mkdir(ctx, alice, home.ID, "Inbox")
	if _, _, err := s.CreateLink(ctx, alice, inbox.ID, files.LinkOptions{Kind: files.LinkDrop, MaxBytes: 2501}); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("a drop link above the limit: %v", err)
	}
	tok, _, err := s.CreateLink(ctx, alice, inbox.ID, files.LinkOptions{Kind: files.LinkDrop})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := s.ResolveLink(ctx, tok)
	if err != nil || l.MaxBytes != 2500 {
		t.Fatalf("link %+v %v", l, err)
	}
	drop := func(name string, n int, announce bool) error {
		size := int64(-1)
		if announce {
			size = int64(n)
		}
		_, err := s.DropPut(ctx, l, name, io.LimitReader(zeros{}, int64(n)), size, alice.Client)
		return err
	}
	if err := drop("big.bin", 1001, true); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("announced file over the limit: %v", err)
	}
	if err := drop("big.bin", 1001, false); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("unannounced file over the limit: %v", err)
	}
	for i := range 2 {
		if err := drop("ok.bin", 1000, i == 0); err != nil {
			t.Fatalf("file %d within the limits: %v", i, err)
		}
	}
	if err := drop("third.bin", 600, false); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("a file past the link's total: %v", err)
	}
	if err := drop("last.bin", 500, false); err != nil {
		t.Fatalf("the last 500 bytes: %v", err)
	}
	if err := drop("more.bin", 1, true); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("a full link took more: %v", err)
	}
	got, _ := s.List(ctx, alice, "/Home/Inbox")
	if names(got) != "last.bin,ok (2).bin,ok.bin" {
		t.Fatalf("inbox %q", names(got))
	}
	ls, _ := s.LinksOf(ctx, alice.ID)
	if len(ls) != 1 || ls[0].Received != 2500 {
		t.Fatalf("links %+v", ls)
	}
	// An owner may choose a smaller limit.
	tok2, _, err := s.CreateLink(ctx, alice, inbox.ID, files.LinkOptions{Kind: files.LinkDrop, MaxBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	l2, _, _ := s.ResolveLink(ctx, tok2)
	if _, err := s.DropPut(ctx, l2, "x", strings.NewReader(strings.Repeat("x", 11)), -1, alice.Client); !errors.Is(err, files.ErrQuota) {
		t.Fatalf("11 bytes into a 10-byte link: %v", err)
	}
}
