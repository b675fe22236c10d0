package dav_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
)

// TestMoveOutOfShareDAV is issue 12 item 4 over WebDAV: a write recipient
// who MOVEs a folder of a share into his home gets what is live in it; the
// owner's trashed file stays in her trash, and she gets a trash entry for
// the folder.
func TestMoveOutOfShareDAV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	carol, _, ca := e.client(t, "carol@example.org")
	bob, _, ba := e.client(t, "bob@example.org")
	carol.expect(http.StatusCreated, "MKCOL", "/dav/Home/Campaign", nil)
	carol.expect(http.StatusCreated, "MKCOL", "/dav/Home/Campaign/Sub", nil)
	carol.expect(http.StatusCreated, "PUT", "/dav/Home/Campaign/Sub/old.txt", strings.NewReader("deleted before sharing"))
	carol.expect(http.StatusCreated, "PUT", "/dav/Home/Campaign/Sub/keep.txt", strings.NewReader("keep"))
	carol.expect(http.StatusNoContent, "DELETE", "/dav/Home/Campaign/Sub/old.txt", nil)
	camp, _ := e.Store.Stat(t.Context(), ca, "/Home/Campaign")
	if _, err := e.Store.Share(t.Context(), ca, camp.ID, files.Grantee{Login: "bob@example.org"}, true); err != nil {
		t.Fatal(err)
	}
	bob.expect(http.StatusCreated, "MOVE", "/dav/Shared/carol@example.org/Campaign/Sub", nil, "Destination", e.srv.URL+"/dav/Home/Sub")
	if got := bob.expect(http.StatusOK, "GET", "/dav/Home/Sub/keep.txt", nil); got != "keep" {
		t.Fatalf("moved file reads %q", got)
	}
	if items, _ := e.Store.Trash(t.Context(), ba); len(items) != 0 {
		t.Fatalf("bob's trash has %d items of carol's", len(items))
	}
	items, _ := e.Store.Trash(t.Context(), ca)
	var got []string
	for _, it := range items {
		got = append(got, it.Name)
	}
	if len(got) != 2 {
		t.Fatalf("carol's trash: %v, want old.txt and Sub", got)
	}
}
