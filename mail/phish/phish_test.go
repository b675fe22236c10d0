package phish

import (
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/authtest"
	"github.com/caucus-org/caucus/internal/audit"
	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/mail/store"
)

type testEnv struct {
	auth  *authtest.Env
	store *store.Store
	svc   *Service
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	a := authtest.New(t, auth.Config{}, store.Component(), Component())
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{auth: a, store: store.New(a.DB, blobs, log, store.Options{Now: a.Clock.Now})}
	e.svc = New(Options{DB: a.DB, Mail: e.store, Audit: a.Audit, Log: log, Now: a.Clock.Now})
	return e
}

const phishMsg = "From: \"Leader\" <Leader@Evil.example>\r\nTo: all@party.example\r\nSubject: urgent\r\nMessage-ID: <p1@evil.example>\r\n\r\nsend me the list\r\n"

// TestReportsToRemoval: three members report one message; the admin sees
// one case with three reporters and where the message is, removes it
// from every mailbox with one action, and the sender is blocked, with
// the audit log saying so.
func TestReportsToRemoval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	var accts []int64
	for i := range 4 {
		id := int64(i + 1)
		if err := e.store.EnsureAccount(ctx, id); err != nil {
			t.Fatal(err)
		}
		accts = append(accts, id)
	}
	if _, err := e.store.Deliver(ctx, accts, strings.NewReader(phishMsg)); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"anna@party.example", "bo@party.example", "anna@party.example", "cy@party.example"} {
		r := Report{Reporter: who, MessageID: "<p1@evil.example>", Sender: "Leader@Evil.example", SenderName: "Leader", Subject: "urgent"}
		if err := e.svc.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	cases, err := e.svc.Open(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 1 || !slices.Equal(cases[0].Reporters, []string{"anna@party.example", "bo@party.example", "cy@party.example"}) ||
		cases[0].Sender != "leader@evil.example" || !cases[0].Actionable() || cases[0].Blocked {
		t.Fatalf("cases = %+v", cases)
	}
	where, err := e.svc.Where(ctx, cases[0])
	if err != nil || len(where) != 4 {
		t.Fatalf("Where = %v, %v; want 4 copies", where, err)
	}
	out, err := e.svc.RemoveEverywhere(ctx, "admin@party.example", "192.0.2.1", cases[0].ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Removed) != 4 || out.Accounts != 4 || out.Blocked != "leader@evil.example" {
		t.Errorf("outcome %+v", out)
	}
	if left, _ := e.svc.Where(ctx, cases[0]); len(left) != 0 {
		t.Errorf("still in %d mailboxes", len(left))
	}
	if open, _ := e.svc.Open(ctx, 50); len(open) != 0 {
		t.Errorf("case still open: %+v", open)
	}
	if _, err := e.svc.RemoveEverywhere(ctx, "admin@party.example", "", cases[0].ID, false); !errors.Is(err, ErrNoReport) {
		t.Errorf("second removal: %v, want ErrNoReport", err)
	}
	entry, blocked, err := e.svc.Blocked(ctx, "", "LEADER@evil.example")
	if err != nil || !blocked || entry != "leader@evil.example" {
		t.Errorf("Blocked = %q %v %v", entry, blocked, err)
	}
	recs, err := e.auth.Audit.List(ctx, audit.Filter{Kind: "phish."})
	if err != nil || len(recs) != 1 || recs[0].Actor != "admin@party.example" || !strings.Contains(recs[0].Detail, "copies=4 accounts=4") {
		t.Errorf("audit %+v %v", recs, err)
	}
}

func TestBlockList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	for _, bad := range []string{"", "@", "@nodot", "a b@c.example", "<x@y.example>", "@a@b.example"} {
		if err := e.svc.AddBlock(ctx, "admin", "", bad, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddBlock(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := e.svc.AddBlock(ctx, "admin", "", "@Spam.example", "spam"); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"x@spam.example": true, "X@SPAM.EXAMPLE": true, "x@notspam.example": false, "x@sub.spam.example": false, "": false, "spam.example": false} {
		if _, got, err := e.svc.Blocked(ctx, addr); err != nil || got != want {
			t.Errorf("Blocked(%q) = %v, %v; want %v", addr, got, err, want)
		}
	}
	if err := e.svc.RemoveBlock(ctx, "admin", "", "@spam.example"); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := e.svc.Blocked(ctx, "x@spam.example"); got {
		t.Error("still blocked after RemoveBlock")
	}
	recs, _ := e.auth.Audit.List(ctx, audit.Filter{Kind: "phish."})
	if len(recs) != 2 {
		t.Errorf("audit: %d records, want block and unblock", len(recs))
	}
}

// TestReportWithoutIDs: a report of a message with no Message-ID is kept
// and shown, but cannot be removed everywhere (nothing names its copies).
func TestReportWithoutIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if err := e.svc.Record(ctx, Report{Reporter: "anna@party.example", Sender: "x@evil.example", Subject: strings.Repeat("é", 1000)}); err != nil {
		t.Fatal(err)
	}
	cases, err := e.svc.Open(ctx, 10)
	if err != nil || len(cases) != 1 || cases[0].Actionable() || len(cases[0].Subject) > maxField {
		t.Fatalf("cases %+v %v", cases, err)
	}
	if _, err := e.svc.RemoveEverywhere(ctx, "admin", "", cases[0].ID, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("RemoveEverywhere = %v, want ErrInvalid", err)
	}
	if err := e.svc.Dismiss(ctx, "admin", "", cases[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Record(ctx, Report{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a report without reporter: %v", err)
	}
}
