package offboard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/mail/route"
	"github.com/caucus-org/caucus/mail/store"
)

type testEnv struct {
	auth       *authtest.Env
	store      *store.Store
	dir        *route.Directory
	svc        *Service
	exports    string
	alice, bob *authtest.User
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	a := authtest.New(t, auth.Config{}, store.Component(), route.Component(), Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{auth: a, exports: filepath.Join(t.TempDir(), "exports")}
	e.store = store.New(a.DB, blobs, log, store.Options{Now: a.Clock.Now})
	e.dir = route.New(a.DB, a.Auth, []string{"example-party.org"}, a.Clock.Now)
	e.svc = New(Config{ExportDir: e.exports, Now: a.Clock.Now}, Deps{DB: a.DB, Store: e.store, Auth: a.Auth, Dir: e.dir, Log: log})
	e.alice = a.User(t, "alice@example-party.org", auth.RoleMember)
	e.bob = a.User(t, "bob@example-party.org", auth.RoleMember)
	return e
}

func (e *testEnv) deliver(t *testing.T, acct int64, subject string) {
	t.Helper()
	msg := "From: carol@elsewhere.example\r\nTo: alice@example-party.org\r\nSubject: " + subject + "\r\n\r\nFrom the start\r\n"
	if _, err := e.store.Deliver(t.Context(), []int64{acct}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) offboard(t *testing.T, u *authtest.User) {
	t.Helper()
	if err := e.auth.Auth.SetState(t.Context(), "admin", u.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) kinds(t *testing.T, subject string) []string {
	t.Helper()
	recs, err := e.auth.Audit.List(t.Context(), audit.Filter{Account: subject, Kind: "mail."})
	if err != nil {
		t.Fatal(err)
	}
	var out []string // oldest first
	for i := len(recs) - 1; i >= 0; i-- {
		out = append(out, recs[i].Kind+"/"+recs[i].Outcome)
	}
	return out
}

// TestRetentionLifecycle: the departed mailbox is kept, copied for the
// successor, exported and deleted when its time comes, with the copy.
func TestRetentionLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.alice.Account.ID, e.bob.Account.ID
	e.deliver(t, alice, "one")
	e.deliver(t, alice, "two")
	if err := e.store.CreateMailbox(ctx, alice, "Campaign/2026"); err != nil {
		t.Fatal(err)
	}
	mb, _ := e.store.Mailbox(ctx, alice, "INBOX")
	uids, _ := e.store.UIDs(ctx, mb.ID)
	if _, _, _, err := e.store.Copy(ctx, mb.ID, uids, alice, "Campaign/2026"); err != nil {
		t.Fatal(err)
	}

	if err := e.svc.Retain(ctx, "admin", alice, time.Time{}, true); !errors.Is(err, ErrNotOffboarded) {
		t.Fatalf("retention of a working account: %v", err)
	}
	e.offboard(t, e.alice)
	if err := e.svc.Retain(ctx, "admin", alice, time.Time{}, true); err != nil {
		t.Fatal(err)
	}
	ret, ok, err := e.svc.Retention(ctx, alice)
	if err != nil || !ok || !ret.Until.Equal(e.auth.Clock.Now().Add(DefaultRetention).Truncate(time.Second)) || !ret.Export {
		t.Fatalf("Retention = %+v, %v, %v", ret, ok, err)
	}
	if _, _, err := e.svc.GrantSuccessor(ctx, "admin", alice, alice); !errors.Is(err, ErrBadSuccessor) {
		t.Errorf("the account as its own successor: %v", err)
	}
	folder, n, err := e.svc.GrantSuccessor(ctx, "admin", alice, bob)
	if err != nil || n != 4 || folder != "Offboarded/alice@example-party.org" {
		t.Fatalf("GrantSuccessor = %q, %d, %v", folder, n, err)
	}
	copyInbox, err := e.store.Mailbox(ctx, bob, folder+"/INBOX")
	if err != nil || copyInbox.Messages != 2 || !copyInbox.Subscribed {
		t.Errorf("bob's copy of INBOX: %+v, %v", copyInbox, err)
	}
	if c, err := e.store.Mailbox(ctx, bob, folder+"/Campaign/2026"); err != nil || c.Messages != 2 {
		t.Errorf("bob's copy of Campaign/2026: %+v, %v", c, err)
	}
	// Granting again replaces the copy instead of doubling it.
	if _, n, err := e.svc.GrantSuccessor(ctx, "admin", alice, bob); err != nil || n != 4 {
		t.Errorf("second grant: %d, %v", n, err)
	}
	if c, _ := e.store.Mailbox(ctx, bob, folder+"/INBOX"); c.Messages != 2 {
		t.Errorf("after a second grant bob's copy has %d messages", c.Messages)
	}

	// Nothing happens before the date.
	e.auth.Clock.Advance(DefaultRetention - time.Hour)
	if n, err := e.svc.ExpireDue(ctx); n != 0 || err != nil {
		t.Fatalf("ExpireDue before the date = %d, %v", n, err)
	}
	e.auth.Clock.Advance(2 * time.Hour)
	if n, err := e.svc.ExpireDue(ctx); n != 1 || err != nil {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	if mbs, _ := e.store.Mailboxes(ctx, alice); len(mbs) != 0 {
		t.Errorf("alice still has %d mailboxes", len(mbs))
	}
	if _, err := e.store.Mailbox(ctx, bob, folder); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("bob's copy after the retention: %v", err)
	}
	if _, err := e.store.Mailbox(ctx, bob, "INBOX"); err != nil {
		t.Errorf("bob's own INBOX: %v", err)
	}
	if _, ok, _ := e.svc.Retention(ctx, alice); ok {
		t.Error("retention still listed")
	}
	files, err := filepath.Glob(filepath.Join(e.exports, "alice@example-party.org-*.mbox"))
	if err != nil || len(files) != 1 {
		t.Fatalf("exports: %v, %v", files, err)
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export mode: %v, %v", fi.Mode(), err)
	}
	mbox, _ := os.ReadFile(files[0])
	if c := strings.Count(string(mbox), "\nFrom the start"); c != 0 {
		t.Errorf("a body line starting with From was not quoted: %d", c)
	}
	if c := strings.Count(string(mbox), "X-Caucus-Mailbox: "); c != 4 {
		t.Errorf("export holds %d messages, want 4", c)
	}
	if got := strings.Join(e.kinds(t, "alice@example-party.org"), " "); got != "mail.retention/ok mail.successor/ok mail.successor/ok mail.retention.end/ok mail.autoreply/ok" &&
		got != "mail.retention/ok mail.successor/ok mail.successor/ok mail.autoreply/ok mail.retention.end/ok" {
		t.Errorf("audit: %s", got)
	}

	// The admin lists the export and downloads it; the download is audited.
	os.WriteFile(filepath.Join(e.exports, ".export-123"), []byte("half"), 0o600) // one being written
	list, err := e.svc.Exports()
	if err != nil || len(list) != 1 || list[0].Name != filepath.Base(files[0]) || list[0].Size != int64(len(mbox)) {
		t.Fatalf("Exports: %+v, %v", list, err)
	}
	f, ex, err := e.svc.OpenExport(ctx, "admin@example-party.org", list[0].Name)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, mbox) || ex.Size != int64(len(mbox)) {
		t.Errorf("OpenExport read %d bytes (%d stated), want %d", len(got), ex.Size, len(mbox))
	}
	if kinds := e.kinds(t, "alice@example-party.org"); kinds[len(kinds)-1] != "mail.export.download/ok" {
		t.Errorf("download not audited: %v", kinds)
	}
	os.WriteFile(filepath.Join(filepath.Dir(e.exports), "secret.mbox"), []byte("x"), 0o600)
	for _, name := range []string{"", ".mbox", ".export-123", "../secret.mbox", "sub/x.mbox", "missing.mbox", filepath.Join(e.exports, list[0].Name)} {
		if f, _, err := e.svc.OpenExport(ctx, "admin@example-party.org", name); !errors.Is(err, ErrNoExport) {
			if f != nil {
				f.Close()
			}
			t.Errorf("OpenExport(%q): %v, want ErrNoExport", name, err)
		}
	}
}

// TestSuccessorOverQuota: a successor without room gets no partial copy.
func TestSuccessorOverQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.alice.Account.ID, e.bob.Account.ID
	for _, s := range []string{"one", "two", "three"} {
		e.deliver(t, alice, s)
	}
	used, _, _ := e.store.Usage(ctx, alice)
	if err := e.store.SetQuota(ctx, bob, used/2); err != nil {
		t.Fatal(err)
	}
	e.offboard(t, e.alice)
	if _, _, err := e.svc.GrantSuccessor(ctx, "admin", alice, bob); !errors.Is(err, ErrNotOffboarded) {
		t.Errorf("grant without retention: %v", err)
	}
	if err := e.svc.Retain(ctx, "admin", alice, e.auth.Clock.Now().Add(time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.GrantSuccessor(ctx, "admin", alice, bob); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("grant over quota: %v", err)
	}
	if _, err := e.store.Mailbox(ctx, bob, FolderRoot+"/alice@example-party.org"); !errors.Is(err, store.ErrNoMailbox) {
		t.Errorf("partial copy left: %v", err)
	}
	if got := e.kinds(t, "alice@example-party.org"); len(got) != 2 || got[1] != "mail.successor/fail" {
		t.Errorf("audit: %v", got)
	}
}

// TestAutoReplyEndsWithRetention: while the mailbox is kept, the address
// with an auto-reply still takes mail; afterwards it refuses it.
func TestAutoReplyEndsWithRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice := e.alice.Account.ID
	e.offboard(t, e.alice)
	if err := e.svc.AutoReply(ctx, "admin", alice, "", "Alice has left.", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Retain(ctx, "admin", alice, e.auth.Clock.Now().Add(24*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if tg, err := e.dir.Resolve(ctx, "alice@example-party.org"); err != nil || len(tg.Accounts) != 1 {
		t.Fatalf("during retention: %+v, %v", tg, err)
	}
	e.auth.Clock.Advance(25 * time.Hour)
	if n, err := e.svc.ExpireDue(ctx); n != 1 || err != nil {
		t.Fatalf("ExpireDue = %d, %v", n, err)
	}
	if _, err := e.dir.Resolve(ctx, "alice@example-party.org"); !errors.Is(err, route.ErrUnknown) {
		t.Errorf("after retention: %v, want ErrUnknown", err)
	}
	// Forwarding outlives the mailbox.
	if err := e.svc.Forward(ctx, "admin", alice, "bob@example-party.org"); err != nil {
		t.Fatal(err)
	}
	if tg, err := e.dir.Resolve(ctx, "alice@example-party.org"); err != nil || len(tg.Accounts) != 1 || tg.Accounts[0] != e.bob.Account.ID {
		t.Errorf("forwarded: %+v, %v", tg, err)
	}
}

func TestFolderName(t *testing.T) {
	t.Parallel()
	for login, want := range map[string]string{
		"alice@example-party.org": "alice@example-party.org",
		"a/b*c%d@x.org":           "a_b_c_d@x.org",
		"INBOX":                   "account-7",
		"":                        "account-7",
	} {
		if got := folderName(login, 7); got != want {
			t.Errorf("folderName(%q) = %q, want %q", login, got, want)
		}
	}
}

// TestCopyInBatches: a mailbox larger than one copy batch arrives whole.
func TestCopyInBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	alice, bob := e.alice.Account.ID, e.bob.Account.ID
	e.svc.batch = 2
	n := 2*e.svc.batch + 1
	for i := range n {
		e.deliver(t, alice, fmt.Sprintf("message %d", i))
	}
	e.offboard(t, e.alice)
	if err := e.svc.Retain(ctx, "admin", alice, time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	folder, copied, err := e.svc.GrantSuccessor(ctx, "admin", alice, bob)
	if err != nil || copied != n {
		t.Fatalf("GrantSuccessor = %d, %v; want %d", copied, err, n)
	}
	mb, err := e.store.Mailbox(ctx, bob, folder+"/INBOX")
	if err != nil || int(mb.Messages) != n {
		t.Errorf("copy: %+v, %v", mb, err)
	}
}
