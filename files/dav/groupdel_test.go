package dav_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/files"
)

// A deleted group's folder is gone from its members' WebDAV at their next
// request, though their app passwords and sessions stay valid.
func TestDeletedGroupGoneFromDAV(t *testing.T) {
	t.Parallel()
	e := newEnv(t, files.Options{})
	ctx := t.Context()
	bob, bu, _ := e.client(t, "bob@example.org")
	_, dave := e.Person(t, "dave@example.org")
	if err := e.Auth.AddToGroup(ctx, "", "board", bu.Account.ID); err != nil {
		t.Fatal(err)
	}
	bob.expect(http.StatusCreated, "PUT", "/dav/Groups/board/minutes.txt", strings.NewReader("m"))
	bob.expect(http.StatusOK, "GET", "/dav/Groups/board/minutes.txt", nil)
	gid, err := e.Auth.GroupID(ctx, "board")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.HandOverGroup(ctx, "admin@example.org", gid, "board", dave.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Auth.DeleteGroup(ctx, "admin@example.org", "board", ""); err != nil {
		t.Fatal(err)
	}
	bob.expect(http.StatusNotFound, "GET", "/dav/Groups/board/minutes.txt", nil)
	bob.expect(http.StatusNotFound, "PROPFIND", "/dav/Groups/board/", nil, "Depth", "1")
	if body := bob.expect(http.StatusMultiStatus, "PROPFIND", "/dav/Groups/", nil, "Depth", "1"); strings.Contains(body, "board") {
		t.Errorf("bob's Groups still lists board:\n%s", body)
	}
	bob.expect(http.StatusMultiStatus, "PROPFIND", "/dav/Home/", nil, "Depth", "0") // the rest of bob's access stays
	if _, err := e.Store.Stat(ctx, dave, "/Home/board/minutes.txt"); err != nil {
		t.Errorf("dave's copy: %v", err)
	}
}
