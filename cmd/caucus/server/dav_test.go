package server

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool"
)

// newFilesAccount enrols login on srv (password and TOTP) and returns a
// files-scoped app password for it.
func newFilesAccount(t testing.TB, srv *Server, login string) string {
	t.Helper()
	_, secret := enrolWithAppPassword(t, srv, login, "Motion-Quorum-7731-Seconded", auth.ScopeFiles)
	return secret
}

// davURL is the dev server's WebDAV URL under the name of its certificate.
func davURL(t *testing.T, srv *Server) string {
	_, port, err := net.SplitHostPort(srv.addrs["https"])
	if err != nil {
		t.Fatal(err)
	}
	return "https://localhost:" + port + "/dav/"
}

// TestDAVLitmus runs litmus, the WebDAV protocol test suite, against the
// --dev server: basic, copymove, props and locks must all pass.
func TestDAVLitmus(t *testing.T) {
	litmus := testtool.Need(t, "litmus")
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(t.Context())
	secret := newFilesAccount(t, srv, "litmus@localhost")
	cmd := exec.CommandContext(t.Context(), litmus, davURL(t, srv)+"Home/", "litmus@localhost", secret)
	cmd.Env = append(os.Environ(), "TESTS=basic copymove props locks", "HOME="+dir)
	cmd.Dir = dir // litmus writes debug.log and child.log here
	out, err := cmd.CombinedOutput()
	t.Logf("litmus:\n%s", out)
	if err != nil {
		t.Errorf("litmus: %v", err)
	}
	for _, suite := range []string{"basic", "copymove", "props", "locks"} {
		if !strings.Contains(string(out), "<- summary for `"+suite+"': of ") {
			t.Errorf("litmus did not run %s", suite)
		}
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "FAIL") {
			t.Errorf("litmus: %s", line)
		}
	}
}

// TestDAVRclone syncs a tree of 1,000 files up with rclone's WebDAV
// backend and back down, and checks it came back unchanged.
func TestDAVRclone(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rclone's full check, copy and sync rounds (about a minute); go test without -short runs it")
	}
	rclone := testtool.Need(t, "rclone")
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(t.Context())
	secret := newFilesAccount(t, srv, "sync@localhost")

	src := filepath.Join(dir, "src")
	for i := range 1000 {
		p := filepath.Join(src, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("sub%d", i%3), fmt.Sprintf("file %04d ü.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, i*37%5000)
		rand.Read(b)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), rclone, args...)
		cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+filepath.Join(dir, "rclone.conf"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	obscured := run("obscure", secret)
	conf := fmt.Sprintf("[caucus]\ntype = webdav\nurl = %sHome/\nvendor = other\nuser = sync@localhost\npass = %s\n", davURL(t, srv), obscured)
	if err := os.WriteFile(filepath.Join(dir, "rclone.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "dev-cert.pem")
	run("sync", "--ca-cert", ca, "--transfers", "8", src, "caucus:tree")
	back := filepath.Join(dir, "back")
	run("sync", "--ca-cert", ca, "--transfers", "8", "caucus:tree", back)
	run("check", "--ca-cert", ca, "--download", src, "caucus:tree")
	cmd := exec.CommandContext(t.Context(), "diff", "-r", src, back)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tree changed on the way: %v\n%s", err, out)
	}
	var n int
	filepath.WalkDir(back, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	if n != 1000 {
		t.Fatalf("%d files came back, want 1000", n)
	}
}
