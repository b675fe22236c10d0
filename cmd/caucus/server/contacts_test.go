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

// vdirEnv is a vdirsyncer set up against a dev server for one member.
type vdirEnv struct {
	t             *testing.T
	srv           *Server
	dir, local    string
	conf, vdir    string
	login, secret string
	member        contacts.Member
	store         *contacts.Store
	phone         *carddav.Client // the server side, as a phone would change it
}

func newVdirEnv(t *testing.T, vdir string, srv *Server, dir string, id int64, login, secret string) *vdirEnv {
	t.Helper()
	hc := devClient(t, dir)
	hc.CheckRedirect = nil
	cc, err := carddav.NewClient(webdav.HTTPClientWithBasicAuth(hc, login, secret), cardURL(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	return &vdirEnv{t: t, srv: srv, dir: dir, local: filepath.Join(dir, "vdir"), conf: filepath.Join(dir, "vdirsyncer.conf"), vdir: vdir,
		login: login, secret: secret, member: contacts.Member{ID: id, Login: login},
		store: contacts.New(srv.db, contacts.Deps{Auth: srv.auth}), phone: cc}
}

// put stores a card in the member's own book from the phone.
func (v *vdirEnv) put(name, uid, fn string) {
	v.t.Helper()
	c, err := contacts.Parse([]byte(vcfText(uid, fn)))
	if err != nil {
		v.t.Fatal(err)
	}
	if _, err := v.phone.PutAddressObject(v.t.Context(), "/carddav/"+v.login+"/books/contacts/"+name, c); err != nil {
		v.t.Fatalf("put %s: %v", name, err)
	}
}

// writeConf writes vdirsyncer's configuration: the member's own book and
// the directory, with a conflict resolution if given.
func (v *vdirEnv) writeConf(resolution string) {
	v.t.Helper()
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
username = "%s"
password = "%s"
verify = "%s"
`, v.dir, extra, v.local, cardURL(v.t, v.srv), v.login, v.secret, filepath.Join(v.dir, "dev-cert.pem"))
	if err := os.WriteFile(v.conf, []byte(c), 0o600); err != nil {
		v.t.Fatal(err)
	}
}

func (v *vdirEnv) run(args ...string) (string, error) {
	cmd := exec.CommandContext(v.t.Context(), v.vdir, append([]string{"-c", v.conf}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+v.dir, "XDG_CONFIG_HOME="+v.dir, "XDG_DATA_HOME="+v.dir)
	cmd.Stdin = strings.NewReader(strings.Repeat("y\n", 10))
	out, err := cmd.CombinedOutput()
	v.t.Logf("vdirsyncer %v:\n%s", args, out)
	return string(out), err
}

func (v *vdirEnv) mustRun(args ...string) {
	v.t.Helper()
	if _, err := v.run(args...); err != nil {
		v.t.Fatalf("vdirsyncer %v: %v", args, err)
	}
}

// localCard is the local file of the card uid in the member's own book.
func (v *vdirEnv) localCard(uid string) string {
	v.t.Helper()
	files, _ := filepath.Glob(filepath.Join(v.local, "contacts", "*.vcf"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "UID:"+uid+"\r\n") || strings.Contains(string(b), "UID:"+uid+"\n") {
			return f
		}
	}
	return ""
}

func (v *vdirEnv) writeLocal(path, uid, fn string) {
	v.t.Helper()
	if err := os.WriteFile(path, []byte(vcfText(uid, fn)), 0o600); err != nil {
		v.t.Fatal(err)
	}
}

// server returns the names in the member's own book on the server, by UID.
func (v *vdirEnv) server() map[string]string {
	v.t.Helper()
	cs, err := v.store.Cards(v.t.Context(), v.member, "contacts")
	if err != nil {
		v.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		vc, err := contacts.Parse(c.Data)
		if err != nil {
			v.t.Fatal(err)
		}
		out[c.UID] = vc.PreferredValue(vcard.FieldFormattedName)
	}
	return out
}

// TestContactsVdirsyncer syncs contacts both ways with vdirsyncer, the
// Debian CardDAV client, against the --dev server: cards made on either
// side reach the other, a card edited on both sides is a conflict
// vdirsyncer reports (then resolves as configured), the party directory
// comes down, loses a suspended member and refuses a local edit, and
// khard reads what was synced.
func TestContactsVdirsyncer(t *testing.T) {
	vdir := testtool.Need(t, "vdirsyncer")
	khard := testtool.Need(t, "khard")
	t.Parallel()
	dir := t.TempDir()
	srv, _ := startDev(t, dir)
	defer srv.Shutdown(t.Context())
	aliceID, secret := enrolWithAppPassword(t, srv, "alice@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeCalendar)
	bobID, _ := enrolWithAppPassword(t, srv, "bob@localhost", "Motion-Quorum-7731-Seconded", auth.ScopeCalendar)
	v := newVdirEnv(t, vdir, srv, dir, aliceID, "alice@localhost", secret)
	v.put("a.vcf", "a", "Ada Server")
	v.put("b.vcf", "b", "Bea Server")
	v.writeConf("")
	v.mustRun("discover")
	v.mustRun("sync")
	if v.localCard("a") == "" || v.localCard("b") == "" {
		t.Fatalf("the server's cards did not come down")
	}

	// Edits on both sides, of different cards, and a new card each side.
	v.writeLocal(v.localCard("a"), "a", "Ada Laptop")
	v.writeLocal(filepath.Join(v.local, "contacts", "c.vcf"), "c", "Cleo Laptop")
	v.put("b.vcf", "b", "Bea Phone")
	v.put("d.vcf", "d", "Dan Phone")
	v.mustRun("sync")
	if got := v.server(); got["a"] != "Ada Laptop" || got["c"] != "Cleo Laptop" || got["b"] != "Bea Phone" || len(got) != 4 {
		t.Errorf("server after the two-way sync: %v", got)
	}
	if b, _ := os.ReadFile(v.localCard("b")); !strings.Contains(string(b), "Bea Phone") || v.localCard("d") == "" {
		t.Errorf("the phone's edits did not come down: %q", b)
	}

	// The same card edited on both sides: a conflict, nothing lost.
	v.writeLocal(v.localCard("a"), "a", "Ada Conflict Laptop")
	v.put("a.vcf", "a", "Ada Conflict Phone")
	if out, err := v.run("sync"); err == nil || !strings.Contains(out, "changed on both sides") {
		t.Fatalf("conflict not reported: %v", err)
	}
	if got := v.server(); got["a"] != "Ada Conflict Phone" {
		t.Errorf("the server's side of the conflict was overwritten: %v", got)
	}
	v.writeConf("b wins")
	v.mustRun("sync")
	if b, _ := os.ReadFile(v.localCard("a")); !strings.Contains(string(b), "Ada Conflict Phone") {
		t.Errorf("conflict resolved as b wins, local has %q", b)
	}
	checkKhard(t, khard, dir, v.local, "c@example.net\tCleo Laptop", "d@example.net\tDan Phone", "alice@localhost\t", "bob@localhost\t")
	checkSyncedDirectory(t, v, bobID)
}

// checkKhard has khard list the addresses of the synced books.
func checkKhard(t *testing.T, khard, dir, local string, want ...string) {
	t.Helper()
	kconf := filepath.Join(dir, "khard.conf")
	kc := fmt.Sprintf("[addressbooks]\n[[contacts]]\npath = %s/contacts/\n[[directory]]\npath = %s/directory/\n[general]\neditor = /bin/true\nmerge_editor = /bin/true\n", local, local)
	if err := os.WriteFile(kconf, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	kout, err := exec.CommandContext(t.Context(), khard, "-c", kconf, "email", "--parsable").CombinedOutput()
	t.Logf("khard email:\n%s", kout)
	if err != nil {
		t.Fatalf("khard: %v", err)
	}
	for _, w := range want {
		if !strings.Contains(string(kout), w) {
			t.Errorf("khard does not show %q", w)
		}
	}
}

// checkSyncedDirectory: the directory came down with both members; once
// bob is suspended he leaves it at the next sync; a local edit of it is
// refused by the server (403) and changes nothing there.
func checkSyncedDirectory(t *testing.T, v *vdirEnv, bobID int64) {
	t.Helper()
	dirFiles, _ := filepath.Glob(filepath.Join(v.local, "directory", "*.vcf"))
	if len(dirFiles) != 2 {
		t.Fatalf("directory has %d cards locally, want 2", len(dirFiles))
	}
	if err := v.srv.auth.SetState(t.Context(), "", bobID, auth.StateSuspended, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	v.mustRun("sync")
	dirFiles, _ = filepath.Glob(filepath.Join(v.local, "directory", "*.vcf"))
	if len(dirFiles) != 1 {
		t.Fatalf("directory has %d cards after bob's suspension, want 1", len(dirFiles))
	}
	b, err := os.ReadFile(dirFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "bob@localhost") {
		t.Errorf("suspended bob still in the synced directory")
	}
	if err := os.WriteFile(dirFiles[0], []byte(strings.Replace(string(b), "FN:Vol", "FN:Impostor", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := v.run("sync"); err == nil || !strings.Contains(out, "403") {
		t.Errorf("an edit of the directory was not refused: %v", err)
	}
	cs, err := v.store.Cards(t.Context(), v.member, "directory")
	if err != nil || len(cs) != 1 || strings.Contains(string(cs[0].Data), "Impostor") {
		t.Errorf("directory on the server after a refused edit: %v %v", cs, err)
	}
}
