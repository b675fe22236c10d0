package mailimport

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/internal/devcert"
	"github.com/caucus-org/caucus/internal/testtool/dovecottest"
)

// maildirFixture is a Maildir++ tree with n messages in nested folders,
// with flags and keywords, and what caucus should hold after importing
// it.
type maildirFixture struct {
	root string
	want []stored
	cert string // the server's certificate file, when served by Dovecot
}

// fixtureFolders are the fixture's folders: Maildir++ directory (""
// for INBOX), the destination in caucus, the share of messages.
var fixtureFolders = []struct{ dir, dest string }{
	{"", "INBOX"},
	{".Sent", "Sent"},
	{".Drafts", "Drafts"},
	{".Lists", "Lists"},
	{".Lists.Go", "Lists/Go"},
	{".Lists.Go.Announce", "Lists/Go/Announce"},
	{".Entw&APw-rfe", "Entwürfe"},
	{".Wahl 2026.Plakate", "Wahl 2026/Plakate"},
	{".Leer", "Leer"}, // empty: n is a multiple of 8 below, so it gets no message
}

// newMaildirFixture writes n messages of about size bytes into root.
// Flags letters cycle through S, R, F, D, T and the keywords a and b
// (dovecot-keywords: $Label1, Wichtig); the file times are the internal
// dates.
func newMaildirFixture(t testing.TB, root string, n, size int) *maildirFixture {
	t.Helper()
	fx := &maildirFixture{root: root}
	flagSets := []struct{ letters, want string }{
		{"S", `\seen`}, {"RS", `\answered \seen`}, {"FS", `\flagged \seen`}, {"", ""},
		{"DS", `\draft \seen`}, {"ST", `\deleted \seen`}, {"Sa", `$label1 \seen`}, {"Sab", `$label1 \seen wichtig`},
	}
	base := time.Date(2025, 1, 1, 8, 0, 0, 0, time.UTC)
	for _, f := range fixtureFolders {
		dir := filepath.Join(root, f.dir)
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte("0 $Label1\n1 Wichtig\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		f := fixtureFolders[i%(len(fixtureFolders)-1)]
		fs := flagSets[(i/len(fixtureFolders))%len(flagSets)]
		msg := testMessage(i, size, "")
		name := fmt.Sprintf("%d.M%dP1.fixture,S=%d:2,%s", 1700000000+i, i, len(msg), fs.letters)
		path := filepath.Join(root, f.dir, "cur", name)
		if err := os.WriteFile(path, msg, 0o644); err != nil {
			t.Fatal(err)
		}
		date := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(path, date, date); err != nil {
			t.Fatal(err)
		}
		fx.want = append(fx.want, stored{Folder: f.dest, Hash: hashOf(msg), Flags: fs.want, Date: date.Unix()})
	}
	slices.SortFunc(fx.want, func(a, b stored) int { return strings.Compare(a.Folder+a.Hash+a.Flags, b.Folder+b.Hash+b.Flags) })
	return fx
}

// compare reports the first differences between got and want.
func compare(t *testing.T, got, want []stored) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d messages, want %d (by folder: got %v, want %v)", len(got), len(want), byFolder(got), byFolder(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("message %d: got %+v, want %+v", i, got[i], want[i])
			if bad++; bad == 5 {
				return
			}
		}
	}
}

// TestMaildir imports a Maildir++ tree directly.
func TestMaildir(t *testing.T) {
	t.Parallel()
	fx := newMaildirFixture(t, t.TempDir(), 200, 2000)
	e := newEnv(t)
	e.start()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{Kind: KindMaildir, Paths: []string{fx.root}}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateDone || rep.Failed != 0 {
		t.Fatalf("report: %+v", rep)
	}
	compare(t, e.contents(1), fx.want)
	if _, err := e.store.Mailbox(context.Background(), 1, "Leer"); err != nil {
		t.Errorf("the empty folder was not created: %v", err)
	}
}

// TestDovecot seeds a private Dovecot with 2,000 messages in nested
// folders with flags and keywords, imports them over IMAP with TLS, and
// compares caucus's copy message for message: body hash, flags,
// internal date, folder.
func TestDovecot(t *testing.T) {
	t.Parallel()
	addr, tc, fx := startDovecot(t, 2000, 3000)
	e := newEnv(t, func(o *Options) { o.TLS = tc })
	e.start()
	id, err := e.im.Start(context.Background(), Request{AccountID: 1, Actor: "admin", Source: SourceSpec{
		Kind: KindIMAP, Addr: addr, Security: TLSImplicit, Login: "member@dovecot.test", Password: "pw-dovecot-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	rep := e.waitEnd(id)
	if rep.Job.State != StateDone || rep.Failed != 0 || rep.Copied != 2000 {
		t.Fatalf("report: state %s (%s), %d copied, %d failed", rep.Job.State, rep.Job.Message, rep.Copied, rep.Failed)
	}
	compare(t, e.contents(1), fx.want)
	if strings.Contains(e.logs.String(), "pw-dovecot-secret") {
		t.Error("the source password is in the log")
	}
}

// startDovecot starts a Dovecot of its own (internal/testtool/dovecottest:
// implicit TLS on 127.0.0.1 with caucus's development certificate) with
// one account whose Maildir holds a fixture of n messages.
func startDovecot(t testing.TB, n, size int) (addr string, tc *tls.Config, fx *maildirFixture) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, err := devcert.Ensure(certFile, keyFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const login = "member@dovecot.test"
	srv := dovecottest.Start(t, dovecottest.Options{
		Users:    map[string]string{login: "pw-dovecot-secret"},
		CertFile: certFile, KeyFile: keyFile,
		Populate: func(s *dovecottest.Server) error {
			fx = newMaildirFixture(t, s.Maildir(login), n, size)
			return nil
		},
	})
	fx.cert = certFile
	return srv.Addr, &tls.Config{RootCAs: devcert.Pool(cert), ServerName: "localhost"}, fx
}
