package server

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/testtool"
)

// TestDAVReadTraced: curl uploads a file to a group folder as one member
// and downloads it over WebDAV as another, twice (one download window);
// the audit log then holds exactly one files.read record for the second
// member, with the file's path, and none for the uploader.
func TestDAVReadTraced(t *testing.T) {
	curl := testtool.Need(t, "curl")
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(context.WithoutCancel(t.Context()))
	ctx := t.Context()
	anna := newFilesAccount(t, srv, "anna@localhost")
	bob := newFilesAccount(t, srv, "bob@localhost")
	if err := srv.auth.CreateGroup(ctx, "", "board"); err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"anna@localhost", "bob@localhost"} {
		a, err := srv.auth.AccountByLogin(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.auth.AddToGroup(ctx, "", "board", a.ID); err != nil {
			t.Fatal(err)
		}
	}
	url := davURL(t, srv) + "Groups/board/minutes.txt"
	run := func(user, secret string, args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := exec.CommandContext(cctx, curl, append([]string{"-sS", "--fail", "--cacert", filepath.Join(dir, "dev-cert.pem"), "-u", user + ":" + secret}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("anna@localhost", anna, "-X", "PUT", "--data-binary", "board minutes", url)
	for range 2 {
		if got := run("bob@localhost", bob, url); got != "board minutes" {
			t.Fatalf("bob read %q", got)
		}
	}
	if err := srv.audit.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := srv.audit.List(ctx, audit.Filter{Kind: "files.read"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Actor != "bob@localhost" || !strings.Contains(recs[0].Detail, "minutes.txt") || recs[0].Addr == "" {
		t.Errorf("files.read records: %+v", recs)
	}
}
