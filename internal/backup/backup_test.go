package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/emersion/go-imap/v2"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/backup"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/mail/store"
)

// node is a data directory in use: database, auth with its keys, the mail
// store, and a second blob directory standing in for the file store.
type node struct {
	dir   string
	db    *db.DB
	env   *authtest.Env
	mail  *store.Store
	files *blob.Dir
	blobs map[string]blob.Store // the stores by name, for [backup.Config.Blobs]
}

var components = []db.Component{audit.Component(), auth.Component(), store.Component(), backup.Component()}

func openNode(t testing.TB, dir string, clk *testtool.Clock) *node {
	t.Helper()
	sqliteOnly(t)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := db.Open(ctx, filepath.Join(dir, "caucus.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx, components...); err != nil {
		t.Fatal(err)
	}
	keys, err := auth.LoadKeys(filepath.Join(dir, "keys", "auth.key"))
	if err != nil {
		t.Fatal(err)
	}
	al := audit.New(d, clk.Now, log)
	svc, err := auth.New(auth.Config{RPID: "localhost", Origins: []string{"https://localhost"}}, auth.Deps{
		DB: d, Audit: al, Log: log, Now: clk.Now, Keys: keys,
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := blob.OpenDir(filepath.Join(dir, "blobs", "mail"))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := blob.OpenDir(filepath.Join(dir, "blobs", "files"))
	if err != nil {
		t.Fatal(err)
	}
	return &node{dir: dir, db: d, env: &authtest.Env{DB: d, Audit: al, Auth: svc, Clock: clk},
		mail: store.New(d, mb, log, store.Options{}), files: fb,
		blobs: map[string]blob.Store{"mail": mb, "files": fb}}
}

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func message(i int) string {
	return fmt.Sprintf("From: a%d@example.org\r\nTo: alice@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\nBody %d %s\r\n",
		i, i, i, i, strings.Repeat("x", i%200))
}

// snapshotMail returns body and flags of every message in acct's INBOX by UID.
func snapshotMail(t testing.TB, n *node, acct int64) map[imap.UID]string {
	t.Helper()
	ctx := t.Context()
	mb, err := n.mail.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	uids, err := n.mail.UIDs(ctx, mb.ID)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := n.mail.Messages(ctx, mb.ID, uids)
	if err != nil {
		t.Fatal(err)
	}
	out := map[imap.UID]string{}
	for _, m := range msgs {
		r, err := n.mail.OpenBody(m.Blob)
		if err != nil {
			t.Fatalf("message %d: %v", m.UID, err)
		}
		body, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[m.UID] = fmt.Sprintf("%v\n%s", m.Flags, body)
	}
	return out
}

// TestBackupRestore backs up while mail is being delivered, restores into
// a new data directory and checks the mail, the file blobs, the accounts
// and their factors there; then checks incremental backups, verify,
// pruning and LastSuccess.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	src := openNode(t, filepath.Join(t.TempDir(), "data"), clk)
	alice := src.env.User(t, "alice@example.org", auth.RoleMember)
	appPass := src.env.AppPassword(t, alice, "phone", auth.ScopeMail)
	acct := alice.Account.ID
	if err := src.mail.EnsureAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	fileRefs := fillNode(t, src, acct)
	before := snapshotMail(t, src, acct)
	dkimKey := []byte("-----BEGIN PRIVATE KEY-----\n…\n")
	if err := os.MkdirAll(filepath.Join(src.dir, "dkim"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src.dir, "dkim", "ed25519.pem"), dkimKey, 0o600); err != nil {
		t.Fatal(err)
	}

	id := newIdentity(t)
	dest := filepath.Join(t.TempDir(), "dest")
	svc, err := backup.New(src.db, backup.Config{DataDir: src.dir, Dest: dest, Recipients: []age.Recipient{id.Recipient()}, Keep: 1, Blobs: src.blobs},
		slog.New(slog.NewTextHandler(t.Output(), nil)), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if at, _, err := svc.LastSuccess(ctx); err != nil || !at.IsZero() {
		t.Fatalf("LastSuccess before any backup = %v, %v", at, err)
	}

	res := backupWhileDelivering(t, svc, src, acct)
	if at, size, err := svc.LastSuccess(ctx); err != nil || !at.Equal(clk.Now().Truncate(time.Second)) || size != res.Size {
		t.Errorf("LastSuccess = %v, %d, %v; want %v, %d", at, size, err, clk.Now(), res.Size)
	}

	ids := []age.Identity{id}
	if _, err := backup.Verify(ctx, dest, "", ids, t.TempDir()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	target := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.Restore(ctx, dest, "", ids, target); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	// The mail store's full-text index file is left out (a live SQLite
	// file copied as it is would be torn): it is rebuilt from caucus.db.
	if _, m, err := backup.ReadManifest(dest, "", ids); err != nil {
		t.Fatal(err)
	} else {
		for _, f := range m.Files {
			if strings.Contains(f.Path, "index") {
				t.Errorf("the backup holds %s", f.Path)
			}
		}
	}
	if _, err := backup.Restore(ctx, dest, "", ids, target); !errors.Is(err, backup.ErrNotEmpty) {
		t.Errorf("Restore into a non-empty directory: %v, want ErrNotEmpty", err)
	}

	dst := openNode(t, target, clk)
	checkRestored(t, src, dst, acct, before, fileRefs)
	// Search finds a message's body on the restored node (the index
	// rebuilt, or the waiting bodies checked).
	mb, err := dst.mail.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := dst.mail.Search(ctx, mb.ID, &imap.SearchCriteria{Body: []string{"Body 17 "}}); err != nil || len(got) != 1 {
		t.Errorf("body search after restore: %v, %v; want one message", got, err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "dkim", "ed25519.pem")); err != nil || !bytes.Equal(b, dkimKey) {
		t.Errorf("DKIM key after restore: %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(target, "keys", "auth.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("auth.key after restore: %v, %v", fi, err)
	}
	// Accounts and factors: the app password opens mail, password + TOTP
	// sign in.
	if _, err := dst.env.Auth.AppPassword(ctx, "alice@example.org", appPass, auth.ScopeMail, auth.Client{}); err != nil {
		t.Errorf("app password after restore: %v", err)
	}
	dst.env.SignIn(t, alice)

	checkIncremental(t, svc, src, acct, clk, res, dest, ids)
}

// fillNode delivers 40 messages to acct, flagging every third, and stores
// 20 file blobs, which it returns.
func fillNode(t *testing.T, src *node, acct int64) map[blob.Ref][]byte {
	ctx := t.Context()
	for i := range 40 {
		uids, err := src.mail.Deliver(ctx, []int64{acct}, strings.NewReader(message(i)))
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			mb, _ := src.mail.Mailbox(ctx, acct, "INBOX")
			if _, _, err := src.mail.StoreFlags(ctx, mb.ID, []imap.UID{uids[acct]}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, "$Important"}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	fileRefs := map[blob.Ref][]byte{}
	for range 20 {
		b := make([]byte, 10<<10)
		rand.Read(b)
		ref, _, err := src.files.Put(ctx, bytes.NewReader(b), 0)
		if err != nil {
			t.Fatal(err)
		}
		fileRefs[ref] = b
	}
	return fileRefs
}

// backupWhileDelivering makes a backup while mail is being delivered to
// acct.
func backupWhileDelivering(t *testing.T, svc *backup.Service, src *node, acct int64) backup.Result {
	ctx := t.Context()
	// Deliver while the backup runs.
	var wg sync.WaitGroup
	var delivered atomic.Int64
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 1000; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := src.mail.Deliver(ctx, []int64{acct}, strings.NewReader(message(i))); err != nil {
				t.Error(err)
				return
			}
			delivered.Add(1)
		}
	})
	res, err := svc.Backup(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first backup: %+v; %d messages delivered meanwhile", res, delivered.Load())

	return res
}

// checkRestored compares the restored node's mail and file blobs with the
// source's: everything from before the backup identical, anything
// delivered during it either absent or identical.
func checkRestored(t *testing.T, src, dst *node, acct int64, before map[imap.UID]string, fileRefs map[blob.Ref][]byte) {
	// Mail: everything from before the backup, identical; anything
	// delivered during it either absent or identical.
	after := snapshotMail(t, src, acct)
	got := snapshotMail(t, dst, acct)
	for uid, want := range before {
		if got[uid] != want {
			t.Errorf("message %d after restore:\n%q\nwant\n%q", uid, got[uid], want)
		}
	}
	for uid, g := range got {
		if after[uid] != g {
			t.Errorf("restored message %d not as in the source:\n%q", uid, g)
		}
	}
	for ref, want := range fileRefs {
		r, err := dst.files.Open(ref)
		if err != nil {
			t.Fatalf("file blob %s: %v", ref, err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(b, want) {
			t.Errorf("file blob %s differs", ref)
		}
	}
}

// checkIncremental makes a second backup after five more messages and
// checks that it holds only what is new, prunes the first, and that
// Verify detects a wrong identity and a corrupted object.
func checkIncremental(t *testing.T, svc *backup.Service, src *node, acct int64, clk *testtool.Clock, res backup.Result, dest string, ids []age.Identity) {
	ctx := t.Context()
	// A second backup writes only the new bodies (those
	// delivered during the first backup after it walked the blobs, and five
	// more) and the database.
	for i := range 5 {
		if _, err := src.mail.Deliver(ctx, []int64{acct}, strings.NewReader(message(5000+i))); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	res2, err := svc.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("second backup: %+v", res2)
	if res2.Files < res.Files+5 || res2.New != res2.Files-res.Files+1 {
		t.Errorf("second backup %+v is not incremental after %+v", res2, res)
	}
	removed, err := backup.Prune(dest, 1)
	if err != nil {
		t.Fatal(err)
	}
	if snaps, _ := backup.Snapshots(dest); len(snaps) != 1 || snaps[0] != res2.ID || removed != 1 {
		t.Errorf("after Prune(1): snapshots %v, %d objects removed; want [%s], 1 (the old database)", snaps, removed, res2.ID)
	}
	if _, err := backup.Verify(ctx, dest, "", ids, t.TempDir()); err != nil {
		t.Fatalf("Verify after prune: %v", err)
	}

	// A wrong identity and a corrupted object are detected.
	if _, err := backup.Verify(ctx, dest, "", []age.Identity{newIdentity(t)}, t.TempDir()); !errors.Is(err, backup.ErrIdentity) {
		t.Errorf("Verify with a wrong identity: %v, want ErrIdentity", err)
	}
	_, m, err := backup.ReadManifest(dest, "", ids)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(m.Files, func(f backup.File) bool { return strings.HasPrefix(f.Path, "blobs/files/") })
	obj := filepath.Join(dest, "objects", m.Files[i].Object[:2], m.Files[i].Object+".age")
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-20] ^= 1
	os.Chmod(obj, 0o600)
	if err := os.WriteFile(obj, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Verify(ctx, dest, "", ids, t.TempDir()); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("Verify with a corrupted blob: %v, want ErrCorrupt", err)
	}
}

// TestBackupIncomplete checks that a backup that fails part way is not
// listed, and that nothing is recorded for it.
func TestBackupIncomplete(t *testing.T) {
	t.Parallel()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	src := openNode(t, filepath.Join(t.TempDir(), "data"), clk)
	for range 3 {
		if _, _, err := src.files.Put(t.Context(), strings.NewReader(rand.Text()), 0); err != nil {
			t.Fatal(err)
		}
	}
	dest := filepath.Join(t.TempDir(), "dest")
	svc, err := backup.New(src.db, backup.Config{DataDir: src.dir, Dest: dest, Recipients: []age.Recipient{newIdentity(t).Recipient()}}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	// A blob that is not what its name says (a damaged disk) stops the
	// backup after it has written objects.
	bad := filepath.Join(src.dir, "blobs", "files", "00", "00", strings.Repeat("0", 64))
	if err := os.MkdirAll(filepath.Dir(bad), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not this"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Backup(t.Context()); !errors.Is(err, backup.ErrChanged) {
		t.Fatalf("Backup with a damaged blob: %v, want ErrChanged", err)
	}
	if snaps, err := backup.Snapshots(dest); err != nil || len(snaps) != 0 {
		t.Errorf("snapshots after a failed backup: %v, %v", snaps, err)
	}
	if _, err := backup.Restore(t.Context(), t.TempDir(), "", nil, filepath.Join(t.TempDir(), "x")); !errors.Is(err, backup.ErrNoBackup) {
		t.Errorf("Restore from a directory that holds no backup: %v, want ErrNoBackup", err)
	}
	if _, err := backup.Verify(t.Context(), dest, "", nil, t.TempDir()); !errors.Is(err, backup.ErrNoBackup) {
		t.Errorf("Verify of an incomplete backup: %v, want ErrNoBackup", err)
	}
	if at, _, err := svc.LastSuccess(t.Context()); err != nil || !at.IsZero() {
		t.Errorf("LastSuccess after a failed backup: %v, %v", at, err)
	}
	// The hold was released: a blob collector may delete again.
	var held bool
	err = src.db.Tx(t.Context(), func(tx *sql.Tx) (err error) { held, err = db.BlobsHeld(t.Context(), tx); return err })
	if err != nil || held {
		t.Errorf("blobs still held after the backup ended: %v, %v", held, err)
	}
}

func TestDestInsideDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := backup.New(nil, backup.Config{DataDir: dir, Dest: filepath.Join(dir, "backups", "x"), Recipients: []age.Recipient{newIdentity(t).Recipient()}}, nil, nil)
	if err == nil {
		t.Error("New accepted a destination inside the data directory")
	}
}

func TestBeforeMigrate(t *testing.T) {
	sqliteOnly(t)
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	d, err := db.Open(ctx, filepath.Join(dir, "caucus.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v1 := db.Component{Name: "x", Migrations: []db.Migration{{Version: 1, SQL: `CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('one')`}}}
	if p, err := backup.BeforeMigrate(ctx, d, dir, time.Now(), v1); err != nil || p != "" {
		t.Fatalf("BeforeMigrate on a new database = %q, %v; want nothing", p, err)
	}
	if err := d.Migrate(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if p, err := backup.BeforeMigrate(ctx, d, dir, time.Now(), v1); err != nil || p != "" {
		t.Fatalf("BeforeMigrate with nothing pending = %q, %v; want nothing", p, err)
	}
	v2 := v1
	v2.Migrations = append(slices.Clip(v1.Migrations), db.Migration{Version: 2, SQL: `DROP TABLE t`})
	now := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	p, err := backup.BeforeMigrate(ctx, d, dir, now, v2)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "backups", "caucus-x1-20261124T180000Z.db"); p != want {
		t.Errorf("snapshot at %s, want %s", p, want)
	}
	if err := d.Migrate(ctx, v2); err != nil {
		t.Fatal(err)
	}
	s, err := db.Open(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var v string
	if err := s.QueryRowContext(ctx, `SELECT v FROM t`).Scan(&v); err != nil || v != "one" {
		t.Errorf("snapshot: %q, %v; want the table as before the migration", v, err)
	}
}

// TestBackupBusy checks that a second backup (or a prune) into the same
// destination is refused while one runs.
func TestBackupBusy(t *testing.T) {
	t.Parallel()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	src := openNode(t, filepath.Join(t.TempDir(), "data"), clk)
	dest := t.TempDir()
	f, err := os.OpenFile(filepath.Join(dest, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	svc, err := backup.New(src.db, backup.Config{DataDir: src.dir, Dest: dest, Recipients: []age.Recipient{newIdentity(t).Recipient()}}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Backup(t.Context()); !errors.Is(err, backup.ErrBusy) {
		t.Errorf("Backup while another runs: %v, want ErrBusy", err)
	}
	if _, err := backup.Prune(dest, 1); !errors.Is(err, backup.ErrBusy) {
		t.Errorf("Prune while a backup runs: %v, want ErrBusy", err)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if _, err := svc.Backup(t.Context()); err != nil {
		t.Errorf("Backup after the other ended: %v", err)
	}
}

// TestRunCatchesUp: a server started after its backup time, with no backup
// since, makes one shortly after start; one with today's backup does not.
func TestRunCatchesUp(t *testing.T) {
	t.Parallel()
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	src := openNode(t, filepath.Join(t.TempDir(), "data"), clk)
	svc, err := backup.New(src.db, backup.Config{DataDir: src.dir, Dest: filepath.Join(t.TempDir(), "dest"), Recipients: []age.Recipient{newIdentity(t).Recipient()}}, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	backup.SetCatchUp(svc, 10*time.Millisecond)
	// run runs the schedule (next slot 03:30, 17.5 hours away) until done
	// says to stop, checking every 10 ms.
	run := func(done func() bool) {
		ctx, cancel := context.WithCancel(t.Context())
		ended := make(chan struct{})
		go func() { svc.Run(ctx, 3*time.Hour+30*time.Minute); close(ended) }()
		for !done() {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-ended
	}
	last := func() time.Time {
		at, _, err := svc.LastSuccess(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	deadline := time.Now().Add(20 * time.Second)
	run(func() bool { return !last().IsZero() || time.Now().After(deadline) })
	first := last()
	if first.IsZero() {
		t.Fatal("no catch-up backup within 20 s of start")
	}

	clk.Advance(time.Hour)
	deadline = time.Now().Add(300 * time.Millisecond) // 30 times the catch-up delay
	run(func() bool { return time.Now().After(deadline) })
	if again := last(); !again.Equal(first) {
		t.Errorf("a second backup on the same day: at %v (first %v)", again, first)
	}
}
