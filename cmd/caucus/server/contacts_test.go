package server

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/carddav"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/mail/contacts"
)

// cardURL is the dev server's CardDAV context path.
func cardURL(t *testing.T, srv *Server) string {
	_, port, err := net.SplitHostPort(srv.addrs["https"])
	if err != nil {
		t.Fatal(err)
	}
	return "https://localhost:" + port + "/carddav/"
}

// vcfText is a small vCard 3.0 as clients write them.
func vcfText(uid, fn string) string {
	return fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:%s\r\nFN:%s\r\nN:%s;;;;\r\nEMAIL;TYPE=INTERNET:%s@example.net\r\nEND:VCARD\r\n", uid, fn, fn, uid)
}

// TestContactsVdirsyncer syncs contacts both ways with vdirsyncer, the
// Debian CardDAV client, against the --dev server: cards made on either
// side reach the other, a card edited on both sides is a conflict
// vdirsyncer reports (then resolves as configured), the party directory
// comes down read-only and loses a suspended member, and khard reads
// what was synced.
func TestContactsVdirsyncer(t *testing.T) {
	vdir := testtool.Need(t, "vdirsyncer")
	khard := testtool.Need(t, "khard")
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(t.Context())
	ctx := t.Context()
	aliceID, secret := enrolWithAppPassword(t, srv, "alice@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeCalendar)
	bobID, _ := enrolWithAppPassword(t, srv, "bob@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeCalendar)

	// The server side, as a phone would change it: go-webdav's client.
	hc := devClient(t, dir)
	hc.CheckRedirect = nil
	cc, err := carddav.NewClient(webdav.HTTPClientWithBasicAuth(hc, "alice@localhost", secret), cardURL(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	book := "/carddav/alice@localhost/books/contacts/"
	put := func(name, uid, fn string) {
		t.Helper()
		c, err := contacts.Parse([]byte(vcfText(uid, fn)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cc.PutAddressObject(ctx, book+name, c); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	put("a.vcf", "a", "Ada Server")
	put("b.vcf", "b", "Bea Server")

	local := filepath.Join(dir, "vdir")
	conf := filepath.Join(dir, "vdirsyncer.conf")
	writeConf := func(resolution string) {
		t.Helper()
		extra := ""
		if resolution != "" {
			extra = fmt.Sprintf("conflict_resolution = %q\n", resolution)
		}
		c := fmt.Sprintf(`[general]
status_path = "%s/status/"

[pair caucus]
a = "local"
b = "remote"
collections = ["contacts", "directory"]
%s
[storage local]
type = "filesystem"
path = "%s/"
fileext = ".vcf"

[storage remote]
type = "carddav"
url = "%s"
username = "alice@localhost"
password = "%s"
verify = "%s"
`, dir, extra, local, cardURL(t, srv), secret, filepath.Join(dir, "dev-cert.pem"))
		if err := os.WriteFile(conf, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, vdir, append([]string{"-c", conf}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
		cmd.Stdin = strings.NewReader(strings.Repeat("y\n", 10))
		out, err := cmd.CombinedOutput()
		t.Logf("vdirsyncer %v:\n%s", args, out)
		return string(out), err
	}
	mustRun := func(args ...string) {
		t.Helper()
		if _, err := run(args...); err != nil {
			t.Fatalf("vdirsyncer %v: %v", args, err)
		}
	}
	writeConf("")
	mustRun("discover")
	mustRun("sync")

	localCard := func(uid string) string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(local, "contacts", "*.vcf"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if strings.Contains(string(b), "UID:"+uid+"\r\n") || strings.Contains(string(b), "UID:"+uid+"\n") {
				return f
			}
		}
		return ""
	}
	fa := localCard("a")
	if fa == "" || localCard("b") == "" {
		t.Fatalf("the server's cards did not come down")
	}

	// Edits on both sides, of different cards, and a new card each side.
	if err := os.WriteFile(fa, []byte(vcfText("a", "Ada Laptop")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "contacts", "c.vcf"), []byte(vcfText("c", "Cleo Laptop")), 0o600); err != nil {
		t.Fatal(err)
	}
	put("b.vcf", "b", "Bea Phone")
	put("d.vcf", "d", "Dan Phone")
	mustRun("sync")
	alice := contacts.Member{ID: aliceID, Login: "alice@localhost"}
	store := contacts.New(srv.db, contacts.Deps{Auth: srv.auth})
	server := func() map[string]string {
		t.Helper()
		cs, err := store.Cards(ctx, alice, "contacts")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, c := range cs {
			vc, err := contacts.Parse(c.Data)
			if err != nil {
				t.Fatal(err)
			}
			out[c.UID] = vc.PreferredValue(vcard.FieldFormattedName)
		}
		return out
	}
	if got := server(); got["a"] != "Ada Laptop" || got["c"] != "Cleo Laptop" || got["b"] != "Bea Phone" || len(got) != 4 {
		t.Errorf("server after the two-way sync: %v", got)
	}
	if b, _ := os.ReadFile(localCard("b")); !strings.Contains(string(b), "Bea Phone") || localCard("d") == "" {
		t.Errorf("the phone's edits did not come down: %q", b)
	}

	// The same card edited on both sides: a conflict, nothing lost.
	if err := os.WriteFile(localCard("a"), []byte(vcfText("a", "Ada Conflict Laptop")), 0o600); err != nil {
		t.Fatal(err)
	}
	put("a.vcf", "a", "Ada Conflict Phone")
	out, err := run("sync")
	if err == nil || !strings.Contains(out, "changed on both sides") {
		t.Fatalf("conflict not reported: %v", err)
	}
	if got := server(); got["a"] != "Ada Conflict Phone" {
		t.Errorf("the server's side of the conflict was overwritten: %v", got)
	}
	writeConf("b wins")
	mustRun("sync")
	if b, _ := os.ReadFile(localCard("a")); !strings.Contains(string(b), "Ada Conflict Phone") {
		t.Errorf("conflict resolved as b wins, local has %q", b)
	}

	// khard reads the synced books.
	kconf := filepath.Join(dir, "khard.conf")
	kc := fmt.Sprintf("[addressbooks]\n[[contacts]]\npath = %s/contacts/\n[[directory]]\npath = %s/directory/\n[general]\neditor = /bin/true\nmerge_editor = /bin/true\n", local, local)
	if err := os.WriteFile(kconf, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	kout, err := exec.CommandContext(ctx, khard, "-c", kconf, "email", "--parsable").CombinedOutput()
	t.Logf("khard email:\n%s", kout)
	if err != nil {
		t.Fatalf("khard: %v", err)
	}
	for _, want := range []string{"c@example.net\tCleo Laptop", "d@example.net\tDan Phone", "alice@localhost\t", "bob@localhost\t"} {
		if !strings.Contains(string(kout), want) {
			t.Errorf("khard does not show %q", want)
		}
	}

	// The directory: read-only, and a suspended member leaves it.
	dirFiles, _ := filepath.Glob(filepath.Join(local, "directory", "*.vcf"))
	if len(dirFiles) != 2 {
		t.Fatalf("directory has %d cards locally, want 2", len(dirFiles))
	}
	if err := srv.auth.SetState(ctx, "", bobID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	mustRun("sync")
	dirFiles, _ = filepath.Glob(filepath.Join(local, "directory", "*.vcf"))
	for _, f := range dirFiles {
		if b, _ := os.ReadFile(f); strings.Contains(string(b), "bob@localhost") {
			t.Errorf("suspended bob still in the synced directory")
		}
	}
	if len(dirFiles) != 1 {
		t.Errorf("directory has %d cards after bob's suspension, want 1", len(dirFiles))
	}
	// A local edit of the directory is refused by the server (403): the
	// directory stays as auth says.
	if len(dirFiles) == 1 {
		b, err := os.ReadFile(dirFiles[0])
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(b), "FN:Vol", "FN:Impostor", 1)
		if err := os.WriteFile(dirFiles[0], []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := run("sync"); err == nil || !strings.Contains(out, "403") {
			t.Errorf("an edit of the directory was not refused: %v", err)
		}
		cs, err := store.Cards(ctx, alice, "directory")
		if err != nil || len(cs) != 1 || strings.Contains(string(cs[0].Data), "Impostor") {
			t.Errorf("directory on the server after a refused edit: %v %v", cs, err)
		}
	}
}
