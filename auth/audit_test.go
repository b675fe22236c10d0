package auth

import (
	"bytes"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/caucus-org/caucus/internal/audit"
)

// syncBuffer is a bytes.Buffer safe for the log handler's writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAuditTrail runs the flows of a member's life and checks the audit log:
// every step recorded, the chain intact, and no secret in a record or a log line.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	var logBuf syncBuffer
	s, clk := newTestService(t, withLog(&logBuf))
	const login = "tam@example.org"
	secrets, codes := auditTrailActions(t, s, clk, login)
	recs := checkAuditTrail(t, s, login)
	checkNoSecrets(t, recs, logBuf.String(), secrets, codes)
}

// auditTrailActions walks login through every audited action: invite,
// enrolment, sign-ins good and bad, an app password, recovery codes,
// revocation and offboarding. It returns the secrets used and the TOTP
// codes (matched as whole words), none of which may reach a record or a
// log line.
func auditTrailActions(t *testing.T, s *Service, clk *fakeClock, login string) (secrets, codes []string) {
	ctx := t.Context()

	inviteTok, err := s.CreateInvite(ctx, testAdmin, NewAccount{Login: login, DisplayName: "Tam", Role: RoleMember}, cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, inviteTok)
	if _, err := s.AcceptInvite(ctx, inviteTok, "password1234", cl); err == nil {
		t.Fatal("weak password accepted")
	}
	secrets = append(secrets, "password1234")
	enrol, err := s.AcceptInvite(ctx, inviteTok, testPassword, cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, testPassword, enrol)
	sess := mustSession(t, s, enrol)
	key, err := s.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, key.Secret())
	m := &member{ID: sess.Account.ID, Login: login, Password: testPassword, Secret: key.Secret()}
	code := m.code(t, clk)
	codes = append(codes, code)
	full, err := s.FinishTOTP(ctx, mustSession(t, s, enrol), code, cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, full)

	// A failed and a good web sign-in.
	if _, _, err := s.PasswordSignIn(ctx, login, "wrong-horse-battery", cl); err == nil {
		t.Fatal("wrong password accepted")
	}
	secrets = append(secrets, "wrong-horse-battery")
	tok, _, err := s.PasswordSignIn(ctx, login, testPassword, cl)
	if err != nil {
		t.Fatal(err)
	}
	code = m.code(t, clk)
	codes = append(codes, code, wrongCode(code))
	if _, err := s.VerifyTOTP(ctx, mustSession(t, s, tok), wrongCode(code), cl); err == nil {
		t.Fatal("wrong code accepted")
	}
	full, err = s.VerifyTOTP(ctx, mustSession(t, s, tok), code, cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok, full)

	// App password: made, used, used wrongly.
	app, info, err := s.CreateAppPassword(ctx, mustSession(t, s, full), "Tam's phone", ScopeMail, cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, app, normalizeAppPassword(app))
	if _, err := s.AppPassword(ctx, login, app, ScopeMail, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppPassword(ctx, login, app, ScopeFiles, cl); err == nil {
		t.Fatal("wrong scope accepted")
	}

	// Recovery codes: made, one used.
	rc, err := s.NewRecoveryCodes(ctx, mustSession(t, s, full), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc {
		n, _ := normalizeRecoveryCode(c)
		secrets = append(secrets, c, n)
	}
	tok, _, err = s.PasswordSignIn(ctx, login, testPassword, cl)
	if err != nil {
		t.Fatal(err)
	}
	rfull, err := s.VerifyRecoveryCode(ctx, mustSession(t, s, tok), strings.ToUpper(rc[3]), cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok, rfull, strings.ToUpper(rc[3]))

	if err := s.RevokeAppPassword(ctx, login, m.ID, info.ID, cl); err != nil {
		t.Fatal(err)
	}
	if err := s.SignOut(ctx, rfull, cl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, testAdmin, m.ID, cl); err != nil {
		t.Fatal(err)
	}
	if err := s.SetState(ctx, testAdmin, m.ID, StateOffboarded, cl); err != nil {
		t.Fatal(err)
	}

	return secrets, codes
}

// checkAuditTrail checks that the chain verifies and that every action
// left its record, about login, from the test client's address.
func checkAuditTrail(t *testing.T, s *Service, login string) []audit.Record {
	ctx := t.Context()
	recs, err := s.Audit().List(ctx, audit.Filter{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Audit().Verify(ctx)
	if err != nil || n != len(recs) {
		t.Errorf("audit Verify = %d, %v; want %d, nil", n, err, len(recs))
	}
	type kindOutcome struct{ kind, outcome string }
	got := map[kindOutcome]int{}
	for _, r := range recs {
		got[kindOutcome{r.Kind, r.Outcome}]++
		if r.Subject != login && r.Kind != "invite.accept" {
			t.Errorf("record %d (%s) has subject %q", r.ID, r.Kind, r.Subject)
		}
		if r.Addr != "" && r.Addr != cl.Addr.String() {
			t.Errorf("record %d (%s) has addr %q", r.ID, r.Kind, r.Addr)
		}
	}
	for _, want := range []kindOutcome{
		{"invite.create", audit.OK},
		{"invite.accept", audit.OK},
		{"factor.add", audit.OK},
		{"enrol.complete", audit.OK},
		{"login.password", audit.OK},
		{"login.password", audit.Fail},
		{"login.totp", audit.OK},
		{"login.totp", audit.Fail},
		{"apppassword.create", audit.OK},
		{"login.apppassword", audit.Fail},
		{"recovery.generate", audit.OK},
		{"login.recovery", audit.OK},
		{"apppassword.revoke", audit.OK},
		{"session.signout", audit.OK},
		{"revoke", audit.OK},
		{"account.state", audit.OK},
	} {
		if got[want] == 0 {
			t.Errorf("no %s record with outcome %s; have %v", want.kind, want.outcome, got)
		}
	}
	// The two revocations of the offboarding and the explicit one.
	if got[kindOutcome{"revoke", audit.OK}] != 2 {
		t.Errorf("%d revoke records, want 2", got[kindOutcome{"revoke", audit.OK}])
	}

	return recs
}

// checkNoSecrets checks that neither the records nor the log hold a
// secret or a TOTP code.
func checkNoSecrets(t *testing.T, recs []audit.Record, log string, secrets, codes []string) {
	var sb strings.Builder
	for _, r := range recs {
		for _, f := range []string{r.Actor, r.Subject, r.Kind, r.Outcome, r.Reason, r.Detail, r.Addr, r.UserAgent} {
			sb.WriteString(f)
			sb.WriteByte('\n')
		}
	}
	for where, text := range map[string]string{"audit records": sb.String(), "log": log} {
		if !strings.Contains(text, "login.totp") {
			t.Errorf("%s look empty:\n%s", where, text)
		}
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				t.Errorf("%s contain the secret %q", where, sec)
			}
		}
		for _, c := range codes {
			if regexp.MustCompile(`\b` + c + `\b`).MatchString(text) {
				t.Errorf("%s contain the TOTP code %q", where, c)
			}
		}
	}
}
