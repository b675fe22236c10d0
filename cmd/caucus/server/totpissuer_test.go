package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/caucus-org/caucus/auth"
	"github.com/caucus-org/caucus/internal/config"
)

// TestTOTPIssuerIsParty: an authenticator app lists the account under the
// party's name, not "caucus" (the issuer of RFC 6238 keys, in the
// otpauth:// link and QR code of the enrolment page).
func TestTOTPIssuerIsParty(t *testing.T) {
	t.Parallel()
	cfg := config.Dev(t.TempDir())
	cfg.Listen = FreeListen(cfg.Listen)
	cfg.Party.Name = "Partito Esempio"
	var out bytes.Buffer
	srv, err := start(t.Context(), cfg, Deps{Dev: true, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	ctx := t.Context()
	tok, err := srv.auth.CreateInvite(ctx, "", auth.NewAccount{Login: "anna@localhost", DisplayName: "Anna", Role: auth.RoleMember}, auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	enrol, err := srv.auth.AcceptInvite(ctx, tok, "Motion-Quorum-7731-Seconded", auth.Client{})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := srv.auth.Session(ctx, enrol)
	if err != nil {
		t.Fatal(err)
	}
	key, err := srv.auth.BeginTOTP(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if key.Issuer() != "Partito Esempio" {
		t.Errorf("TOTP issuer %q, want the party's name", key.Issuer())
	}
	u, err := url.Parse(key.URL())
	if err != nil || u.Query().Get("issuer") != "Partito Esempio" {
		t.Errorf("otpauth link %q (%v) does not name the party", key.URL(), err)
	}
}
