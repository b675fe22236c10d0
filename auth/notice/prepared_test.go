package notice_test

import (
	"strings"
	"testing"

	"github.com/caucus-org/caucus/admin"
	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/auth/notice"
	"github.com/caucus-org/caucus/internal/ui"
)

// TestIncidentPreparedMessage: when incident mode goes on, every active
// member gets the message the admins prepared in advance, in their
// language if it was written in it (else the party's), followed by the
// standard instructions; a departed member gets nothing.
func TestIncidentPreparedMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	if err := e.DB.Migrate(ctx, admin.Component()); err != nil {
		t.Fatal(err)
	}
	ops := admin.NewOps(admin.OpsDeps{Auth: e.Auth, DB: e.DB, Audit: e.Audit, Now: e.Clock.Now, Language: "it"})
	n, err := notice.New(ctx, notice.Config{From: "postmaster@example.org", BaseURL: "https://mail.example.org", Party: ui.Party{Name: "Partito Esempio", Language: "it"}},
		notice.Deps{DB: e.DB, Audit: e.Audit, Accounts: e.Auth, Mailer: e.box, Prepared: ops, Now: e.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.n = n
	boss := e.User(t, "admin@example.org", auth.RoleAdmin)
	actor := admin.Actor{Login: boss.Account.Login, AccountID: boss.Account.ID}
	for _, m := range [][3]string{
		{"it", "Incidente di sicurezza", "Abbiamo scoperto un accesso sospetto. Non aprite allegati inattesi."},
		{"de", "Sicherheitsvorfall", "Wir haben einen verdächtigen Zugriff entdeckt. Öffne keine unerwarteten Anhänge."},
	} {
		if err := ops.SetIncidentMessage(ctx, actor, m[0], m[1], m[2]); err != nil {
			t.Fatal(err)
		}
	}
	members := map[string]string{"anna@example.org": "it", "bernd@example.org": "de", "chloe@example.org": "fr", "dan@example.org": ""}
	for login, lang := range members {
		u := e.User(t, login, auth.RoleMember)
		if lang != "" {
			if err := e.Auth.SetLanguage(ctx, u.Account.ID, lang); err != nil {
				t.Fatal(err)
			}
		}
	}
	gone := e.User(t, "gina@example.org", auth.RoleMember)
	if err := e.Auth.SetState(ctx, actor.Login, gone.Account.ID, auth.StateOffboarded, auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Incident(ctx, actor, true); err != nil {
		t.Logf("incident mode on: %v", err) // the files step is skipped here
	}
	e.step(t)
	want := map[string]string{"it": "Incidente di sicurezza", "de": "Sicherheitsvorfall"}
	for login, lang := range members {
		got := e.to(t, login)
		if len(got) != 1 {
			t.Errorf("%s got %d mails at the switch, want 1", login, len(got))
			continue
		}
		wantLang := lang
		if want[lang] == "" {
			wantLang = "it" // the party's language
		}
		m := got[0]
		checkHeaders(t, m, wantLang)
		if m.subj != want[wantLang] {
			t.Errorf("%s (%s): subject %q, want %q\n%s", login, lang, m.subj, want[wantLang], m.body)
		}
		if !strings.Contains(m.body, "https://mail.example.org/login") {
			t.Errorf("%s: the prepared message lost the standard instructions:\n%s", login, m.body)
		}
	}
	if got := e.to(t, "bernd@example.org"); len(got) == 1 && !strings.Contains(got[0].body, "verdächtigen Zugriff") {
		t.Errorf("bernd got:\n%s", got[0].body)
	}
	if got := e.to(t, "anna@example.org"); len(got) == 1 && !strings.Contains(got[0].body, "accesso sospetto") {
		t.Errorf("anna got:\n%s", got[0].body)
	}
	if got := e.to(t, gone.Account.Login); len(got) != 0 {
		t.Errorf("a departed member got %d mails", len(got))
	}
}
