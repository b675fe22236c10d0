package files_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/password"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/db"
	"github.com/caucus-org/caucus/internal/testtool"
	"github.com/caucus-org/caucus/internal/testtool/dbtest"
)

// node is one caucus node's file store on a database handle of its own
// (on PostgreSQL, a node of a cluster; on SQLite, a second process on the
// same file), sharing the blob directory as nodes share an object store:
// the first node owns it, the others attach to it.
func node(t *testing.T, d *db.DB, blobDir string, owner bool, clk *testtool.Clock) (*files.Store, *auth.Service) {
	t.Helper()
	material := make([]byte, 64)
	rand.Read(material)
	keys, err := auth.NewKeys(material)
	if err != nil {
		t.Fatal(err)
	}
	al := audit.New(d, clk.Now, nil)
	svc, err := auth.New(auth.Config{RPID: "localhost", Origins: []string{"https://localhost"}}, auth.Deps{
		DB: d, Audit: al, Now: clk.Now, Keys: keys,
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	open := blob.AttachDir
	if owner {
		open = blob.OpenDir
	}
	bs, err := open(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	return files.New(d, bs, files.Options{Now: clk.Now}, files.Deps{Auth: svc, Audit: al}), svc
}

// twoNodes returns two nodes' stores on one database and blob directory,
// and a member.
func twoNodes(t *testing.T) (a, b *files.Store, alice files.Actor) {
	t.Helper()
	ctx := t.Context()
	d := dbtest.Create(t)
	da, dbB := d.Open(t), d.Open(t)
	if err := da.Migrate(ctx, audit.Component(), auth.Component(), files.Component()); err != nil {
		t.Fatal(err)
	}
	clk := testtool.NewClock(time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC))
	dir := filepath.Join(t.TempDir(), "blobs")
	a, svc := node(t, da, dir, true, clk)
	b, _ = node(t, dbB, dir, false, clk)
	if _, err := svc.CreateInvite(ctx, "", auth.NewAccount{Login: "alice@example.org", DisplayName: "Alice", Role: auth.RoleMember}, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	acct, err := svc.AccountByLogin(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	return a, b, files.Actor{ID: acct.ID, Login: acct.Login}
}

// meetReader holds its first Read until every reader of its group has
// come to its first Read: each upload has then passed the quota check
// made before its content is read.
type meetReader struct {
	r    io.Reader
	once sync.Once
	all  *sync.WaitGroup
}

func (m *meetReader) Read(p []byte) (int, error) {
	m.once.Do(func() { m.all.Done(); m.all.Wait() })
	return m.r.Read(p)
}

// TestQuotaTwoNodes: two uploads into one member's home through two
// nodes at once (two database handles), each within the quota alone but
// over it together: one is refused, and the stored total never exceeds
// the quota, round after round. The quota is checked again in the transaction that commits
// the upload, which holds the database's one write lock (on PostgreSQL
// the cluster-wide advisory lock, see db.Tx), so the second commit sees
// the first.
func TestQuotaTwoNodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, alice := twoNodes(t)
	// Rounds of 64 KiB, 32 KiB … : contents in blob files (over
	// DefaultInlineBytes), then in the database.
	const quota = 128 << 10
	if err := a.SetQuota(ctx, "admin@example.org", alice.ID, quota); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		home, err := a.Stat(ctx, alice, "/Home")
		if err != nil {
			t.Fatal(err)
		}
		used, _, err := a.Usage(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Each fits in what is left; both do not.
		size := (quota-used)/2 + 1
		var all sync.WaitGroup
		all.Add(2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range []*files.Store{a, b} {
			wg.Go(func() {
				content := strings.Repeat(string(rune('a'+2*round+i)), int(size))
				_, errs[i] = s.Put(ctx, alice, home.ID, string(rune('a'+i))+".txt", &meetReader{r: strings.NewReader(content), all: &all}, size)
			})
		}
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, files.ErrQuota):
				refused++
			case err != nil:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if refused != 1 {
			t.Errorf("round %d: %d of two uploads of %d bytes refused with %d of %d bytes free, want one: %v", round, refused, size, quota-used, quota, errs)
		}
		for _, s := range []*files.Store{a, b} {
			if used, _, err := s.Usage(ctx, alice.ID); err != nil || used > quota {
				t.Fatalf("round %d: %d bytes stored (%v), over the quota of %d", round, used, err, quota)
			}
		}
		if used == quota || size <= 1 {
			break
		}
	}
}

// TestBlobDropTwoNodes: a content's last file is purged from the trash
// on one node while the same content is uploaded as a new file on
// another, round after round. The purge deletes the content's blob when
// nothing refers to it any more; it must never delete it under the new
// file, whose commit refers to it: every upload that succeeds reads back
// whole through either node.
func TestBlobDropTwoNodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b, alice := twoNodes(t)
	home, err := a.Stat(ctx, alice, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		// Over DefaultInlineBytes: a blob file.
		content := bytes.Repeat([]byte(fmt.Sprintf("round %d. ", round)), 4<<10)
		old, err := a.Put(ctx, alice, home.ID, fmt.Sprintf("old%d.txt", round), bytes.NewReader(content), int64(len(content)))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Delete(ctx, alice, old.ID); err != nil {
			t.Fatal(err)
		}
		var all sync.WaitGroup
		all.Add(2)
		var putErr, purgeErr error
		var n files.Node
		var wg sync.WaitGroup
		wg.Go(func() {
			n, putErr = b.Put(ctx, alice, home.ID, fmt.Sprintf("new%d.txt", round), &meetReader{r: bytes.NewReader(content), all: &all}, int64(len(content)))
		})
		wg.Go(func() {
			all.Done()
			all.Wait()
			purgeErr = a.Purge(ctx, alice, old.ID)
		})
		wg.Wait()
		if purgeErr != nil {
			t.Fatalf("round %d: purge: %v", round, purgeErr)
		}
		if putErr != nil {
			// Refused because the content vanished under it: the
			// client tries again; nothing refers to a missing blob.
			t.Logf("round %d: put: %v", round, putErr)
			continue
		}
		for i, s := range []*files.Store{a, b} {
			f, _, err := s.Open(ctx, alice, n.ID)
			if err != nil {
				t.Fatalf("round %d: node %d: open the new file: %v", round, i, err)
			}
			got, err := io.ReadAll(f)
			f.Close()
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("round %d: node %d: the new file reads %d of %d bytes: %v", round, i, len(got), len(content), err)
			}
		}
	}
}
