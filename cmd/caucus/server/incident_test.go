package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/files"
	"github.com/caucus-org/caucus/internal/config"
	"github.com/caucus-org/caucus/mail/route"
)

// TestIncidentExtended: in the running server, with a backup configured,
// switching incident mode on takes a backup at once and brings every
// member the message the admins prepared, in their own language, into
// their INBOX: also a member whose mail is forwarded outside, since the
// freeze keeps it in. During incident mode a forward to the outside and a
// public link are refused; once it is lifted, both are allowed.
func TestIncidentExtended(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := config.Dev(dir)
	cfg.Listen = FreeListen(cfg.Listen)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Backup.Dest, cfg.Backup.Recipient, cfg.Backup.Time = t.TempDir(), id.Recipient().String(), "03:30"
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	ctx := t.Context()
	boss := admin.Actor{Login: "admin@localhost"}
	anna := enrolWebMember(t, srv, "anna@localhost", "Anna Rossi")
	bob := enrolWebMember(t, srv, "bob@localhost", "Bob Brown")
	if err := srv.auth.SetLanguage(ctx, anna.id, "it"); err != nil {
		t.Fatal(err)
	}
	waitInbox(t, srv, bob.id, 1) // the app password's notice, before the forward
	waitInbox(t, srv, anna.id, 1)
	if err := srv.dir.SetForwarding(ctx, boss.Login, bob.id, "bob.private@example.net", false); err != nil {
		t.Fatal(err)
	}
	for _, m := range [][3]string{{"en", "Security incident at the party", "Do not open unexpected attachments."}, {"it", "Incidente di sicurezza", "Non aprite allegati inattesi."}} {
		if err := srv.ops.SetIncidentMessage(ctx, boss, m[0], m[1], m[2]); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := srv.ops.Incident(ctx, boss, true)
	if err != nil {
		t.Fatalf("%v\n%s", err, rep.Text())
	}
	for _, s := range rep.Steps {
		if s.Name == "backup taken" && s.Outcome != admin.OutcomeOK {
			t.Errorf("the immediate backup: %s %s", s.Outcome, s.Err)
		}
	}
	for _, tc := range []struct {
		m          webMember
		subj, body string
	}{{anna, "Incidente di sicurezza", "Non aprite allegati inattesi."}, {bob, "Security incident at the party", "Do not open unexpected attachments."}} {
		raws := waitInbox(t, srv, tc.m.id, 2)
		pm, err := mail.ReadMessage(strings.NewReader(raws[len(raws)-1]))
		if err != nil {
			t.Fatal(err)
		}
		subj, _ := new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject"))
		if subj != tc.subj || !strings.Contains(raws[len(raws)-1], tc.body) {
			t.Errorf("%s's INBOX ends with %q, want the prepared message %q", tc.m.login, subj, tc.subj)
		}
	}
	if err := srv.dir.SetForwarding(ctx, boss.Login, anna.id, "anna.private@example.net", false); !errors.Is(err, route.ErrFrozen) {
		t.Errorf("an outside forward during incident mode: %v", err)
	}
	by := files.Actor{ID: anna.id, Login: anna.login}
	home, err := srv.files.Stat(ctx, by, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	n, err := srv.files.Put(ctx, by, home.ID, "minutes.txt", strings.NewReader("x"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.files.CreateLink(ctx, by, n.ID, files.LinkOptions{}); !errors.Is(err, files.ErrFrozen) {
		t.Errorf("a public link during incident mode: %v", err)
	}
	if _, err := srv.ops.Incident(ctx, boss, false); err != nil {
		t.Fatal(err)
	}
	if err := srv.dir.SetForwarding(ctx, boss.Login, anna.id, "anna.private@example.net", false); err != nil {
		t.Errorf("an outside forward after incident mode: %v", err)
	}
	if _, _, err := srv.files.CreateLink(ctx, by, n.ID, files.LinkOptions{}); err != nil {
		t.Errorf("a public link after incident mode: %v", err)
	}
}
